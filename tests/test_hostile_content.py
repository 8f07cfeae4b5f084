"""Hostile content: XML attacks, unsafe HTML, text that breaks XML, dates from a bad clock,
huge feeds, symlinks and unreadable local files. Every case goes through the whole pipeline and
is checked on the published files."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import feedparser
from lxml import etree

from feedsvc.app.engine import Engine, refresh
from feedsvc.config import load_config

from conftest import rss, write_config

ATOM_NS = "{http://www.w3.org/2005/Atom}"


def run_refresh(tmp_path: Path, sources: list[dict], **overrides):
    cfg = write_config(tmp_path, sources, **overrides)
    rt = Engine(load_config(cfg))
    try:
        report = refresh(rt, rt.config.sources)
    finally:
        rt.close()
    out = tmp_path / "public"
    # both outputs are always well-formed
    atom = etree.parse(str(out / "atom.xml"))
    etree.parse(str(out / "rss.xml"))
    return report, atom, out


def entries(atom) -> list:
    return atom.getroot().findall(f"{ATOM_NS}entry")


def entry_html(atom) -> str:
    return "\n".join((e.findtext(f"{ATOM_NS}content") or "") + (e.findtext(f"{ATOM_NS}summary") or "")
                     for e in entries(atom))


def test_billion_laughs_never_expands(tmp_path, feed_server):
    ents = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    doc = (f'<?xml version="1.0"?><!DOCTYPE rss [{ents}]><rss version="2.0"><channel><title>t</title>'
           '<item><title>laugh &j;</title><link>https://l.example/1</link></item></channel></rss>')
    feed_server.add("/lol.xml", doc)
    done = threading.Event()
    result = {}

    def go():
        result["r"] = run_refresh(tmp_path, [{"name": "lol", "url": feed_server.url("/lol.xml")}])
        done.set()

    t = threading.Thread(target=go, daemon=True)
    t.start()
    assert done.wait(60), "billion laughs did not finish in bounded time"
    _report, atom, out = result["r"]
    assert (out / "atom.xml").stat().st_size < 100_000
    for e in entries(atom):
        assert "aaaaaaaaaa" not in (e.findtext(f"{ATOM_NS}title") or "")


def test_external_entities_and_dtds_are_never_fetched_or_read(tmp_path, feed_server):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    doc = (f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{feed_server.url("/evil.dtd")}" '
           f'[<!ENTITY x SYSTEM "file://{secret}"><!ENTITY y SYSTEM "{feed_server.url("/ent")}">]>'
           '<rss version="2.0"><channel><title>t</title>'
           '<item><title>A &x; B &y;</title><link>https://x.example/1</link>'
           '<description>C &x; D</description></item></channel></rss>')
    feed_server.add("/xxe.xml", doc)
    feed_server.add("/evil.dtd", '<!ENTITY z "dtd-was-fetched">')
    feed_server.add("/ent", "network-entity-was-fetched")
    _report, atom, out = run_refresh(tmp_path, [{"name": "xxe", "url": feed_server.url("/xxe.xml")}])
    published = (out / "atom.xml").read_text() + (out / "rss.xml").read_text()
    assert "TOP-SECRET" not in published
    assert "was-fetched" not in published
    assert feed_server.hits_for("/evil.dtd") == [] and feed_server.hits_for("/ent") == []


HOSTILE_HTML = """
<p onclick="steal()">Hello <b>world</b></p>
<script>alert('x')</script><style>body{display:none}</style>
<iframe src="https://evil.example/"></iframe>
<a href="javascript:alert(1)">js link</a> <a href="data:text/html,<script>alert(1)</script>">data link</a>
<img src="x.png" onerror="alert(1)"> <a href="/relative/page">relative</a>
<object data="evil.swf"></object><form action="https://evil.example/"><input name="q"></form>
"""


def test_html_is_sanitised_and_relative_urls_resolved(tmp_path, feed_server):
    body = rss([{"title": "<b>Bold</b> &amp; <script>alert(1)</script>title", "link": "/posts/1",
                 "guid": "p1", "content": HOSTILE_HTML, "description": "<img src=x onerror=alert(1)>sum"}],
               link="https://blog.example/")
    feed_server.add("/h.xml", body)
    _report, atom, out = run_refresh(tmp_path, [{"name": "h", "url": feed_server.url("/h.xml")}])
    html = entry_html(atom)
    for bad in ("<script", "<style", "<iframe", "onclick", "onerror", "javascript:", "data:text",
                "<object", "<form", "<input", "alert("):
        assert bad not in html, bad
    assert "<b>world</b>" in html and "Hello" in html
    # relative URLs resolve against the entry's base (here the feed URL)
    assert f'href="{feed_server.url("/relative/page")}"' in html
    assert f'src="{feed_server.url("/x.png")}"' in html
    e = entries(atom)[0]
    title = e.findtext(f"{ATOM_NS}title")
    assert "<" not in title and "alert" not in title and "Bold & " in title
    assert e.find(f"{ATOM_NS}link").get("href") == feed_server.url("/posts/1")


def test_local_markdown_and_html_articles_use_the_same_sanitiser(tmp_path):
    arts = tmp_path / "articles"
    arts.mkdir()
    (arts / "md.md").write_text("---\ntitle: MD\n---\n" + HOSTILE_HTML + "\n\n[ok](https://ok.example/)\n")
    (arts / "page.html").write_text("<html><head><title>HTML page</title></head><body>" + HOSTILE_HTML + "</body></html>")
    _report, atom, out = run_refresh(tmp_path, [{"name": "a", "path": "articles"}])
    html = entry_html(atom)
    pages = "".join(p.read_text() for p in (out / "articles").rglob("*.html"))
    for text in (html, pages):
        for bad in ("<script", "onclick", "onerror", "javascript:", "<iframe", "alert("):
            assert bad not in text, bad
    assert "https://ok.example/" in html


def test_text_that_breaks_xml_is_cleaned(tmp_path, feed_server):
    nasty = "ctl\x01\x02\x0b\x1f end"
    long_title = "Long " * 5000
    items = [{"title": nasty, "link": "https://c.example/1", "guid": "c1", "description": "bad \x07 bell"},
             {"title": long_title, "link": "https://c.example/2", "guid": "c2"}]
    raw = rss(items).encode("utf-8")
    raw = raw.replace(b"bad ", b"bad \xff\xfe invalid utf-8 ")      # invalid UTF-8 bytes
    feed_server.add("/c.xml", raw)
    arts = tmp_path / "articles"
    arts.mkdir()
    (arts / "surrogate.md").write_bytes(b"---\ntitle: Surrogate\n---\nText \x00\x08 here")
    report, atom, out = run_refresh(tmp_path, [{"name": "c", "url": feed_server.url("/c.xml")},
                                               {"name": "a", "path": "articles"}])
    titles = [e.findtext(f"{ATOM_NS}title") for e in entries(atom)]
    assert any(t.startswith("ctl") and t.endswith("end") for t in titles)
    assert all(len(t) <= 300 for t in titles)
    parsed = feedparser.parse((out / "rss.xml").read_bytes())
    assert not parsed.bozo, parsed.bozo_exception
    assert len(parsed.entries) == len(entries(atom))


def test_lone_surrogates_from_json_feed_are_replaced(tmp_path, feed_server):
    doc = '{"version": "https://jsonfeed.org/version/1.1", "title": "j", "items": [' \
          '{"id": "1", "url": "https://j.example/1", "title": "half \\ud800 pair", "content_text": "x \\udfff y"}]}'
    feed_server.add("/j.json", doc, content_type="application/feed+json")
    _report, atom, _out = run_refresh(tmp_path, [{"name": "j", "url": feed_server.url("/j.json")}])
    assert entries(atom)[0].findtext(f"{ATOM_NS}title") == "half \ufffd pair"


def test_far_future_dates_are_clamped_to_first_seen(tmp_path, feed_server):
    future = (datetime.now(timezone.utc) + timedelta(days=3650)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    feed_server.add("/f.xml", rss([
        {"title": "from the future", "link": "https://f.example/1", "guid": "f1", "date": future},
        {"title": "normal", "link": "https://f.example/2", "guid": "f2", "date": "Mon, 02 Nov 2026 10:00:00 +0000"}]))
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    _report, atom, _out = run_refresh(tmp_path, [{"name": "f", "url": feed_server.url("/f.xml")}])
    dates = {e.findtext(f"{ATOM_NS}title"): datetime.fromisoformat(e.findtext(f"{ATOM_NS}published"))
             for e in entries(atom)}
    assert before <= dates["from the future"] <= datetime.now(timezone.utc) + timedelta(seconds=5)


def test_huge_feed_is_capped_per_fetch(tmp_path, feed_server):
    items = "".join(f"<item><title>n{i}</title><link>https://h.example/{i}</link></item>" for i in range(100_000))
    doc = f'<?xml version="1.0"?><rss version="2.0"><channel><title>huge</title>{items}</channel></rss>'
    feed_server.add("/huge.xml", doc)
    report, atom, _out = run_refresh(tmp_path, [{"name": "huge", "url": feed_server.url("/huge.xml")}],
                                     fetch={"max_entries": 200}, output={"max_items": 1000})
    assert report.outcomes[0].new == 200
    assert len(entries(atom)) == 200


def test_symlinks_outside_and_unreadable_files(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("Outside secret\n\nDo not publish.\n")
    arts = tmp_path / "articles"
    arts.mkdir()
    (arts / "ok.txt").write_text("Fine article\n\nBody.\n")
    os.symlink(outside / "secret.txt", arts / "link.txt")
    os.symlink(outside, arts / "linkdir")
    (arts / "locked.txt").write_text("Locked\n\nBody.\n")
    os.chmod(arts / "locked.txt", 0)
    try:
        if os.access(arts / "locked.txt", os.R_OK):    # root reads anything: use a FIFO-free stand-in
            os.chmod(arts / "locked.txt", 0o644)
            (arts / "locked.txt").unlink()
            (arts / "locked.txt").mkdir()   # a directory named like an article cannot be read as one
        report, atom, out = run_refresh(tmp_path, [{"name": "a", "path": "articles"}])
    finally:
        if (arts / "locked.txt").is_file():
            os.chmod(arts / "locked.txt", 0o644)
    titles = [e.findtext(f"{ATOM_NS}title") for e in entries(atom)]
    assert titles == ["Fine article"]
    published = (out / "atom.xml").read_text()
    assert "Outside secret" not in published
    warning = report.outcomes[0].warning or ""
    assert "link.txt" in warning and "outside" in warning
