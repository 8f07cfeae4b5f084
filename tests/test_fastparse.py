"""fastparse.parse_fast against parse.parse_feed: the same normalised items, or None.

The contract: for every document where ``parse_fast`` returns a ParsedFeed, normalising its
entries gives exactly the Items that normalising ``parse_feed``'s entries gives, and the feed's
title, link, id, ttl and warning are the same. Checked on every file of the shared corpus, on a
generated bench corpus, on crafted documents for each feedparser quirk the fast path reproduces,
and on seeded random documents. The fast path must also be *taken* where it should be (a test
that passes because everything falls back would prove nothing).
"""

from __future__ import annotations

import random
import subprocess
import sys
import tracemalloc
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path

import feedparser
import pytest

from feedsvc.errors import ParseError
from feedsvc.items.normalise import SourceContext, normalise
from feedsvc.model import Origin, ParsedFeed
from feedsvc.parsing import fast as fastparse
from feedsvc.parsing import feedparser_path as parse

from conftest import CORPUS, corpus_files

URL = "https://feeds.example.org/blog/feed.xml"
NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
BENCH = CORPUS.parent / "bench" / "make_corpus.py"

# Reviewed differences between the fast path and parse_feed, by corpus path: none so far. An entry
# here marks the file's comparison as an expected failure (strict: it fails once the difference
# is gone, so the entry gets removed), and needs its reason.
INTENDED_DIFFERENCES: dict[str, str] = {}

# How many corpus files take the fast path (measured when this test was written; a drop means a
# regression in what parse_fast accepts). The rest fall back on purpose: JSON Feed, gzip, DOCTYPEs,
# encodings feedparser would have to guess, expat errors (feedparser's loose parser), Atom
# entry documents, dates only feedparser's rarer parsers read, MathML/SVG, xhtml:body, ...
MIN_FAST_REAL = 113     # of the 124 files in real/: the other 11 are 7 JSON Feeds, 2 without an
                        # encoding declaration in latin-1 (chardet), a date in Italian, MathML
MIN_FAST_ALL = 278      # of all 347 files


CORPUS_FILES = corpus_files()


def _items(pf: ParsedFeed) -> list[object]:
    ctx = SourceContext(name="src", origin=Origin(title=pf.title, link=URL, id=pf.id, home=pf.link),
                        base_url=URL, site_url="http://127.0.0.1:8080/")
    return [normalise(e, ctx, NOW) for e in pf.entries]


def assert_same(data: bytes, headers: dict[str, str] | None = None, *, max_entries: int = 500,
                must_be_fast: bool = False) -> ParsedFeed | None:
    """Run both parsers; when the fast path is taken, its result must equal parse_feed's."""
    fast = fastparse.parse_fast("src", data, URL, headers, max_entries=max_entries)
    if fast is None:
        assert not must_be_fast, "parse_fast fell back to feedparser"
        return None
    try:
        slow = parse.parse_feed("src", data, URL, headers, max_entries=max_entries)
    except ParseError as exc:  # pragma: no cover - a failure message
        pytest.fail(f"parse_fast accepted a document parse_feed rejects: {exc}")
    for name in ("title", "link", "id", "ttl_seconds", "warning"):
        assert getattr(fast, name) == getattr(slow, name), name
    assert len(fast.entries) == len(slow.entries)
    for i, (a, b) in enumerate(zip(fast.entries, slow.entries)):
        for f in fields(a):
            assert getattr(a, f.name) == getattr(b, f.name), f"entry {i}: RawEntry.{f.name}"
    assert _items(fast) == _items(slow)
    return fast


# ---------------------------------------------------------------- the shared corpus

@pytest.mark.skipif(not CORPUS_FILES, reason="shared corpus not available")
@pytest.mark.parametrize("path", CORPUS_FILES)
def test_corpus_file_equal_or_fallback(path: str) -> None:
    if path in INTENDED_DIFFERENCES:
        pytest.xfail(INTENDED_DIFFERENCES[path])
    assert_same((CORPUS / path).read_bytes())


@pytest.mark.skipif(not CORPUS_FILES, reason="shared corpus not available")
def test_fast_path_taken_on_the_corpus() -> None:
    fast = [p for p in CORPUS_FILES
            if fastparse.parse_fast("src", (CORPUS / p).read_bytes(), URL) is not None]
    real = [p for p in fast if p.startswith("real/")]
    assert len(real) >= MIN_FAST_REAL, sorted(set(p for p in CORPUS_FILES if p.startswith("real/")) - set(real))
    assert len(fast) >= MIN_FAST_ALL


