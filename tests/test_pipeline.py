"""End to end: ``feedsvc refresh`` as a real subprocess, on real files and a real HTTP server on
127.0.0.1, with atom.xml and rss.xml parsed back as a reader would see them."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

import feedsvc

from conftest import REPO, FeedServer, rss, write_config
from helpers_feedsvc import ATOM, CONTENT, DC, atom_feed, cli, mtimes, published

SAMPLE = REPO / "articles" / "liaison-office.txt"


# ---- helpers ------------------------------------------------------------------------------------

def summary(stdout: str) -> dict[str, str]:
    """name → the rest of its summary line."""
    out = {}
    for line in stdout.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and not line.startswith("published "):
            out[parts[0]] = parts[1]
    return out


def counts(line: str) -> dict[str, int]:
    return {("duplicates" if k.startswith("duplicate") else k): int(v)
            for v, k in re.findall(r"(\d+) (new|updated|unchanged|duplicates?)\b", line)}


class _Paras(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.paras: list[str] = []
        self._cur: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "p":
            self._cur = []

    def handle_endtag(self, tag):
        if tag == "p" and self._cur is not None:
            self.paras.append(" ".join("".join(self._cur).split()))
            self._cur = None

    def handle_data(self, data):
        if self._cur is not None:
            self._cur.append(data)


def paras(html: str) -> list[str]:
    p = _Paras()
    p.feed(html)
    return p.paras


def file_paragraphs(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    while not lines[0].strip():
        lines.pop(0)
    body = [ln for ln in lines[1:] if not re.match(r"^(Author|Date|Tags|Link|Id):", ln)]
    return [" ".join(p.split()) for p in "\n".join(body).split("\n\n") if p.strip()]


def send(h, body: bytes, ctype: str = "application/xml") -> None:
    h.send_response(200)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def stored_count(db: Path, source: str) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute("SELECT COUNT(*) FROM item WHERE source = ?", (source,)).fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def assert_safe_html(fragment: str) -> None:
    """No script/style/iframe element, no event handler, no javascript: URL in an HTML fragment."""
    from lxml import html as lhtml

    root = lhtml.fragment_fromstring(fragment, create_parent="div")
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        assert el.tag not in ("script", "style", "iframe", "object", "embed", "form"), el.tag
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (el.tag, name)
            assert not value.strip().lower().startswith(("javascript:", "vbscript:", "data:")), value


def refresh(tmp: Path, *names: str, ok: bool = True):
    r = cli("refresh", *names, cwd=tmp)
    if ok:
        assert r.returncode == 0, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    return r


def content_of(entry) -> str:
    return " ".join(c.value for c in entry.get("content", []))


# ---- local articles ------------------------------------------------------------------------------

def test_sample_article_round_trips_into_atom_and_rss(tmp_path):
    # the repo's sample directory, read in place
    write_config(tmp_path, [{"name": "articles", "path": str(REPO / "articles")}])
    r = refresh(tmp_path)
    assert counts(summary(r.stdout)["articles"])["new"] == 3
    out = published(tmp_path / "public")
    title = "As US-North Korea talks falter, Pyongyang and Seoul strengthen lines of dialogue"
    want = file_paragraphs(SAMPLE)
    assert want[-1] == "Just a figment of your imagination." and len(want) == 15

    (ae,) = [e for e in out.atom.entries if e.title == title]
    assert ae.author == "D. Parvaz"
    assert paras(content_of(ae)) == want
    assert "Author:" not in content_of(ae)

    (re_,) = [e for e in out.rss.entries if e.title == title]
    assert re_.author == "D. Parvaz"
    item = out.rss_item(title)
    assert [c.text for c in item.findall(f"{{{DC}}}creator")] == ["D. Parvaz"]
    assert paras(item.findtext(f"{{{CONTENT}}}encoded")) == want
    assert ae.id == re_.id

    # the item links to its own page, which exists and shows the whole article
    assert ae.link.startswith("http://127.0.0.1:8080/") and ae.link == re_.link
    page = tmp_path / "public" / ae.link.removeprefix("http://127.0.0.1:8080/")
    html = page.read_text(encoding="utf-8")
    assert title in html and "D. Parvaz" in html
    assert paras(html)[-len(want):] == want


def test_every_local_item_link_resolves_to_a_page(tmp_path):
    write_config(tmp_path, [{"name": "articles", "path": str(REPO / "articles")}],
                 site={"url": "https://planet.example.org/sub/"})
    refresh(tmp_path)
    out = published(tmp_path / "public")
    assert len(out.atom.entries) == 3
    for e in out.atom.entries:
        rel = e.link.removeprefix("https://planet.example.org/sub/")
        assert rel != e.link and (tmp_path / "public" / rel).is_file()


def test_article_formats_encodings_and_bad_files(tmp_path):
    arts = tmp_path / "articles"
    (arts / "deep" / "er").mkdir(parents=True)
    (arts / "plain.txt").write_text("Plain title\n\nBody text.\n\nAuthor: Ann\nDate: 2024-02-03T04:05:06Z\n"
                                    "Tags: one, two\nId: plain-1\n", encoding="utf-8")
    (arts / "deep" / "er" / "front.md").write_text(
        "---\ntitle: Front matter\nauthor: Bea\ndate: 2024-02-01\ntags: [md]\n---\nSome **bold** text.\n",
        encoding="utf-8")
    (arts / "bom-crlf.txt").write_bytes("\ufeffWindows title\r\n\r\nLine one\r\n\r\nAuthor: Cy\r\n".encode("utf-8"))
    (arts / "legacy.txt").write_bytes("Caf\u00e9 news\n\n\u201cQuoted\u201d cr\u00e8me.\n".encode("cp1252"))
    (arts / "empty.txt").write_bytes(b"")
    (arts / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (arts / ".hidden.txt").write_text("Hidden\n\nnot published\n")
    (arts / "plain.txt~").write_text("Backup\n\nnot published\n")
    write_config(tmp_path, [{"name": "articles", "path": "articles"}])
    r = refresh(tmp_path)                                     # warnings are not failures
    assert counts(summary(r.stdout)["articles"])["new"] == 4
    # warnings name the file
    assert re.search(r"empty\.txt.*empty", r.stderr)
    assert re.search(r"binary\.txt.*binary", r.stderr)
    assert re.search(r"legacy\.txt.*cp1252", r.stderr)
    out = published(tmp_path / "public")
    assert sorted(out.titles()) == ["Café news", "Front matter", "Plain title", "Windows title"]
    plain = out.atom.entries[out.titles().index("Plain title")]
    assert plain.author == "Ann" and plain.published == "2024-02-03T04:05:06+00:00"
    assert [t.term for t in plain.tags] == ["one", "two"]
    assert paras(content_of(plain)) == ["Body text."]
    for meta in ("Author", "Date:", "Tags", "Id:", "plain-1"):
        assert meta not in content_of(plain)
    front = out.atom.entries[out.titles().index("Front matter")]
    assert front.author == "Bea" and "<strong>bold</strong>" in content_of(front)
    assert "title:" not in content_of(front)
    legacy = out.atom.entries[out.titles().index("Café news")]
    assert paras(content_of(legacy)) == ["\u201cQuoted\u201d cr\u00e8me."]
    win = out.atom.entries[out.titles().index("Windows title")]
    assert win.author == "Cy" and paras(content_of(win)) == ["Line one"]


def test_article_ids_survive_touch_and_dates_are_stored_once(tmp_path):
    arts = tmp_path / "articles"
    arts.mkdir()
    (arts / "undated.txt").write_text("Undated\n\nFirst version.\n")
    (arts / "with-id.txt").write_text("With id\n\nBody.\n\nId: tag:example.org,2024:with-id\n")
    write_config(tmp_path, [{"name": "articles", "path": "articles"}])
    refresh(tmp_path)
    pub = tmp_path / "public"
    first = published(pub)
    ids = {e.title: e.id for e in first.atom.entries}
    dates = {e.title: e.published for e in first.atom.entries}
    assert ids["With id"] == "tag:example.org,2024:with-id"
    assert ids["Undated"].startswith("urn:uuid:")
    before = mtimes(pub)

    # touch both files: nothing a reader sees changes, so nothing is rewritten
    for f in arts.iterdir():
        os.utime(f, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    time.sleep(0.01)
    refresh(tmp_path)
    assert mtimes(pub) == before
    again = published(pub)
    assert {e.title: e.id for e in again.atom.entries} == ids
    assert {e.title: e.published for e in again.atom.entries} == dates

    # edit the undated article: same id, same (first-seen) date, later updated
    (arts / "undated.txt").write_text("Undated\n\nSecond version.\n")
    r = refresh(tmp_path)
    assert counts(summary(r.stdout)["articles"])["updated"] == 1
    edited = published(pub)
    e = edited.atom.entries[[x.title for x in edited.atom.entries].index("Undated")]
    assert e.id == ids["Undated"] and e.published == dates["Undated"]
    assert e.updated_parsed >= e.published_parsed
    assert paras(content_of(e)) == ["Second version."]

    # a fresh store on another machine derives the same ids from the same paths
    shutil.rmtree(tmp_path / "state")
    shutil.rmtree(pub)
    refresh(tmp_path)
    assert {e.title: e.id for e in published(pub).atom.entries} == ids


def test_deleted_article_leaves_the_feed_and_its_page_goes(tmp_path):
    arts = tmp_path / "articles"
    arts.mkdir()
    (arts / "keep.txt").write_text("Keep\n\nbody\n")
    (arts / "drop.txt").write_text("Drop\n\nbody\n")
    write_config(tmp_path, [{"name": "articles", "path": "articles"}])
    refresh(tmp_path)
    page = tmp_path / "public" / "articles" / "articles" / "drop.html"
    assert page.exists()
    (arts / "drop.txt").unlink()
    refresh(tmp_path)
    assert published(tmp_path / "public").titles() == ["Keep"]
    assert not page.exists()


# ---- remote feeds -------------------------------------------------------------------------------

ITEMS = [
    {"title": "Newest", "link": "https://a.example/3", "guid": "a-3", "date": "Wed, 03 Jan 2024 10:00:00 GMT",
     "description": "three", "author": "Ann"},
    {"title": "Middle", "link": "https://a.example/2", "guid": "a-2", "date": "Tue, 02 Jan 2024 10:00:00 GMT",
     "description": "two"},
    {"title": "Oldest", "link": "https://a.example/1", "guid": "a-1", "date": "Mon, 01 Jan 2024 10:00:00 GMT",
     "description": "one"},
]


def test_second_refresh_is_a_no_op(tmp_path, feed_server):
    url = feed_server.add("/a.xml", rss(ITEMS, title="Feed A"))
    arts = tmp_path / "articles"
    arts.mkdir()
    (arts / "a.txt").write_text("Local\n\nbody\n\nDate: 2023-12-31T00:00:00Z\n")
    write_config(tmp_path, [{"name": "arts", "path": "articles"}, {"name": "a", "url": url}])
    refresh(tmp_path)
    pub = tmp_path / "public"
    bytes_before = {n: (pub / n).read_bytes() for n in ("atom.xml", "rss.xml")}
    os.utime(pub / "atom.xml", ns=(10**18, 10**18))          # make any rewrite visible
    os.utime(pub / "rss.xml", ns=(10**18, 10**18))
    before = mtimes(pub)
    r = refresh(tmp_path)
    lines = summary(r.stdout)
    assert "unchanged" in lines["a"] and "unchanged" in lines["arts"]
    assert "nothing changed" in r.stdout
    assert mtimes(pub) == before
    assert {n: (pub / n).read_bytes() for n in ("atom.xml", "rss.xml")} == bytes_before
    h1, h2 = feed_server.hits_for("/a.xml")
    assert "If-None-Match" not in h1.headers and h1.status == 200
    assert h2.headers.get("If-None-Match") and h2.headers.get("If-Modified-Since")
    assert h2.status == 304


def test_remote_items_order_dates_and_feed_updated(tmp_path, feed_server):
    url = feed_server.add("/a.xml", rss(list(reversed(ITEMS)), title="Feed A"))
    atom_url = feed_server.add("/b.xml", atom_feed([
        {"id": "tag:b.example,2024:1", "title": "Atom entry", "link": "https://b.example/1",
         "published": "2024-01-02T12:00:00Z", "updated": "2024-01-02T12:00:00Z", "author": "Bo"}]))
    write_config(tmp_path, [{"name": "a", "url": url}, {"name": "b", "url": atom_url}],
                 output={"max_items": 3})
    refresh(tmp_path)
    out = published(tmp_path / "public")
    want = ["Newest", "Atom entry", "Middle"]                 # newest first, max_items
    assert out.titles() == want and out.rss_titles() == want
    assert [e.id for e in out.atom.entries] == [e.id for e in out.rss.entries]
    # the feed's updated is its newest item's date, not the time of the run
    assert out.atom_xml.findtext(f"{{{ATOM}}}updated") == "2024-01-03T10:00:00+00:00"
    assert out.rss_xml.findtext("channel/lastBuildDate") == "Wed, 03 Jan 2024 10:00:00 +0000"
    assert out.atom.entries[0].published == "2024-01-03T10:00:00+00:00"


def test_remote_entry_fields_reach_both_outputs(tmp_path, feed_server):
    body = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>Pod &amp; Cast</title><link>https://pod.example/</link><description>d</description>
<item><title>Episode &lt;b&gt;1&lt;/b&gt;</title><link>https://pod.example/ep1</link>
<guid isPermaLink="true">https://pod.example/ep1</guid><dc:creator>Marta Kowalski</dc:creator>
<pubDate>Mon, 02 Mar 2020 10:00:00 GMT</pubDate><category>audio</category>
<enclosure url="https://pod.example/ep1.mp3" length="1234" type="audio/mpeg"/>
<description>&lt;p onclick="x()"&gt;Hi&lt;script&gt;alert(1)&lt;/script&gt;&lt;a href="javascript:alert(2)"&gt;j&lt;/a&gt;&lt;img src="/i.png" onerror="bad()"&gt;&lt;/p&gt;</description></item>
<item><title>Local guid</title><link>https://pod.example/ep0</link><guid>alpha-0007</guid>
<pubDate>Sun, 01 Mar 2020 10:00:00 GMT</pubDate></item>
</channel></rss>"""
    url = feed_server.add("/pod.xml", body)
    write_config(tmp_path, [{"name": "pod", "url": url}])
    refresh(tmp_path)
    out = published(tmp_path / "public")
    ae = out.atom.entries[0]
    assert ae.title == "Episode 1" and ae.id == "https://pod.example/ep1"
    assert ae.link == "https://pod.example/ep1" and ae.author == "Marta Kowalski"
    assert [(e.href, e.type, e.length) for e in ae.enclosures] == [("https://pod.example/ep1.mp3", "audio/mpeg", "1234")]
    assert [t.term for t in ae.tags] == ["audio"]
    ri = out.rss_item("Episode 1")
    assert ri.find("guid").get("isPermaLink") == "true"
    assert ri.find("enclosure").get("url") == "https://pod.example/ep1.mp3"
    assert [c.text for c in ri.findall(f"{{{DC}}}creator")] == ["Marta Kowalski"]
    # origin: atom:source and RSS <source url>
    src = out.atom_entries[0].find(f"{{{ATOM}}}source")
    assert src.findtext(f"{{{ATOM}}}title") == "Pod & Cast"
    assert {l.get("rel"): l.get("href") for l in src.findall(f"{{{ATOM}}}link")} == \
        {"self": url, "alternate": "https://pod.example/"}
    assert ri.find("source").get("url") == url and ri.find("source").text == "Pod & Cast"
    # sanitised
    for doc in (out.atom_bytes, out.rss_bytes):
        low = doc.lower()
        for bad in (b"&lt;script", b"alert(", b"onclick", b"onerror", b"javascript:"):
            assert bad not in low
    # relative URLs resolve against the document they came from
    assert f'src="{feed_server.url("/i.png")}"' in out.atom.entries[0].summary
    # a guid that is not an IRI is published as a stable urn:uuid, never as a URL made from it
    local = out.atom.entries[1]
    assert local.title == "Local guid" and re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", local.id)
    guid = out.rss_item("Local guid").find("guid")
    assert guid.text == local.id and guid.get("isPermaLink") == "false"
    assert b"alpha-0007" not in out.atom_bytes


