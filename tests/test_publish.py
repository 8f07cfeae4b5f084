"""Rendering Atom and RSS (pure) and writing them (atomic, only when changed). Every output is
parsed back, with feedparser as a reader would and with lxml for the exact elements."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.config import Site
from feedsvc.items.normalise import SourceContext, normalise
from feedsvc.model import Enclosure, Origin, Person, StoredItem
from feedsvc.output.render.common import SourceInfo
from feedsvc.output.render.feeds import render_atom, render_atom_and_rss, render_rss
from feedsvc.output.render.html import render_page
from feedsvc.output.write import write_all, write_if_changed

from helpers_feedsvc import ATOM, CONTENT, DC, T0, ctx, from_bytes, item, parse_xml, raw_entry, stored

SITE = Site(title="Test Planet", url="http://127.0.0.1:8080/", id="tag:planet.example,2024:feed",
            description="All of it", author="The Editors", language="en")
SOURCES = {"src": SourceInfo(name="src", title="Example feed", url="https://example.org/feed.xml",
                             home="https://example.org/")}


def render(items: list[StoredItem], sources=SOURCES):
    return from_bytes(render_atom(SITE, items, sources), render_rss(SITE, items, sources))


def a(el, tag):
    return el.find(f"{{{ATOM}}}{tag}")


# ---- feed level ------------------------------------------------------------------------------

def test_feed_metadata_and_self_links():
    out = render([stored(item(guid="tag:e.org,2024:1", published=T0))])
    root = out.atom_xml
    assert root.findtext(f"{{{ATOM}}}id") == SITE.id
    assert root.findtext(f"{{{ATOM}}}title") == "Test Planet"
    links = {l.get("rel"): l.get("href") for l in root.findall(f"{{{ATOM}}}link")}
    assert links == {"self": "http://127.0.0.1:8080/atom.xml", "alternate": "http://127.0.0.1:8080/"}
    ch = out.rss_xml.find("channel")
    assert ch.findtext("title") == "Test Planet" and ch.findtext("description") == "All of it"
    assert ch.findtext("link") == "http://127.0.0.1:8080/"
    assert ch.find(f"{{{ATOM}}}link[@rel='self']").get("href") == "http://127.0.0.1:8080/rss.xml"
    assert out.atom.feed.language == "en" or ch.findtext("language") == "en"


def test_feed_updated_is_the_newest_item_date_not_the_time_of_the_run():
    items = [stored(item(guid=f"tag:e.org,2020:{i}", published=datetime(2020, 3, i + 1, 8, tzinfo=timezone.utc)))
             for i in range(3)]
    out = render(items)
    assert out.atom_xml.findtext(f"{{{ATOM}}}updated") == "2020-03-03T08:00:00+00:00"
    assert out.rss_xml.findtext("channel/lastBuildDate") == "Tue, 03 Mar 2020 08:00:00 +0000"
    # an item updated later than any publication date moves the feed's updated
    upd = stored(item(guid="tag:e.org,2020:9", published=datetime(2020, 1, 1, tzinfo=timezone.utc)),
                 updated=datetime(2020, 6, 1, tzinfo=timezone.utc))
    assert render(items + [upd]).atom_xml.findtext(f"{{{ATOM}}}updated") == "2020-06-01T00:00:00+00:00"


def test_rendering_is_deterministic():
    items = [stored(item(guid=f"g{i}", published=T0 - timedelta(hours=i), content=f"<p>{i}</p>"))
             for i in range(5)]
    assert render_atom(SITE, items, SOURCES) == render_atom(SITE, list(items), SOURCES)
    assert render_rss(SITE, items, SOURCES) == render_rss(SITE, list(items), SOURCES)


def test_atom_and_rss_rendered_together_are_the_files_rendered_apart():
    # publishing builds one FeedGenerator for both formats and swaps the self link in between:
    # each file must be exactly what rendering it alone gives, self link, hub and stylesheet too
    site = replace(SITE, websub_hub="http://127.0.0.1:9/hub")
    items = [stored(item(guid=f"tag:e.org,2024:{i}", title=f"T & {i}", published=T0 - timedelta(hours=i),
                         content=f"<p>{i}</p>")) for i in range(4)]
    for prefix, xsl in (("", "feed.xsl"), ("town/", "../feed.xsl")):
        atom, rss = render_atom_and_rss(site, items, SOURCES, xsl, prefix=prefix)
        assert atom == render_atom(site, items, SOURCES, xsl, prefix=prefix)
        assert rss == render_rss(site, items, SOURCES, xsl, prefix=prefix)
        out = from_bytes(atom, rss)
        assert out.rss_xml.find(f"channel/{{{ATOM}}}link[@rel='self']").get("href") == f"{site.url}{prefix}rss.xml"
        assert a(out.atom_xml, "link").get("href") == f"{site.url}{prefix}atom.xml"


def test_same_items_same_order_in_atom_and_rss():
    items = [stored(item(guid=f"tag:e.org,2024:{c}", title=f"T{c}", published=T0 - timedelta(days=d)))
             for c, d in [("z", 0), ("a", 1), ("b", 1), ("m", 2)]]
    out = render(items)
    want = ["Tz", "Ta", "Tb", "Tm"]
    assert out.titles() == want and out.rss_titles() == want
    assert [e.id for e in out.atom.entries] == [e.id for e in out.rss.entries]


# ---- entries ---------------------------------------------------------------------------------

def test_entry_fields_in_both_formats():
    it = item(guid="https://example.org/p/1", guid_is_permalink=True, link="https://example.org/p/1",
              title="Hello & welcome", published=T0 - timedelta(days=1), updated=T0,
              authors=(Person("Ann", email="ann@example.org"),), categories=("news", "tech"),
              summary="<p>Short</p>", content="<p>Full <b>content</b></p>")
    out = render([stored(it)])
    (fe,) = out.atom.entries
    assert fe.id == "https://example.org/p/1" and fe.title == "Hello & welcome"
    assert fe.link == "https://example.org/p/1"
    assert fe.author_detail.name == "Ann" and fe.author_detail.email == "ann@example.org"
    assert fe.published == "2024-04-30T12:00:00+00:00" and fe.updated == "2024-05-01T12:00:00+00:00"
    assert fe.summary == "<p>Short</p>"
    (content,) = fe.content
    assert content.type == "text/html" and content.value == "<p>Full <b>content</b></p>"
    assert [t.term for t in fe.tags] == ["news", "tech"]
    entry = out.atom_entries[0]
    assert a(entry, "content").get("type") == "html"
    (ri,) = out.rss_items
    assert ri.findtext("title") == "Hello & welcome" and ri.findtext("link") == "https://example.org/p/1"
    assert ri.findtext(f"{{{CONTENT}}}encoded") == "<p>Full <b>content</b></p>"
    assert ri.findtext("description") == "<p>Short</p>"
    assert ri.findtext("pubDate") == "Tue, 30 Apr 2024 12:00:00 +0000"
    assert ri.findtext("author") == "ann@example.org (Ann)"
    assert [c.text for c in ri.findall("category")] == ["news", "tech"]


def test_is_permalink_only_when_the_guid_is_the_link():
    perma = item(guid="https://example.org/p/1", guid_is_permalink=True, link="https://example.org/p/1",
                 title="perma", published=T0)
    other = item(guid="https://example.org/?p=1", link="https://example.org/p/2", title="other",
                 published=T0 - timedelta(hours=1))
    local = item(guid="alpha-0007", link="https://example.org/p/3", title="local",
                 published=T0 - timedelta(hours=2))
    out = render([stored(perma), stored(other), stored(local)])
    guids = {i.findtext("title"): i.find("guid") for i in out.rss_items}
    assert guids["perma"].get("isPermaLink") == "true" and guids["perma"].text == "https://example.org/p/1"
    assert guids["other"].get("isPermaLink") == "false"
    assert guids["local"].get("isPermaLink") == "false"
    assert guids["local"].text.startswith("urn:uuid:")


def test_non_iri_guids_are_published_as_urn_uuid_in_both_formats():
    it = item(guid="alpha-0007", link="https://example.org/7", published=T0)
    out = render([stored(it)])
    atom_id = out.atom_entries[0].findtext(f"{{{ATOM}}}id")
    assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", atom_id)
    assert out.rss_items[0].findtext("guid") == atom_id
    assert render([stored(item(guid="alpha-0007", link="https://example.org/7", published=T0))]) \
        .atom_entries[0].findtext(f"{{{ATOM}}}id") == atom_id          # stable


def test_name_only_authors_become_dc_creator():
    it = item(guid="g", authors=(Person("Marta Kowalski"),), published=T0)
    out = render([stored(it)])
    ri = out.rss_items[0]
    assert ri.find("author") is None                           # RSS <author> must be an address
    assert [c.text for c in ri.findall(f"{{{DC}}}creator")] == ["Marta Kowalski"]
    assert out.rss.entries[0].author == "Marta Kowalski"       # and readers show it
    assert out.atom.entries[0].author == "Marta Kowalski"


def test_enclosures_are_enclosures_not_second_links():
    it = item(guid="g", link="https://pod.example/ep1", published=T0,
              enclosures=(Enclosure("https://pod.example/ep1.mp3", "audio/mpeg", 123456),))
    out = render([stored(it)])
    fe = out.atom.entries[0]
    assert fe.link == "https://pod.example/ep1"                 # the entry link is still the page
    assert [(e.href, e.type, e.length) for e in fe.enclosures] == \
        [("https://pod.example/ep1.mp3", "audio/mpeg", "123456")]
    enc_links = [l for l in out.atom_entries[0].findall(f"{{{ATOM}}}link") if l.get("rel") == "enclosure"]
    assert len(enc_links) == 1 and enc_links[0].get("length") == "123456"
    re_ = out.rss_items[0].find("enclosure")
    assert (re_.get("url"), re_.get("type"), re_.get("length")) == \
        ("https://pod.example/ep1.mp3", "audio/mpeg", "123456")
    assert [e.href for e in out.rss.entries[0].enclosures] == ["https://pod.example/ep1.mp3"]
    assert out.rss.entries[0].link == "https://pod.example/ep1"


def test_aggregated_items_carry_their_origin():
    it = item(guid="g", link="https://example.org/1", published=T0)
    out = render([stored(it)])
    src = a(out.atom_entries[0], "source")
    assert src is not None
    assert src.findtext(f"{{{ATOM}}}title") == "Example feed"
    assert src.findtext(f"{{{ATOM}}}id") == "https://example.org/"
    links = {l.get("rel"): l.get("href") for l in src.findall(f"{{{ATOM}}}link")}
    assert links == {"self": "https://example.org/feed.xml", "alternate": "https://example.org/"}
    rs = out.rss_items[0].find("source")
    assert rs.get("url") == "https://example.org/feed.xml" and rs.text == "Example feed"


def test_local_articles_have_no_source_element():
    c = SourceContext("articles", Origin("Test Planet"), SITE.url, SITE.url)
    it = normalise(raw_entry(title="Local", content="<p>x</p>", page="articles/articles/l.html",
                             local_path="l.txt", base=None), c, T0)
    out = render([stored(it)], {"articles": SourceInfo("articles", "articles", None)})
    assert a(out.atom_entries[0], "source") is None and out.rss_items[0].find("source") is None
    assert out.atom.entries[0].link == "http://127.0.0.1:8080/articles/articles/l.html"
    assert out.atom.entries[0].author == "The Editors"          # no author: the site's


def test_unsafe_html_never_reaches_the_output():
    it = item(guid="g", published=T0,
              summary='<p onmouseover="x()">s<script>alert(1)</script></p>',
              content='<img src=x onerror="alert(1)"><a href="javascript:alert(2)">j</a>'
                      '<iframe src="https://evil.example"></iframe><p style="x" onclick="y">ok</p>')
    out = render([stored(it)])
    for doc in (out.atom, out.rss):
        e = doc.entries[0]
        html = (e.summary + " ".join(c.value for c in e.get("content", []))).lower()
        for bad in ("<script", "onerror", "onclick", "onmouseover", "javascript:", "<iframe"):
            assert bad not in html, bad
        assert "ok" in html


BAD_TEXT = "Bad\x00\x01\x08\x0b\x0c\x1f\x7f\ud800\udfff\ufffe\uffffText"


def test_control_characters_and_surrogates_never_break_the_xml():
    it = normalise(raw_entry(guid=BAD_TEXT, title=BAD_TEXT, title_is_html=True, link=f"https://e.org/{BAD_TEXT}",
                             summary=BAD_TEXT, content=f"<p>{BAD_TEXT}</p>",
                             authors=(Person(BAD_TEXT, email=BAD_TEXT),), categories=(BAD_TEXT,),
                             enclosures=(Enclosure(f"https://e.org/{BAD_TEXT}.mp3", BAD_TEXT),),
                             published=T0), ctx(title=BAD_TEXT), T0)
    sources = {"src": SourceInfo("src", "Feed\x00 with\x0b controls", "https://e.org/feed", None)}
    out = from_bytes(render_atom(SITE, [stored(it)], sources), render_rss(SITE, [stored(it)], sources))
    for doc in (out.atom, out.rss):
        assert doc.entries[0].title == "Bad\ufffd\ufffdText"          # controls dropped, surrogates replaced


@settings(max_examples=60, deadline=None)
@given(st.text(), st.text(), st.text())
def test_any_input_text_renders_well_formed(title, body, author):
    it = normalise(raw_entry(guid=title or None, title=title, content=body, summary=body,
                             authors=(Person(author or "x"),), published=T0), ctx(title=author), T0)
    parse_xml(render_atom(SITE, [stored(it)], SOURCES))
    parse_xml(render_rss(SITE, [stored(it)], SOURCES))


def test_article_page_shows_the_article():
    c = SourceContext("articles", Origin("Test Planet"), SITE.url, SITE.url)
    it = normalise(raw_entry(title="A <title>", content="<p>First</p>\n<p>Second</p>",
                             authors=(Person("D. Parvaz"),), categories=("x",),
                             page="articles/articles/a.html", local_path="a.txt", base=None), c, T0)
    page = render_page(SITE, stored(it)).decode("utf-8")
    assert "<h1>A &lt;title&gt;</h1>" in page
    assert "By D. Parvaz" in page and "<p>First</p>" in page and "<p>Second</p>" in page
    assert 'href="http://127.0.0.1:8080/atom.xml"' in page


# ---- writing ------------------------------------------------------------------------------------

def test_write_if_changed_writes_once_and_keeps_mtime(tmp_path):
    path = tmp_path / "out" / "atom.xml"
    assert write_if_changed(path, b"<feed/>") is True
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert write_if_changed(path, b"<feed/>") is False
    assert path.stat().st_mtime_ns == 1_000_000_000
    assert write_if_changed(path, b"<feed>2</feed>") is True
    assert path.read_bytes() == b"<feed>2</feed>"
    assert path.stat().st_mtime_ns != 1_000_000_000
    # a longer or shorter file with the same prefix is a change too
    assert write_if_changed(path, b"<feed>2</feed>\n") is True
    assert write_if_changed(path, b"<feed>2</feed>") is True
    assert [p.name for p in path.parent.iterdir()] == ["atom.xml"]      # no temporary files left
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_write_all_removes_pages_no_longer_produced(tmp_path):
    files = {"atom.xml": b"a", "rss.xml": b"r", "articles/s/one.html": b"1", "articles/s/two.html": b"2"}
    assert sorted(write_all(tmp_path, files)) == sorted(files)
    del files["articles/s/two.html"]
    assert write_all(tmp_path, files) == ["articles/s/two.html"]
    assert not (tmp_path / "articles/s/two.html").exists()
    assert (tmp_path / "articles/s/one.html").read_bytes() == b"1"
    assert write_all(tmp_path, files) == []


# ---- the other formats (pure) -------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.text(), st.text(), st.text())
def test_any_input_text_renders_valid_json_html_and_opml(title, body, author):
    import json

    import lxml.html

    from feedsvc.config import Source
    from feedsvc.output.render.html import render_index
    from feedsvc.output.render.json_feed import render_json
    from feedsvc.output.render.opml import render_opml

    it = normalise(raw_entry(guid=title or None, title=title, content=body, summary=body,
                             authors=(Person(author or "x"),), published=T0), ctx(title=author), T0)
    sources = {"src": SourceInfo("src", author or "s", "https://example.org/feed", None)}
    feed = json.loads(render_json(SITE, [stored(it)], sources))
    assert feed["items"][0]["title"] == it.title and feed["items"][0]["content_html"]
    doc = lxml.html.fromstring(render_index(SITE, [stored(it)], sources))
    assert doc.xpath("string(//main//h3)") == (it.title or "(untitled)")      # text, never markup
    assert not doc.xpath("//script") and not doc.xpath("//*[@src]")
    parse_xml(render_opml(SITE, (Source("src", url="https://example.org/feed"),), sources, [stored(it)]))


def test_the_stylesheet_instruction_goes_after_the_xml_declaration():
    from feedsvc.errors import PublishError
    from feedsvc.output.render.feeds import with_stylesheet

    atom = render_atom(SITE, [stored(item(guid="g", published=T0))], SOURCES, 'a"b&.xsl')
    head = atom.split(b"<feed", 1)[0]
    assert head == b"<?xml version='1.0' encoding='UTF-8'?>\n<?xml-stylesheet type=\"text/xsl\" href=\"a&quot;b&amp;.xsl\"?>\n"
    root = parse_xml(atom)
    # pseudo-attributes take entity references (the xml-stylesheet spec); lxml keeps them as written
    assert root.getprevious().target == "xml-stylesheet" and root.getprevious().get("href") == "a&quot;b&amp;.xsl"
    with pytest.raises(PublishError):
        with_stylesheet(b"<feed/>", "feed.xsl")


def test_article_page_links_back_to_the_index():
    c = SourceContext("articles", Origin("Test Planet"), SITE.url, SITE.url)
    it = normalise(raw_entry(title="Deep", content="<p>x</p>", page="articles/articles/a/b/deep.html",
                             local_path="a/b/deep.txt", base=None), c, T0)
    page = render_page(SITE, stored(it), ("rss.xml",)).decode("utf-8")
    assert page.count('href="../../../../index.html"') == 2                    # header and footer
    assert 'type="application/rss+xml"' in page and "atom.xml" not in page


def test_entries_sharing_a_second_get_distinct_stable_updated_values():
    import json

    from feedsvc.output.render.json_feed import render_json

    same = [stored(item(guid=f"tag:e.org,2024:{i}", title=f"T{i}"), date=T0, updated=T0) for i in range(6)]
    alone = stored(item(guid="tag:e.org,2024:alone", title="alone"), date=T0 - timedelta(hours=1))
    out = render(same + [alone])
    ups = [e.findtext(f"{{{ATOM}}}updated") for e in out.atom_entries]
    assert len(set(ups)) == 7                                           # no two alike (W3C DuplicateUpdated)
    assert all(u.startswith("2024-05-01T12:00:00.") for u in ups[:6])   # the same second, told apart
    assert ups[6] == "2024-05-01T11:00:00+00:00"                        # alone in its second: untouched
    assert [e.findtext(f"{{{ATOM}}}published") for e in out.atom_entries][:6] == ["2024-05-01T12:00:00+00:00"] * 6
    # stable: the same item keeps its value whatever else shares its second
    again = render(same[2:] + [stored(item(guid="tag:e.org,2024:new", title="new"), date=T0, updated=T0)])
    assert [e.findtext(f"{{{ATOM}}}updated") for e in again.atom_entries][:4] == ups[2:6]
    # and JSON Feed's date_modified says the same instants
    js = json.loads(render_json(SITE, same + [alone], SOURCES))
    assert [datetime.fromisoformat(i["date_modified"]) for i in js["items"]] == [datetime.fromisoformat(u) for u in ups]