@pytest.mark.skipif(not CORPUS_FILES, reason="shared corpus not available")
def test_corpus_with_http_content_types() -> None:
    """Servers' Content-Type changes feedparser's encoding rules and its bozo warning."""
    checked = 0
    for path in CORPUS_FILES[::7]:
        data = (CORPUS / path).read_bytes()
        for ctype in ("text/xml", "application/rss+xml; charset=utf-8", "text/html"):
            checked += assert_same(data, {"content-type": ctype}) is not None
    assert checked > 60


# ---------------------------------------------------------------- the bench corpus

@pytest.fixture(scope="module")
def bench_feeds(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    if not BENCH.exists():
        pytest.skip("../shared/bench is not available")
    out = tmp_path_factory.mktemp("bench")
    subprocess.run([sys.executable, str(BENCH), "12", "20", str(out)], check=True,
                   capture_output=True, timeout=120)
    feeds = sorted((out / "feeds").glob("*.xml"))
    assert len(feeds) == 12
    return feeds


def test_bench_corpus_equal_and_fast(bench_feeds: list[Path]) -> None:
    for path in bench_feeds:
        pf = assert_same(path.read_bytes(), must_be_fast=True)
        assert pf is not None and len(pf.entries) == 20


def test_bench_corpus_max_entries(bench_feeds: list[Path]) -> None:
    pf = assert_same(bench_feeds[0].read_bytes(), max_entries=3, must_be_fast=True)
    assert pf is not None and len(pf.entries) == 3


# ---------------------------------------------------------------- not clean: None, safely

def test_doctype_and_entities_fall_back() -> None:
    doc = (b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY who "World">]>\n'
           b"<rss version=\"2.0\"><channel><title>Hello &who;</title>"
           b"<item><title>x</title></item></channel></rss>")
    assert fastparse.parse_fast("src", doc, URL) is None
    plain_doctype = doc.replace(b' [<!ENTITY who "World">]', b"").replace(b"&who;", b"")
    assert fastparse.parse_fast("src", plain_doctype, URL) is None


def test_external_entity_falls_back_without_reading_it(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    doc = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]>'
           f'<rss version="2.0"><channel><title>&x;</title></channel></rss>').encode()
    assert fastparse.parse_fast("src", doc, URL) is None


def test_not_well_formed_falls_back() -> None:
    for doc in (b'<rss version="2.0"><channel><title>a</channel></rss>',
                b'<rss version="2.0"><channel><title>a &nbsp; b</title></channel></rss>',
                b'<rss version="2.0"><channel><item><x:y/></item></channel></rss>',
                b"", b"\x00\x01 not xml", b'<rss version="2.0"><channel>'):
        assert fastparse.parse_fast("src", doc, URL) is None


def test_billion_laughs_is_not_expanded() -> None:
    lols = "".join(f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    doc = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol0 "lol">{lols}]>'
           f'<rss version="2.0"><channel><title>&lol9;</title></channel></rss>').encode()
    tracemalloc.start()
    try:
        assert fastparse.parse_fast("src", doc, URL) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000   # 10**9 "lol"s would be gigabytes


def test_other_documents_fall_back() -> None:
    assert fastparse.parse_fast("src", b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', URL) is None
    assert fastparse.parse_fast("src", b"<html><body>not a feed</body></html>", URL) is None
    atom_entry = b'<entry xmlns="http://www.w3.org/2005/Atom"><title>t</title></entry>'
    assert fastparse.parse_fast("src", atom_entry, URL) is None
    guessed = '<rss version="2.0"><channel><title>caf\u00e9</title></channel></rss>'.encode("latin-1")
    assert fastparse.parse_fast("src", guessed, URL) is None   # feedparser would ask chardet


# ---------------------------------------------------------------- feedparser's quirks, reproduced

RSS = ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
       'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
       'xmlns:atom="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/" '
       'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
       'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>'
       '<title>Feed</title><link>https://example.org/</link>{head}{items}</channel></rss>')
ATOM = ('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:media="http://search.yahoo.com/mrss/"{attrs}><title>Atom</title><id>urn:feed</id>'
        '{head}{entries}</feed>')


def rss(*items: str, head: str = "") -> bytes:
    return RSS.format(head=head, items="".join(f"<item>{i}</item>" for i in items)).encode("utf-8")