def test_changed_entry_updates_in_place(tmp_path, feed_server):
    v1 = [{"title": "Story", "link": "https://a.example/s", "guid": "s-1", "date": "Mon, 01 Jan 2024 10:00:00 GMT",
           "description": "first version"}]
    url = feed_server.add("/a.xml", rss(v1))
    write_config(tmp_path, [{"name": "a", "url": url}])
    refresh(tmp_path)
    before = published(tmp_path / "public").atom.entries[0]
    feed_server.add("/a.xml", rss([{**v1[0], "title": "Story (corrected)", "description": "second version"}]))
    r = refresh(tmp_path)
    assert counts(summary(r.stdout)["a"]) == {"new": 0, "updated": 1, "unchanged": 0}
    (after,) = published(tmp_path / "public").atom.entries
    assert after.id == before.id and after.title == "Story (corrected)"
    assert "second version" in after.summary
    assert after.published == before.published == "2024-01-01T10:00:00+00:00"
    assert after.updated_parsed > before.updated_parsed


def test_repeats_in_one_fetch_count_once(tmp_path, feed_server):
    dup = {"title": "Twice", "link": "https://a.example/t", "guid": "t-1", "date": "Mon, 01 Jan 2024 10:00:00 GMT"}
    url = feed_server.add("/a.xml", rss([dup, {"title": "Other", "link": "https://a.example/o", "guid": "o-1"}, dup]))
    write_config(tmp_path, [{"name": "a", "url": url}])
    r = refresh(tmp_path)
    assert counts(summary(r.stdout)["a"])["new"] == 2
    assert sorted(published(tmp_path / "public").titles()) == ["Other", "Twice"]


