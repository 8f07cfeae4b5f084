"""What a subscriber or a visitor gets besides atom.xml/rss.xml: feed.json, index.html,
sources.opml, the feed stylesheet, article pages that link home, and ``output.formats``.
Every file comes from a real ``feedsvc refresh`` and is parsed back."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin

import lxml.html
from lxml import etree

from conftest import write_config
from feedcheck import check_atom, check_json, check_rss, parse_xml, relaxng_errors, stylesheet_href
from helpers_feedsvc import ATOM, cli, published
from helpers_subscribers import make_site, refresh

SITE = "http://127.0.0.1:8080/"
ALL = {"atom.xml", "rss.xml", "feed.json", "feed.xsl", "index.html", "sources.opml"}


def top_files(pub: Path) -> set[str]:
    return {p.name for p in pub.iterdir() if p.is_file()}


def test_default_outputs_are_all_written_and_clean(tmp_path, feed_server):
    make_site(tmp_path, feed_server)
    r = refresh(tmp_path)
    pub = tmp_path / "public"
    assert top_files(pub) == ALL
    assert "atom.xml, rss.xml, feed.json" in r.stdout
    assert relaxng_errors((pub / "atom.xml").read_bytes()) == []
    assert check_atom((pub / "atom.xml").read_bytes(), SITE + "atom.xml") == []
    assert check_rss((pub / "rss.xml").read_bytes(), SITE + "rss.xml") == []
    assert check_json((pub / "feed.json").read_bytes(), SITE + "feed.json") == []
    # a second round with nothing new rewrites nothing, the new files included
    before = {n: (pub / n).stat().st_mtime_ns for n in ALL}
    assert "nothing changed" in refresh(tmp_path).stdout
    assert {n: (pub / n).stat().st_mtime_ns for n in ALL} == before


def test_json_feed_has_the_same_items_as_atom(tmp_path, feed_server):
    make_site(tmp_path, feed_server)
    refresh(tmp_path)
    pub = tmp_path / "public"
    out = published(pub)
    feed = json.loads((pub / "feed.json").read_text(encoding="utf-8"))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == SITE + "feed.json" and feed["home_page_url"] == SITE
    assert feed["title"] == "Harbour Planet" and feed["language"] == "en"
    atom = out.atom.entries
    items = feed["items"]
    assert [i["id"] for i in items] == [e.id for e in atom]
    assert [i["title"] for i in items] == [e.title for e in atom]
    assert [i.get("url") for i in items] == [e.get("link") for e in atom]
    assert [[a["name"] for a in i["authors"]] for i in items] == [[a.name for a in e.authors] for e in atom]
    for i, e in zip(items, atom):
        assert datetime.fromisoformat(i["date_published"]) == datetime.fromisoformat(e.published)
        assert datetime.fromisoformat(i["date_modified"]) == datetime.fromisoformat(e.updated)
    tides = next(i for i in items if i["title"] == "Tides & times")
    assert tides["tags"] == ["coast"] and tides["authors"] == [{"name": "Ines Ortega"}]
    council = next(i for i in items if i["title"].startswith("Council meeting"))
    assert council["attachments"] == [{"url": "https://townhall.example.org/media/council-2026-11-24.mp3",
                                       "mime_type": "audio/mpeg", "size_in_bytes": 1843200}]
    ferry = next(i for i in items if i["title"].startswith("Ferry"))
    # relative URLs resolved against the feed's own URL, as in Atom and RSS
    assert f'href="{feed_server.url("/ferries")}"' in ferry["content_html"]
    assert ferry["content_html"] == out.atom_entry(ferry["title"]).findtext(f"{{{ATOM}}}content")
    # and feedsvc's own reader (feedparser 6 has no JSON Feed support) reads the same entries back
    from feedsvc.parsing.document import parse_feed
    back = parse_feed("x", (pub / "feed.json").read_bytes(), SITE + "feed.json",
                      {"content-type": "application/feed+json"})
    assert back.warning is None and back.title == "Harbour Planet"
    assert [(e.guid, e.title, e.link) for e in back.entries] == [(e.id, e.title, e.get("link")) for e in atom]


class _Page:
    def __init__(self, path: Path) -> None:
        self.raw = path.read_text(encoding="utf-8")
        self.doc = lxml.html.fromstring(self.raw)

    def all(self, xpath: str) -> list:
        return self.doc.xpath(xpath)


def test_index_html_is_a_readable_accessible_page_of_the_newest_items(tmp_path, feed_server):
    make_site(tmp_path, feed_server)
    refresh(tmp_path)
    pub = tmp_path / "public"
    page = _Page(pub / "index.html")
    assert page.raw.startswith("<!DOCTYPE html>")
    assert page.doc.get("lang") == "en"
    assert page.all("//meta[@name='viewport']")
    assert [h.text_content() for h in page.all("//h1")] == ["Harbour Planet"]
    assert page.all("//header") and page.all("//main") and page.all("//footer") and page.all("//nav[@aria-label]")
    # autodiscovery for each format, absolute and typed
    alts = {(l.get("type"), l.get("href")) for l in page.all("//head/link[@rel='alternate']")}
    assert alts == {("application/atom+xml", SITE + "atom.xml"), ("application/rss+xml", SITE + "rss.xml"),
                    ("application/feed+json", SITE + "feed.json")}
    assert page.all("//a[@href='sources.opml']")
    # no JavaScript, nothing loaded from elsewhere (styles are inline, there are no images)
    assert not page.all("//script") and not page.all("//*[@onclick or @onload]")
    assert not page.all("//link[@rel='stylesheet']") and not page.all("//*[@src]")
    assert "@import" not in page.raw and "url(" not in page.raw
    # the newest items, newest first, each with title, link, source, author, date and summary
    atom = published(pub).atom.entries
    arts = page.all("//main//article")
    assert [a.xpath("string(.//h3)") for a in arts] == [e.title for e in atom]
    first = arts[[a.xpath("string(.//h3)") for a in arts].index("Tides & times")]
    assert first.xpath(".//h3/a/@href") == ["https://news.example/tides"]
    meta = first.xpath("string(.//p[@class='meta'])")
    assert "Harbour News" in meta and "Ines Ortega" in meta and "20 May 2024" in meta
    assert first.xpath(".//time/@datetime") == ["2024-05-20T08:00:00+00:00"]
    assert first.xpath("string(.//p[@class='summary'])") == "High tide at 08:14."
    ferry = arts[[a.xpath("string(.//h3)") for a in arts].index("Ferry timetable, winter edition")]
    assert "<img" not in lxml.html.tostring(ferry, encoding="unicode")  # summaries are text only


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)] if len(hex_colour) == 7 else \
          [int(c * 2, 16) / 255 for c in hex_colour[1:]]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_index_colours_meet_wcag_aa_contrast_in_light_and_dark(tmp_path, feed_server):
    make_site(tmp_path, feed_server)
    refresh(tmp_path)
    css = (tmp_path / "public" / "index.html").read_text(encoding="utf-8")
    schemes = re.findall(r":root\{color-scheme:light dark;([^}]*)\}|:root\{(--fg[^}]*)\}", css)
    palettes = [dict(re.findall(r"--(\w+):(#[0-9a-fA-F]{3,6})", a or b)) for a, b in schemes]
    assert len(palettes) == 2                                  # light and dark
    for pal in palettes:
        for fg in ("fg", "muted", "link", "visited"):
            assert contrast(pal[fg], pal["bg"]) >= 4.5, (fg, pal)


def test_article_pages_link_back_to_the_index(tmp_path, feed_server):
    make_site(tmp_path, feed_server)
    refresh(tmp_path)
    pub = tmp_path / "public"
    pages = sorted((pub / "articles").rglob("*.html"))
    assert len(pages) == 3
    for p in pages:
        doc = lxml.html.fromstring(p.read_bytes())
        rel = p.relative_to(pub).as_posix()
        homes = {urljoin(SITE + rel, h) for h in doc.xpath("//a/@href") if h.endswith("index.html")}
        assert homes == {SITE + "index.html"}, rel
        assert (pub / "index.html").exists()
        assert not doc.xpath("//script")


def test_sources_opml_lists_every_source(tmp_path, feed_server):
    make_site(tmp_path, feed_server)
    refresh(tmp_path)
    pub = tmp_path / "public"
    opml = parse_xml((pub / "sources.opml").read_bytes())
    assert opml.tag == "opml" and opml.get("version") == "2.0"
    assert opml.findtext("head/title") == "Sources of Harbour Planet"
    outlines = opml.findall("body/outline")
    by_title = {o.get("text"): dict(o.attrib) for o in outlines}
    assert len(outlines) == 3
    assert by_title["Harbour News"] == {"type": "rss", "text": "Harbour News", "title": "Harbour News",
                                        "xmlUrl": feed_server.url("/news.xml"), "htmlUrl": "https://news.example/"}
    # a local source and a file: feed have no public feed of their own: links to their home pages
    assert by_title["Our articles"] == {"type": "link", "text": "Our articles", "title": "Our articles",
                                        "url": SITE}
    assert by_title["Town Hall Notes"]["url"] == "https://townhall.example.org/"
    assert "xmlUrl" not in by_title["Town Hall Notes"]
    assert b"file:" not in (pub / "sources.opml").read_bytes()


def test_feeds_carry_a_stylesheet_that_renders_a_readable_page(tmp_path, feed_server):
    make_site(tmp_path, feed_server)
    refresh(tmp_path)
    pub = tmp_path / "public"
    xslt = etree.XSLT(etree.parse(str(pub / "feed.xsl")))
    out = published(pub)                                    # feedparser: not bozo, still atom10/rss20
    for name, self_url in (("atom.xml", SITE + "atom.xml"), ("rss.xml", SITE + "rss.xml")):
        data = (pub / name).read_bytes()
        assert stylesheet_href(data) == "feed.xsl"
        assert data.index(b"<?xml-stylesheet") < data.index(b"<feed" if name == "atom.xml" else b"<rss")
        html = str(xslt(etree.parse(str(pub / name))))
        doc = lxml.html.fromstring(html)
        text = doc.text_content()
        assert "This is a web feed" in text and "subscribe" in text.lower() and self_url in text
        assert doc.xpath("string(//h1)") == "Harbour Planet"
        assert [a.text_content() for a in doc.xpath("//li//h2/a")] == out.titles()
        assert doc.xpath("//li//h2/a/@href") == [e.link for e in out.atom.entries]
        assert not doc.xpath("//script")


def test_output_formats_choose_the_feeds_and_drop_the_others(tmp_path, feed_server):
    make_site(tmp_path, feed_server)
    refresh(tmp_path)
    pub = tmp_path / "public"
    assert top_files(pub) == ALL
    cfg = tmp_path / "config.yaml"
    cfg.write_text(cfg.read_text().replace("max_items: 50", "max_items: 50\n  formats: [json]"))
    r = refresh(tmp_path)
    assert top_files(pub) == {"feed.json", "index.html", "sources.opml"}   # no stale feed lingers
    assert "atom.xml" in r.stdout                                             # reported as changed
    alts = lxml.html.fromstring((pub / "index.html").read_bytes()).xpath("//head/link[@rel='alternate']/@type")
    assert alts == ["application/feed+json"]
    page = next((pub / "articles").rglob("*.html")).read_text(encoding="utf-8")
    assert "atom.xml" not in page and "feed.json" in page
    cfg.write_text(cfg.read_text().replace("formats: [json]", "formats: [rss, atom]"))
    refresh(tmp_path)
    assert top_files(pub) == {"atom.xml", "rss.xml", "feed.xsl", "index.html", "sources.opml"}


def test_output_and_site_settings_are_validated(tmp_path):
    write_config(tmp_path, [{"name": "a", "path": "a"}], output={"formats": ["atom", "html"]})
    r = cli("check", cwd=tmp_path)
    assert r.returncode == 2 and "output.formats[1]" in r.stderr and "'html'" in r.stderr
    write_config(tmp_path, [{"name": "a", "path": "a"}], output={"formats": []})
    r = cli("check", cwd=tmp_path)
    assert r.returncode == 2 and "output.formats" in r.stderr
    write_config(tmp_path, [{"name": "a", "path": "a"}], site={"websub_hub": "hub.example/x"})
    r = cli("check", cwd=tmp_path)
    assert r.returncode == 2 and "site.websub_hub" in r.stderr
    for r in [cli("check", cwd=tmp_path)]:
        assert "Traceback" not in r.stderr


def test_published_ids_never_change(tmp_path, feed_server):
    make_site(tmp_path, feed_server)
    refresh(tmp_path)
    pub = tmp_path / "public"

    def ids() -> dict[str, list[str]]:
        out = published(pub)
        return {"atom": [e.findtext(f"{{{ATOM}}}id") for e in out.atom_entries],
                "rss": [i.findtext("guid") for i in out.rss_items],
                "json": [i["id"] for i in json.loads((pub / "feed.json").read_bytes())["items"]]}

    first = ids()
    assert first["atom"] == first["rss"] == first["json"]
    # the remote feed changes: a title edited, an item added; a re-publish from the store
    changed = [dict(i) for i in __import__("helpers_subscribers").REMOTE]
    changed[0]["title"] = "Tides and times (corrected)"
    changed.append({"title": "New", "link": "https://news.example/new", "guid": "new-1",
                    "date": "Tue, 21 May 2024 08:00:00 +0000"})
    from helpers_subscribers import remote_feed
    feed_server.add("/news.xml", remote_feed(changed), content_type="application/rss+xml")
    refresh(tmp_path)
    assert cli("publish", cwd=tmp_path).returncode == 0
    second = ids()
    for fmt in ("atom", "rss", "json"):
        assert [i for i in second[fmt] if i in first[fmt]] == first[fmt]         # all kept, same ids
        assert len(second[fmt]) == len(first[fmt]) + 1
    assert "https://news.example/tides" in second["atom"]