def atom(*entries: str, head: str = "", attrs: str = "") -> bytes:
    return ATOM.format(head=head, attrs=attrs,
                       entries="".join(f"<entry>{e}</entry>" for e in entries)).encode("utf-8")


QUIRKS = {
    # summary vs content: order, duplicates, content:encoded copied into an absent summary
    "description then content:encoded": rss("<description>short</description><content:encoded><![CDATA[<p>long</p>]]></content:encoded>"),  # noqa: E501
    "content:encoded then description": rss("<content:encoded><![CDATA[<p>long</p>]]></content:encoded><description>short</description>"),  # noqa: E501
    "content:encoded only (summary dedupe)": rss("<title>t</title><content:encoded><![CDATA[<p>same</p>]]></content:encoded>"),
    "two descriptions: the second is content": rss("<description>one</description><description>two &lt;b&gt;</description>"),
    "description + itunes:summary": rss("<description>d</description><itunes:summary>s &amp; t</itunes:summary>"),
    "media:description in a group": rss("<title>t</title><media:group><media:description>md</media:description></media:group>"),
    # titles: HTML guessing in RSS, the first non-empty title wins, media:title
    "rss title that looks like html": rss("<title>Caf&amp;eacute; &lt;b&gt;bold&lt;/b&gt;</title>"),
    "rss title with an unknown tag": rss("<title>a &lt;/blink&gt; b</title>"),
    "empty title then title": rss("<title></title><title>second</title>"),
    "title then media:title": rss("<title>main</title><media:group><media:title>media</media:title></media:group>"),
    "media:title only": rss("<media:title>only media</media:title><link>https://example.org/m</link>"),
    # text repairs: utf-8 read as latin-1, C1 controls as windows-1252, whitespace
    "mojibake repaired": rss("<title>Ã©tÃ© Ã  Paris</title><description>dÃ©jÃ  vu</description>"),
    "C1 controls as cp1252": rss("<title>it&#146;s &#150; ok</title>"),
    "whitespace and nbsp stripped": rss("<title>\n  \u00a0spaced\u00a0 </title>"),
    # links, guids and permalinks
    "guid permalink before link": rss("<guid>https://example.org/p/1</guid><link>https://example.org/1</link>"),
    "guid permalink, no link": rss("<guid>https://example.org/p/2</guid><title>t</title>"),
    "guid isPermaLink false": rss('<guid isPermaLink="false">https://example.org/p/3</guid>'),
    "guid isPermaLink False (case)": rss('<guid isPermaLink="False">https://example.org/p/4</guid>'),
    "guid isPermaLink True is not 'true'": rss('<guid isPermaLink="True">https://example.org/p/6</guid><title>t</title>'),
    "relative guid and link": rss("<guid>p/5</guid><link>/post/5</link>"),
    "link with &amp;amp;": rss("<link>https://example.org/?a=1&amp;amp;b=2&amp;c;</link>"),
    "atom:link alternate in an item": rss('<atom:link rel="alternate" type="text/html" href="https://example.org/alt"/><title>t</title>'),
    "extra slashes after scheme": rss("<link>https:////example.org/x</link>"),
    # authors
    "author email (Name)": rss("<author>jane@example.org (Jane Doe)</author>"),
    "author email only": rss("<author>jane@example.org</author>"),
    "dc:creator twice + author": rss("<dc:creator>A</dc:creator><dc:creator>B</dc:creator><author>a@b.org (A)</author>"),
    "itunes:author": rss("<itunes:author>Pod Caster</itunes:author>"),
    # dates
    "rfc822 with zone names": rss("<pubDate>Thu, 09 Jan 2025 08:00:00 PST</pubDate><dc:date>2025-01-09</dc:date>"),
    "two-digit year, no seconds": rss("<pubDate>Wed, 1 Jan 25 10:30 +0000</pubDate>"),
    "w3dtf drops +hhmm minutes": rss("<dc:date>2025-01-14T06:22:44+0530</dc:date>"),
    "empty pubDate": rss("<pubDate></pubDate><title>t</title>"),
    # categories and enclosures
    "categories with domain, dc:subject, keywords": rss(
        '<category domain="d">one</category><category>one</category><dc:subject>two</dc:subject>'
        "<itunes:keywords>k1, k2,k1</itunes:keywords><media:keywords>m1,m2</media:keywords>"),
    "enclosures": rss('<enclosure url="https://example.org/a.mp3" length="12" type="Audio/MPEG"/>'
                      '<enclosure url="/b.mp3" length="x"/><enclosure url=""/>'),
    # inline markup in text constructs (serialised as xhtml by feedparser)
    "unescaped html in description": rss("<description><p>Hello <b>bold</b> <a href='/x'>link</a></p></description>"),
    "div-wrapped html in content:encoded": rss("<content:encoded><div>typepad <em>style</em></div></content:encoded>"),
    # feed level: ttl, syndication, image, title after items
    "ttl": rss("<title>t</title>", head="<ttl>30</ttl>"),
    "sy:updatePeriod": rss("<title>t</title>", head="<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>"),  # noqa: E501
    "channel image before title": rss("<title>t</title>", head="<image><title>Image title</title><url>https://example.org/i.png</url><link>https://example.org/</link></image>"),
    "atom:link self in channel": rss("<title>t</title>", head='<atom:link rel="self" href="https://example.org/feed"/>'),
    # Atom
    "atom text/html/xhtml": atom('<title type="html">A &amp;lt;b&amp;gt;</title><id>urn:1</id>'
                                 '<summary type="text">a &lt; b</summary>'
                                 '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>x <b>y</b></p></div></content>'),  # noqa: E501
    "atom content before summary": atom("<id>urn:2</id><content type='html'>&lt;p&gt;c&lt;/p&gt;</content><summary>s</summary>"),
    "atom id before link is a permalink": atom('<id>https://example.org/e/3</id><link href="https://example.org/3"/>'),
    "atom link before id": atom('<link href="https://example.org/4"/><id>https://example.org/e/4</id>'),
    "atom id only": atom("<id>https://example.org/e/5</id><title>t</title>"),
    "atom links: enclosure, no type, other type": atom(
        '<id>urn:6</id><link rel="enclosure" href="https://example.org/a.mp3" length="5"/>'
        '<link rel="alternate" type="application/pdf" href="https://example.org/a.pdf"/><link href="/rel"/>'),
    "atom authors": atom("<id>urn:7</id><author><name>A</name><email>a@x.org</email><uri>https://a.example/</uri></author>"
                         "<author><email>only@x.org</email></author>"),
    "atom categories": atom('<id>urn:8</id><category term="t1" label="L1"/><category term="" label="L2"/>'
                            '<category scheme="s">text</category>'),
    "atom xml:base on content leaks to later entries": atom(
        '<id>urn:9</id><content type="html" xml:base="https://cb.example/dir/">&lt;a href="x"&gt;x&lt;/a&gt;</content>',
        '<id>rel-id</id><link href="rel/link"/><author><name>n</name><uri>me</uri></author>'),
    "atom xml:base on the feed": atom('<id>e</id><link href="p"/>', attrs=' xml:base="https://fb.example/f/"'),
    "atom base64 content": atom('<id>urn:10</id><content type="text/plain" mode="base64">SGVsbG8gd29ybGQ=</content>'),
    "atom non-text content type": atom('<id>urn:11</id><content type="image/png">iVBORw0KGgo=</content>'),
    "atom content src": atom('<id>urn:12</id><content type="text/html" src="https://example.org/c"/>'),
    "atom source": atom("<id>urn:13</id><title>entry</title><source><title>src</title><id>urn:src</id>"
                        '<link href="https://src.example/"/><updated>2025-01-01T00:00:00Z</updated></source>'),
    "youtube-like media group": atom("<id>yt:1</id><title>video</title>"
                                     "<media:group><media:title>video</media:title><media:description>desc</media:description>"
                                     '<media:thumbnail url="https://i.example/t.jpg"/></media:group>'),
}