def test_podcast_episodes_sharing_a_link_are_all_published(tmp_path, feed_server):
    eps = [{"title": f"Episode {i}", "link": "https://pod.example/", "guid": f"https://pod.example/ep{i}.mp3",
            "date": f"Mon, 0{i} Jan 2024 10:00:00 GMT"} for i in range(1, 5)]
    url = feed_server.add("/pod.xml", rss(eps))
    write_config(tmp_path, [{"name": "pod", "url": url}])
    refresh(tmp_path)
    assert published(tmp_path / "public").titles() == [f"Episode {i}" for i in (4, 3, 2, 1)]
    eps.insert(0, {"title": "Episode 5", "link": "https://pod.example/", "guid": "https://pod.example/ep5.mp3",
                   "date": "Fri, 05 Jan 2024 10:00:00 GMT"})
    feed_server.add("/pod.xml", rss(eps))
    refresh(tmp_path)
    assert published(tmp_path / "public").titles() == [f"Episode {i}" for i in (5, 4, 3, 2, 1)]


# ---- cross-source duplicates --------------------------------------------------------------------

def cross_posted(feed_server, first_gate=None, second_gate=None):
    """Two feeds carrying the same story under different URLs/guids; the gates delay a response."""
    first = rss([{"title": "Story via first", "link": "https://news.example/story?utm_source=first",
                  "guid": "https://news.example/story", "permalink": True,
                  "date": "Mon, 01 Jan 2024 10:00:00 GMT", "description": "first copy"},
                 {"title": "Only first", "link": "https://first.example/only", "guid": "f-only"}],
                title="First feed", link="https://first.example/")
    second = rss([{"title": "Story via second", "link": "https://proxy.example/~r/123",
                   "guid": "https://news.example/story#frag", "permalink": True,
                   "date": "Mon, 01 Jan 2024 10:00:00 GMT", "description": "second copy"},
                  {"title": "Only second", "link": "https://second.example/only", "guid": "s-only"}],
                 title="Second feed", link="https://second.example/")
    for path, body, gate in (("/first.xml", first, first_gate), ("/second.xml", second, second_gate)):
        if gate is None:
            feed_server.add(path, body)
        else:
            feed_server.handlers[path] = (lambda b, g: lambda h: (g(), send(h, b.encode())))(body, gate)
    return feed_server.url("/first.xml"), feed_server.url("/second.xml")


def wait_for_items(db: Path, source: str, seen: list[bool]):
    def gate():
        for _ in range(200):        # bounded: ~10 s, under the fetch's 15 s wait for an answer
            if stored_count(db, source) > 0:
                seen.append(True)
                return
            time.sleep(0.05)
    return gate


def check_first_wins(tmp_path):
    out = published(tmp_path / "public")
    assert sorted(out.titles()) == ["Only first", "Only second", "Story via first"]
    assert sorted(out.rss_titles()) == sorted(out.titles())
    src = out.atom_entry("Story via first").find(f"{{{ATOM}}}source")
    assert src.findtext(f"{{{ATOM}}}title") == "First feed"
    assert out.rss_item("Story via first").find("source").text == "First feed"
    assert "first copy" in out.atom.entries[out.titles().index("Story via first")].summary


def test_cross_posted_story_merges_first_listed_source_wins_when_it_finishes_last(tmp_path, feed_server):
    # the first-listed source is held back until the second's copy is in the store: TAKEOVER
    seen: list[bool] = []
    a, b = cross_posted(feed_server, first_gate=wait_for_items(tmp_path / "state" / "feedsvc.db", "second", seen))
    write_config(tmp_path, [{"name": "first", "url": a}, {"name": "second", "url": b}])
    r = refresh(tmp_path)
    assert seen == [True], "the second source was not stored before the first answered"
    check_first_wins(tmp_path)
    lines = summary(r.stdout)
    assert counts(lines["first"])["new"] == 2
    # stable: the next refresh changes nothing
    r = cli("refresh", "--full", cwd=tmp_path)
    assert r.returncode == 0
    check_first_wins(tmp_path)