@pytest.mark.parametrize("name", list(QUIRKS))
def test_quirk_equal_and_fast(name: str) -> None:
    assert_same(QUIRKS[name], must_be_fast=True)


def test_rdf_rss10() -> None:
    doc = (b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
           b'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
           b'<channel rdf:about="https://example.org/"><title>R</title><link>https://example.org/</link></channel>'
           b'<item rdf:about="https://example.org/1"><title>one</title><link>https://example.org/1</link>'
           b"<dc:date>2025-01-01T10:00:00+01:00</dc:date><dc:creator>C</dc:creator></item></rdf:RDF>")
    assert_same(doc, must_be_fast=True)


@pytest.mark.parametrize("headers,warned", [
    ({"content-type": "text/xml"}, True),             # us-ascii by RFC 3023, but not ASCII
    ({"content-type": "text/xml; charset=utf-8"}, False),
    ({"content-type": "application/atom+xml"}, False),
    ({"content-type": "text/html; charset=utf-8"}, True),   # not an XML media type
    ({"content-type": "application/octet-stream"}, True),
])
def test_http_content_type_and_warnings(headers: dict[str, str], warned: bool) -> None:
    pf = assert_same(rss("<title>caf\u00e9</title>"), headers, must_be_fast=True)
    assert pf is not None and bool(pf.warning) is warned