def test_cross_posted_story_merges_first_listed_source_wins_when_it_finishes_first(tmp_path, feed_server):
    seen: list[bool] = []
    a, b = cross_posted(feed_server, second_gate=wait_for_items(tmp_path / "state" / "feedsvc.db", "first", seen))
    write_config(tmp_path, [{"name": "first", "url": a}, {"name": "second", "url": b}])
    r = refresh(tmp_path)
    assert seen == [True]
    check_first_wins(tmp_path)
    assert counts(summary(r.stdout)["second"]) == {"new": 1, "updated": 0, "unchanged": 0, "duplicates": 1}


def test_copy_already_stored_wins_over_a_source_listed_earlier(tmp_path, feed_server):
    a, b = cross_posted(feed_server)
    write_config(tmp_path, [{"name": "first", "url": a}, {"name": "second", "url": b}])
    refresh(tmp_path, "second")                                # only the second, in an earlier run
    refresh(tmp_path)
    out = published(tmp_path / "public")
    assert sorted(out.titles()) == ["Only first", "Only second", "Story via second"]


def test_same_canonical_link_merges(tmp_path, feed_server):
    a = feed_server.add("/a.xml", rss([{"title": "A copy", "link": "HTTPS://Site.example:443/p?b=2&a=1&utm_source=x#c",
                                        "guid": "a-1"}]))
    b = feed_server.add("/b.xml", rss([{"title": "B copy", "link": "https://site.example/p?a=1&fbclid=z&b=2",
                                        "guid": "b-1"}]))
    write_config(tmp_path, [{"name": "a", "url": a}, {"name": "b", "url": b}])
    refresh(tmp_path)
    assert published(tmp_path / "public").titles() == ["A copy"]


# ---- failures -----------------------------------------------------------------------------------

def test_failing_sources_are_reported_and_the_others_still_publish(tmp_path, feed_server):
    good = feed_server.add("/good.xml", rss([{"title": "Good 1", "link": "https://g.example/1", "guid": "g1"}]))
    nf = feed_server.add("/nf.xml", rss([{"title": "NotFound earlier", "link": "https://n.example/1", "guid": "n1"}]))
    junk = feed_server.add("/junk.xml", rss([{"title": "Junk earlier", "link": "https://j.example/1", "guid": "j1"}]))
    down_server = FeedServer()                                  # a second server, stopped below
    try:
        down_url = down_server.add("/feed.xml", rss([{"title": "Down earlier", "link": "https://d.example/1",
                                                      "guid": "d1"}]))
        write_config(tmp_path, [{"name": "good", "url": good}, {"name": "notfound", "url": nf},
                                {"name": "down", "url": down_url}, {"name": "junk", "url": junk}])
        refresh(tmp_path)
        assert sorted(published(tmp_path / "public").titles()) == \
            ["Down earlier", "Good 1", "Junk earlier", "NotFound earlier"]
    finally:
        down_server.stop()                                      # connection refused from now on
    # now three of them fail in three ways, and the good one has a new item
    del feed_server.resources["/nf.xml"]
    feed_server.add("/junk.xml", b"\x00\x01 this is not a feed at all <<<", content_type="text/plain")
    feed_server.add("/good.xml", rss([{"title": "Good 2", "link": "https://g.example/2", "guid": "g2"},
                                      {"title": "Good 1", "link": "https://g.example/1", "guid": "g1"}]))
    r = cli("refresh", cwd=tmp_path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = summary(r.stdout)
    assert lines["good"].startswith("ok") and counts(lines["good"])["new"] == 1
    assert lines["notfound"].startswith("error") and "404" in lines["notfound"]
    assert lines["down"].startswith("error") and "connection" in lines["down"].lower()
    assert lines["junk"].startswith("error") and "not a feed" in lines["junk"]
    assert "3 of 4 sources failed" in r.stderr
    out = published(tmp_path / "public")
    assert sorted(out.titles()) == ["Down earlier", "Good 1", "Good 2", "Junk earlier", "NotFound earlier"]
    assert sorted(out.rss_titles()) == sorted(out.titles())
    # the failure is recorded on the source with its time
    st = json.loads(cli("status", "--json", cwd=tmp_path).stdout)
    errs = {s["name"]: s for s in st["sources"]}
    assert "404" in errs["notfound"]["last_error"] and errs["notfound"]["last_attempt"]
    assert errs["good"]["last_error"] is None


def test_a_source_failing_from_the_start_does_not_stop_publishing(tmp_path, feed_server):
    good = feed_server.add("/good.xml", rss([{"title": "Good", "link": "https://g.example/1", "guid": "g1"}]))
    write_config(tmp_path, [{"name": "missing", "url": feed_server.url("/nope.xml")},
                            {"name": "nodir", "path": "no-such-dir"}, {"name": "good", "url": good}])
    r = cli("refresh", cwd=tmp_path)
    assert r.returncode == 1
    lines = summary(r.stdout)
    assert lines["missing"].startswith("error") and lines["nodir"].startswith("error")
    assert published(tmp_path / "public").titles() == ["Good"]


def test_gzip_feed_and_size_cap_end_to_end(tmp_path, feed_server):
    small = feed_server.add("/small.xml", rss([{"title": "Zipped", "link": "https://z.example/1", "guid": "z"}]),
                            gzip=True)
    big = feed_server.add("/big.xml", rss([{"title": f"Big {i}", "link": f"https://b.example/{i}", "guid": f"b{i}",
                                            "description": "x" * 1000} for i in range(40)]))
    write_config(tmp_path, [{"name": "small", "url": small}, {"name": "big", "url": big}],
                 fetch={"max_bytes": "16KiB"})
    r = cli("refresh", cwd=tmp_path)
    assert r.returncode == 1
    lines = summary(r.stdout)
    assert lines["small"].startswith("ok")
    assert lines["big"].startswith("error") and "limit" in lines["big"]
    assert published(tmp_path / "public").titles() == ["Zipped"]
    assert feed_server.hits_for("/small.xml")[0].headers["User-Agent"] == \
        f"feedsvc/{feedsvc.__version__} (+http://127.0.0.1:8080/)"


# ---- hostile input --------------------------------------------------------------------------------

def test_control_characters_and_surrogates_in_a_feed_never_break_the_output(tmp_path, feed_server):
    body = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Bad\x01 feed</title>'
            b'<link>https://bad.example/</link><description>d</description>'
            b'<item><title>Bell\x07 and &#xD800; surrogate\x0b</title><link>https://bad.example/1</link>'
            b'<guid isPermaLink="false">bad\x02-1</guid><description>Text\x1b[31m with &#1; escapes</description>'
            b'</item></channel></rss>')
    url = feed_server.add("/bad.xml", body)
    arts = tmp_path / "articles"
    arts.mkdir()
    (arts / "ctl.txt").write_bytes(b"Ctl\x07 title\n\nBody \x1b with \x0c controls.\n")
    write_config(tmp_path, [{"name": "bad", "url": url}, {"name": "arts", "path": "articles"}])
    r = cli("refresh", cwd=tmp_path)
    assert "Traceback" not in r.stderr
    out = published(tmp_path / "public")                      # strict XML parse + feedparser, no bozo
    assert "Ctl title" in out.titles()
    for t in out.titles():
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", t)