def test_declared_latin1() -> None:
    doc = rss("<title>caf\u00e9 cr\u00e8me</title>").replace(b'encoding="utf-8"', b'encoding="iso-8859-1"')
    assert_same(doc.decode("utf-8").encode("latin-1"), must_be_fast=True)


def test_bom_and_leading_whitespace() -> None:
    assert_same(b"\xef\xbb\xbf" + rss("<title>bom</title>"), must_be_fast=True)
    assert_same(b"\n\n  " + rss("<title>ws</title>"), must_be_fast=True)


def test_unparsed_date_falls_back() -> None:
    # feedparser would try its other date formats; the fast path does not guess
    assert fastparse.parse_fast("src", rss("<pubDate>mer, 16 nov 2022 00:38:15 +0100</pubDate>"), URL) is None


# ---------------------------------------------------------------- random documents

_TEXT = ["Hello", "  padded  ", "", "Caf\u00e9 &amp; cr\u00e8me", "Ã©tÃ© mojibake", "&lt;b&gt;b&lt;/b&gt;",
         "<![CDATA[<p>para</p>]]>", "&#150; dash", "x &amp;amp; y", "\u201cq\u201d", "<![CDATA[a & b]]>"]
_URL = ["https://example.org/a?x=1&amp;y=2", "/rel/path", "rel", "tag:example.org,2024:1", "", "https:///x",
        " https://sp.example/ ", "https://h.example/?", "mailto:a@b.c"]
_DATE = ["Tue, 14 Jan 2025 06:22:44 +0100", "2025-01-14T06:22:44Z", "2025-01-14", "",
         "14 Jan 2025 06:22:44 EST", "2025-01-14T06:22:44.5-05:30"]
_WHO = ["Jane", "jane@example.com (Jane)", "j@example.com", ""]
_PERMA = ["", ' isPermaLink="false"']
_REL = ["", ' rel="enclosure"']
_BASE = ["", ' xml:base="https://b.example/d/"']


def _random_rss_item(r: random.Random) -> str:
    choices = [
        lambda: f"<title>{r.choice(_TEXT)}</title>", lambda: f"<link>{r.choice(_URL)}</link>",
        lambda: f"<description>{r.choice(_TEXT)}</description>",
        lambda: f"<content:encoded>{r.choice(_TEXT)}</content:encoded>",
        lambda: f"<guid{r.choice(_PERMA)}>{r.choice(_URL)}</guid>",
        lambda: f"<pubDate>{r.choice(_DATE)}</pubDate>", lambda: f"<dc:date>{r.choice(_DATE)}</dc:date>",
        lambda: f"<dc:creator>{r.choice(_WHO)}</dc:creator>", lambda: f"<author>{r.choice(_WHO)}</author>",
        lambda: f"<category>{r.choice(_TEXT)}</category>", lambda: f"<media:title>{r.choice(_TEXT)}</media:title>",
        lambda: f"<itunes:summary>{r.choice(_TEXT)}</itunes:summary>",
        lambda: f'<enclosure url="{r.choice(_URL)}" length="{r.choice(["1", "x"])}"/>',
        lambda: f'<atom:link rel="{r.choice(["alternate", "enclosure"])}" href="{r.choice(_URL)}"/>',
        lambda: f"<description><p>x <b>{r.choice(_TEXT)}</b></p></description>",
    ]
    return "".join(r.choice(choices)() for _ in range(r.randint(0, 9)))


def _random_atom_entry(r: random.Random) -> str:
    kind = lambda: r.choice(["", ' type="html"', ' type="text"', ' type="xhtml"'])  # noqa: E731
    choices = [
        lambda: f"<title{kind()}>{r.choice(_TEXT)}</title>", lambda: f"<id>{r.choice(_URL)}</id>",
        lambda: f'<link{r.choice(_REL)} href="{r.choice(_URL)}"/>',
        lambda: f"<summary{kind()}>{r.choice(_TEXT)}</summary>",
        lambda: f"<content{kind()}{r.choice(_BASE)}>{r.choice(_TEXT)}</content>",
        lambda: f"<published>{r.choice(_DATE)}</published>", lambda: f"<updated>{r.choice(_DATE)}</updated>",
        lambda: f"<author><name>{r.choice(_WHO)}</name><uri>{r.choice(_URL)}</uri></author>",
        lambda: f'<category term="{r.choice(["a", "", "C &amp; D"])}"/>',
        lambda: '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>p</p></div></content>',
    ]
    return "".join(r.choice(choices)() for _ in range(r.randint(0, 8)))


@pytest.mark.parametrize("seed", range(4))
def test_random_documents(seed: int) -> None:
    r = random.Random(seed)
    fast = 0
    for _ in range(60):
        if r.random() < 0.6:
            doc = rss(*(_random_rss_item(r) for _ in range(r.randint(0, 3))),
                      head=r.choice(["", "<ttl>5</ttl>", "<title>Second</title>"]))
        else:
            doc = atom(*(_random_atom_entry(r) for _ in range(r.randint(0, 3))),
                       attrs=r.choice(["", ' xml:base="https://fb.example/"']))
        headers = r.choice([None, {"content-type": "text/xml"}])
        fast += assert_same(doc, headers) is not None
    assert fast >= 40


# ---------------------------------------------------------------- the tables copied from feedparser

def test_feedparser_uses_expat() -> None:
    """parse_fast drives expat as feedparser's strict parser does; feedparser would prefer a
    libxml2 SAX driver if one were installed, and its documents would then be parsed differently."""
    import xml.sax
    import xml.sax.expatreader

    saxparser = xml.sax.make_parser(feedparser.api.PREFERRED_XML_PARSERS)
    assert isinstance(saxparser, xml.sax.expatreader.ExpatParser)


def test_tables_match_the_installed_feedparser() -> None:
    fp = feedparser
    mixin = fp.mixin._FeedParserMixin
    handlers = {n.split("_", 2)[2] for n in dir(mixin) if n.startswith(("_start_", "_end_"))}
    assert fastparse.FP_HANDLER_KEYS == handlers
    assert fastparse._MATCHNS == {k.lower(): v for k, v in mixin.namespaces.items()}
    assert fastparse._ACCEPTABLE_ELEMENTS == fp.sanitizer._HTMLSanitizer.acceptable_elements
    assert fastparse._ACCEPTABLE_URI_SCHEMES == fp.urls.ACCEPTABLE_URI_SCHEMES
    assert fastparse._CP1252 == fp.html._cp1252
    assert fastparse._CAN_BE_RELATIVE_URI == mixin.can_be_relative_uri
    assert fastparse._HTML_TYPES == mixin.html_types


# ---------------------------------------------------------------- bugs fixed in the shared conversion

def test_compact_utc_offset_keeps_its_minutes() -> None:
    """W3C-DTF with +0530 (no colon): feedparser keeps the hours and drops the minutes; the
    shared conversion reads the date as written. Both paths agree on the right instant."""
    doc = (b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
           b'<title>t</title><id>urn:x-t:f</id><updated>2024-01-01T00:00:00Z</updated>'
           b'<entry><id>urn:x-t:1</id><title>one</title><updated>2024-01-01T10:00:00+0530</updated>'
           b'<published>2024-01-01T09:00:00-0330</published></entry></feed>')
    fast = assert_same(doc, must_be_fast=True)
    assert fast is not None
    e = fast.entries[0]
    assert e.updated == datetime(2024, 1, 1, 4, 30, tzinfo=timezone.utc)
    assert e.published == datetime(2024, 1, 1, 12, 30, tzinfo=timezone.utc)


def test_is_permalink_is_judged_per_item() -> None:
    """Two items with the same guid text, one marked isPermaLink="false": the other is still a
    permalink (it was judged by the text, so both lost it)."""
    doc = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://x.example/</link>'
           b'<description>d</description>'
           b'<item><title>a</title><guid isPermaLink="false">http://x.example/1</guid></item>'
           b'<item><title>b</title><guid>http://x.example/1</guid></item>'
           b'<item><title>c</title><guid isPermaLink="true">http://x.example/2</guid></item>'
           b'</channel></rss>')
    fast = assert_same(doc, must_be_fast=True)
    assert fast is not None
    assert [e.guid_is_permalink for e in fast.entries] == [False, True, True]