# ---- the bundled config ----------------------------------------------------------------------------

def test_bundled_config_works_offline(tmp_path):
    for name in ("config.yaml",):
        shutil.copy(REPO / name, tmp_path / name)
    for d in ("articles", "samples"):
        shutil.copytree(REPO / d, tmp_path / d)
    r = refresh(tmp_path)
    out = published(tmp_path / "public")
    title = "As US-North Korea talks falter, Pyongyang and Seoul strengthen lines of dialogue"
    assert title in out.titles() and title in out.rss_titles()
    ae = out.atom.entries[out.titles().index(title)]
    assert ae.author == "D. Parvaz"
    assert "Just a figment of your imagination." in content_of(ae)
    # no local path leaks into the published feeds
    for doc in (out.atom_bytes, out.rss_bytes):
        assert b"file:" not in doc
    r = refresh(tmp_path)
    assert "nothing changed" in r.stdout


def test_items_outlive_their_feed_until_retention_and_a_purge_is_published_at_once(tmp_path, feed_server):
    old = {"title": "Old story", "link": "https://a.example/old", "guid": "old",
           "date": "Mon, 01 Jan 2018 10:00:00 GMT"}
    recent = {"title": "Recent story", "link": "https://a.example/recent", "guid": "recent",
              "date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() - 86400))}
    new = {"title": "New story", "link": "https://a.example/new", "guid": "new",
           "date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() - 3600))}
    url = feed_server.add("/a.xml", rss([recent, old]))
    write_config(tmp_path, [{"name": "a", "url": url}], retention={"max_age": "30d"})
    refresh(tmp_path)
    assert published(tmp_path / "public").titles() == ["Recent story", "Old story"]
    # both drop out of the feed: the recent one stays (within retention), the old one goes now
    feed_server.add("/a.xml", rss([new]))
    refresh(tmp_path)
    assert published(tmp_path / "public").titles() == ["New story", "Recent story"]
    # and the next refresh, with nothing new, writes nothing
    before = mtimes(tmp_path / "public")
    r = refresh(tmp_path)
    assert "nothing changed" in r.stdout and mtimes(tmp_path / "public") == before


def test_new_items_below_the_published_newest_are_stored_without_a_render(tmp_path, feed_server):
    start = time.time()

    def story(n: int, days_ago: int) -> dict:
        return {"title": f"Story {n}", "link": f"https://a.example/{n}", "guid": f"g{n}",
                "date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(start - days_ago * 86400))}

    url = feed_server.add("/a.xml", rss([story(1, 1), story(2, 2)]))
    write_config(tmp_path, [{"name": "a", "url": url}], output={"max_items": 2})
    refresh(tmp_path)
    before = mtimes(tmp_path / "public")
    # an older story arrives: stored, but the newest two are the same, so nothing is rendered
    feed_server.add("/a.xml", rss([story(1, 1), story(2, 2), story(3, 5)]))
    r = cli("-vv", "refresh", cwd=tmp_path)
    assert r.returncode == 0 and "1 new" in r.stdout and "nothing changed" in r.stdout
    assert "not rendered" in r.stderr and mtimes(tmp_path / "public") == before
    # a newer one is rendered at once, and the older one stays stored behind it
    feed_server.add("/a.xml", rss([story(4, 0), story(1, 1), story(2, 2), story(3, 5)]))
    r = cli("-vv", "refresh", cwd=tmp_path)
    assert "1 new" in r.stdout and "not rendered" not in r.stderr
    assert published(tmp_path / "public").titles() == ["Story 4", "Story 1"]
    write_config(tmp_path, [{"name": "a", "url": url}], output={"max_items": 4})
    refresh(tmp_path)
    assert published(tmp_path / "public").titles() == ["Story 4", "Story 1", "Story 2", "Story 3"]


# ---- in process, with an injected clock and a fake of our own Fetcher -----------------------------

def test_undated_remote_items_get_the_time_first_seen_stored_once(tmp_path):
    from feedsvc.app.engine import Engine
    from feedsvc.app.engine import refresh as run_refresh
    from feedsvc.config import load_config

    from helpers_feedsvc import T0, Clock, FakeFetcher

    url = "https://undated.example/feed.xml"
    fetcher = FakeFetcher({url: rss([{"title": "No date", "link": "https://undated.example/1", "guid": "u1"}]).encode()})
    clock = Clock(T0)
    cfg = load_config(write_config(tmp_path, [{"name": "u", "url": url}]))

    def run(full: bool = False):
        rt = Engine(cfg, fetcher=fetcher, clock=clock)
        try:
            return run_refresh(rt, cfg.sources, full=full)
        finally:
            rt.close()

    assert run().outcomes[0].new == 1
    first = published(tmp_path / "public").atom.entries[0]
    assert first.published == "2024-05-01T12:00:00+00:00"          # the injected clock, not the wall clock
    assert tmp_path.joinpath("public/atom.xml").read_bytes().count(b"2024-05-01T12:00:00") >= 2
    clock.advance(days=3)
    assert run().outcomes[0].status == "not-modified"                 # the fake answers 304 to its ETag
    assert fetcher.calls[-1][1] is not None
    clock.advance(days=3)
    assert run(full=True).outcomes[0].unchanged == 1                  # refetched and re-parsed: same date
    assert published(tmp_path / "public").atom.entries[0].published == first.published
    # the entry changes: updated moves to the clock, published stays
    fetcher.bodies[url] = rss([{"title": "No date (edited)", "link": "https://undated.example/1", "guid": "u1"}]).encode()
    clock.advance(days=1)
    assert run().outcomes[0].updated == 1
    e = published(tmp_path / "public").atom.entries[0]
    assert e.published == first.published and e.updated == "2024-05-08T12:00:00+00:00"
    assert fetcher.closed


def test_a_skipped_file_stays_reported_until_fixed(tmp_path):
    arts = tmp_path / "articles"
    arts.mkdir()
    (arts / "good.txt").write_text("Good\n\nbody\n")
    (arts / "empty.txt").write_text("")
    write_config(tmp_path, [{"name": "arts", "path": "articles"}])
    refresh(tmp_path)
    r = refresh(tmp_path)                                     # nothing changed, the file still skipped
    assert "empty.txt" in summary(r.stdout)["arts"]
    st = json.loads(cli("status", "--json", cwd=tmp_path).stdout)["sources"][0]
    assert "empty.txt" in st["warning"]
    (arts / "empty.txt").write_text("Now filled\n\nwith text\n")
    r = refresh(tmp_path)
    assert "empty.txt" not in r.stdout and "empty.txt" not in r.stderr
    assert sorted(published(tmp_path / "public").titles()) == ["Good", "Now filled"]


# ---- the corpus: every real and edge-case feed, as sources of one refresh ------------------------

@pytest.mark.slow
def test_whole_corpus_in_one_refresh(tmp_path):
    from conftest import CORPUS, corpus_files
    from helpers_feedsvc import parse_xml

    rows = corpus_files()
    if not rows:
        pytest.skip(f"no corpus at {CORPUS}")
    sources = [{"name": f"c{i:03d}", "url": (CORPUS / r).as_uri()} for i, r in enumerate(rows)]   # read in place
    write_config(tmp_path, sources, output={"max_items": 100000})
    r = cli("refresh", cwd=tmp_path)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "internal error" not in r.stdout + r.stderr
    lines = summary(r.stdout)
    assert len(lines) == len(rows)
    errors = {n: l for n, l in lines.items() if l.startswith("error")}
    assert all(l.split(None, 1)[1].strip() for l in errors.values())       # each error says why
    assert len(errors) < len(rows) // 10, errors
    n = int(re.search(r"published (\d+) items", r.stdout).group(1))
    assert n > 3000
    pub = tmp_path / "public"
    atom = parse_xml((pub / "atom.xml").read_bytes())                      # strict: well-formed
    rss_ = parse_xml((pub / "rss.xml").read_bytes())
    atom_ids = [e.findtext(f"{{{ATOM}}}id") for e in atom.findall(f"{{{ATOM}}}entry")]
    rss_ids = [i.findtext("guid") for i in rss_.findall("channel/item")]
    assert len(atom_ids) == n and atom_ids == rss_ids                        # same items, same order
    assert len(set(atom_ids)) == n                                           # no id twice
    assert all(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", i) for i in atom_ids)
    for entry in atom.findall(f"{{{ATOM}}}entry"):                        # every HTML field is safe
        for field in ("summary", "content"):
            el = entry.find(f"{{{ATOM}}}{field}")
            if el is not None and el.text and el.get("type") == "html":
                assert_safe_html(el.text)
    for name in ("atom.xml", "rss.xml"):                                    # no local path leaks
        assert str(CORPUS).encode() not in (pub / name).read_bytes()
    # and a second refresh of 347 unchanged sources writes nothing
    before = mtimes(pub)
    r = cli("refresh", cwd=tmp_path)
    assert "nothing changed" in r.stdout and mtimes(pub) == before


def test_sources_are_fetched_concurrently(tmp_path, feed_server):
    import threading

    # each response waits until all three requests are in flight: only a concurrent refresh gets
    # past the barrier (a sequential one would break it and serve an error page instead)
    barrier = threading.Barrier(3, timeout=20)

    def handler(name):
        def serve(h):
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                h.send_error(500, "not concurrent")
                return
            send(h, rss([{"title": f"From {name}", "link": f"https://{name}.example/1", "guid": name}]).encode())
        return serve

    for name in ("a", "b", "c"):
        feed_server.handlers[f"/{name}.xml"] = handler(name)
    write_config(tmp_path, [{"name": n, "url": feed_server.url(f"/{n}.xml")} for n in ("a", "b", "c")])
    refresh(tmp_path)
    assert sorted(published(tmp_path / "public").titles()) == ["From a", "From b", "From c"]
