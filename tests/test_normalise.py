"""Raw entry → Item: plain-text titles, sanitised HTML, absolute links, UTC dates, stable ids and
hashes. Pure: no files, no network, no clock (``now`` is a parameter)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from feedsvc.items.normalise import (
    SourceContext,
    content_hash,
    is_iri,
    normalise,
    normalise_origin,
    plain_text,
    published_id,
    sanitise_html,
)
from feedsvc.model import Enclosure, Origin, Person

from helpers_feedsvc import T0, item, raw_entry

XML_CHARS = re.compile("^[\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*$")


# ---- titles -----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, is_html, want", [
    ("Ep <b>1</b> &amp; more", True, "Ep 1 & more"),
    ("  Spaces\n\tand\nnewlines  ", False, "Spaces and newlines"),
    ("Caf&eacute; &#8211; &lt;tags&gt;", True, "Café – <tags>"),
    ("<script>alert(1)</script>Safe", True, "Safe"),
    ("AT&T <rocks>", False, "AT&T <rocks>"),          # plain text stays as written
])
def test_titles_are_plain_text(raw, is_html, want):
    assert item(title=raw, title_is_html=is_html).title == want


def test_long_titles_are_bounded_and_missing_titles_filled():
    assert len(item(title="word " * 200).title) <= 300
    assert item(title=None, summary="<p>The <b>summary</b> text</p>").title == "The summary text"
    assert item(title=None).title == "Untitled"


# ---- sanitising ------------------------------------------------------------------------------

EVIL = ('<p onclick="steal()">Hello <script>alert(1)</script><b>world</b>'
        '<a href="javascript:alert(2)">js</a> <a href="/rel/page">rel</a>'
        '<img src="pic.png" onerror="bad()"><iframe src="https://evil.example/"></iframe>'
        '<style>body{display:none}</style><a href="JaVaScRiPt:alert(3)">js2</a>'
        '<a href="data:text/html,x">data</a><form action="/x"><input></form></p>')


@pytest.mark.parametrize("field", ["summary", "content"])
def test_html_is_sanitised(field):
    it = item(**{field: EVIL}, base="https://blog.example/posts/feed.xml")
    html = getattr(it, field)
    low = html.lower()
    for bad in ("<script", "alert(", "onclick", "onerror", "javascript:", "<iframe", "<style",
                "display:none", "data:text", "<form", "<input"):
        assert bad not in low, bad
    assert "<b>world</b>" in html                                     # harmless markup kept
    assert 'href="https://blog.example/rel/page"' in html              # relative URLs made absolute
    assert 'src="https://blog.example/posts/pic.png"' in html


def test_sanitise_without_http_base_drops_relative_urls():
    out = sanitise_html('<a href="/x">x</a><img src="y.png">', None)
    assert "/x" not in out and "y.png" not in out


# ---- links, authors, categories, enclosures -----------------------------------------------------

def test_links_are_resolved_and_only_http_survives():
    assert item(link="/a/b?c=1", base="https://ex.org/feed/").link == "https://ex.org/a/b?c=1"
    assert item(link="javascript:alert(1)").link is None
    assert item(link="ftp://ex.org/file").link is None
    assert item(link="https://ex.org/with space").link == "https://ex.org/with%20space"


def test_permalink_guid_stands_in_for_a_missing_link():
    it = item(guid="https://ex.org/story", guid_is_permalink=True, link=None)
    assert it.link == "https://ex.org/story"


def test_authors_categories_enclosures():
    it = item(authors=(Person("Ann <b>Lee</b>", email="ann@example.org"), Person("  "), Person("Bob")),
              categories=("news", "news", " tech ", ""),
              enclosures=(Enclosure("/ep1.mp3", "audio/mpeg", 1234), Enclosure("javascript:x()"),
                          Enclosure("https://cdn.example/v.mp4", None, 0)),
              base="https://pod.example/feed.xml")
    assert [(a.name, a.email) for a in it.authors] == [("Ann Lee", "ann@example.org"), ("Bob", None)]
    assert it.categories == ("news", "tech")
    assert it.enclosures == (Enclosure("https://pod.example/ep1.mp3", "audio/mpeg", 1234),
                             Enclosure("https://cdn.example/v.mp4", None, None))


# ---- dates ------------------------------------------------------------------------------------

def test_dates_are_aware_utc_and_future_dates_dropped():
    pub = datetime(2024, 4, 30, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    it = item(published=pub, updated=pub + timedelta(hours=1))
    assert it.published == datetime(2024, 4, 30, 7, 0, tzinfo=timezone.utc)
    assert it.published.utcoffset() == timedelta(0) and it.updated.utcoffset() == timedelta(0)
    assert item(published=datetime(2024, 4, 30, 7, 0)).published == it.published   # naive = UTC
    far = T0 + timedelta(days=30)
    it = item(published=far, updated=far)
    assert it.published is None and it.updated is None
    near = T0 + timedelta(hours=2)                     # clock skew within a day is believed
    assert item(published=near).published == near


# ---- identity --------------------------------------------------------------------------------

def test_entry_key_prefers_guid_then_link_then_hash():
    assert item(guid="abc", link="https://ex.org/1").key == "g:abc"
    # the link canonicalised, fragment kept: entries of one page told apart by their fragment are
    # distinct entries (changed deliberately: the fragment used to be dropped here)
    assert item(link="https://EX.org/1?utm_source=x#top").key == "l:https://ex.org/1#top"
    assert item(link="https://EX.org/1?utm_source=x").key == "l:https://ex.org/1"     # pinned
    k1 = item(title="Same", published=T0).key
    assert k1.startswith("h:")
    assert item(title="Same", published=T0).key == k1                  # stable
    assert item(title="Same", published=T0 - timedelta(days=1)).key != k1
    assert item(title="Other", published=T0).key != k1


def test_iri_guids_are_published_as_is():
    assert item(guid="https://ex.org/p/1").id == "https://ex.org/p/1"
    assert item(guid="tag:ex.org,2024:1").id == "tag:ex.org,2024:1"
    assert item(guid="urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66").id == \
        "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"


def test_non_iri_guids_get_stable_urn_uuid_ids():
    # pinned: a refactor must not silently change every published id
    assert published_id("sample-feed", "g:alpha-0007", "alpha-0007") == \
        "urn:uuid:16e15180-e240-57f6-99f1-9a4d6a6de431"
    assert published_id("articles", "f:liaison-office.txt", None) == \
        "urn:uuid:5b312df4-66e2-5cc2-a302-cafdb7580cb9"
    a = item(source="one", guid="alpha-0007")
    assert a.id == published_id("one", "g:alpha-0007", "alpha-0007")
    assert item(source="two", guid="alpha-0007").id != a.id             # derived from the source too
    for guid in ("alpha-0007", "post:7", "has space", "12345", "<b>x</b>"):
        it = item(guid=guid)
        assert it.id.startswith("urn:uuid:") and is_iri(it.id), guid
    assert item(guid=None, link="https://ex.org/2").id.startswith("urn:uuid:")


def test_content_hash_is_pinned_and_ignores_updated():
    fields = {"title": "T", "link": "https://e.org/1", "summary": "", "content": "<p>x</p>",
              "authors": [["A", None, None]], "categories": ["c"], "enclosures": [],
              "published": "2024-05-01T12:00:00+00:00"}
    assert content_hash(fields) == "45738f8a4c93bc8c88751390e7adb3d0"
    a = item(guid="x", title="T", content="<p>x</p>", updated=T0)
    b = item(guid="x", title="T", content="<p>x</p>", updated=T0 + timedelta(hours=3))
    assert a.content_hash == b.content_hash
    assert item(guid="x", title="T", content="<p>y</p>").content_hash != a.content_hash
    assert item(guid="x", title="T2", content="<p>x</p>").content_hash != a.content_hash


# ---- local articles -------------------------------------------------------------------------------

def test_local_article_links_to_its_page_and_declared_link_is_a_dedup_key():
    c = SourceContext("articles", Origin("Site"), "http://127.0.0.1:8080/", "http://127.0.0.1:8080/")
    raw = raw_entry(page="articles/articles/a.html", local_path="a.txt", base=None,
                    link="https://Original.example/story?utm_medium=x", content='<img src="p.png">')
    it = normalise(raw, c, T0)
    assert it.link == "http://127.0.0.1:8080/articles/articles/a.html"
    assert it.key == "f:a.txt"
    assert "link:https://original.example/story" in it.dedup_keys
    assert 'src="http://127.0.0.1:8080/articles/articles/p.png"' in it.content


def test_origin_never_publishes_a_file_url_or_a_non_iri_id():
    o = normalise_origin(Origin(title="<b>T</b>\x00", link="file:feeds/x.xml", id="file:feeds/x.xml",
                                home="/home"), "https://ex.org/feed")
    assert o.link is None and o.id is None
    assert o.home == "https://ex.org/home"
    assert o.title == "<b>T</b>"                       # feed titles are plain text, only made safe
    o = normalise_origin(Origin(id="not an iri", link="https://ex.org/feed"), None)
    assert o.id is None and o.link == "https://ex.org/feed"


# ---- XML safety --------------------------------------------------------------------------------

def test_control_characters_and_lone_surrogates_never_survive():
    bad = "A\x00B\x08C\x0bD\x1fE\ud800F\udfffG\ufffe"
    it = item(title=bad, summary=f"<p>{bad}</p>", content=bad, guid=bad, link=f"https://e.org/{bad}",
              authors=(Person(bad, email=bad),), categories=(bad,),
              enclosures=(Enclosure(f"https://e.org/{bad}.mp3", bad),))
    strings = [it.title, it.summary, it.content, it.id, it.link or "", it.authors[0].name,
               it.authors[0].email or "", it.categories[0], it.enclosures[0].url, it.enclosures[0].type or ""]
    for s in strings:
        assert XML_CHARS.match(s), repr(s)
        s.encode("utf-8")                              # no lone surrogates


@settings(max_examples=150, deadline=None)
@given(title=st.text(), body=st.text(), guid=st.text())
def test_any_text_gives_xml_safe_fields(title, body, guid):
    it = item(title=title, content=body, summary=body, guid=guid or None)
    for s in (it.title, it.content, it.summary, it.id):
        assert XML_CHARS.match(s)
    el = etree.Element("x")
    el.text = it.title + it.content                    # lxml refuses anything not XML-safe
    assert is_iri(it.id)


def test_plain_text_of_nothing():
    assert plain_text(None) == "" and plain_text("") == ""


# ---- from feed bytes (parse → normalise) ---------------------------------------------------------

from feedsvc.parsing.feedparser_path import parse_feed  # noqa: E402

FEED_URL = "https://host.example/blog/feed.xml"


def from_feed(body: str, url: str = FEED_URL):
    parsed = parse_feed("src", body.encode("utf-8"), url, {"content-type": "application/rss+xml"})
    c = SourceContext("src", Origin(parsed.title, url, parsed.id, parsed.link), url, "http://127.0.0.1:8080/")
    return parsed, [normalise(e, c, T0) for e in parsed.entries]


def rss_doc(items: str) -> str:
    return ('<?xml version="1.0"?><rss version="2.0"><channel><title>F</title><link>/blog/</link>'
            f'<description>d</description>{items}</channel></rss>')


def test_guids_are_kept_as_written_not_resolved_against_the_feed_url():
    _, items = from_feed(rss_doc('<item><title>a</title><link>/a</link><guid>alpha-0007</guid></item>'
                                 '<item><title>b</title><guid isPermaLink="false">beta-1</guid></item>'))
    assert items[0].key == "g:alpha-0007" and items[0].id.startswith("urn:uuid:")
    assert items[0].link == "https://host.example/a"
    assert items[1].key == "g:beta-1" and items[1].link is None


def test_permalink_guid_detected_whatever_the_element_order():
    for item_xml in ('<item><title>a</title><link>https://proxy.example/1</link>'
                     '<guid isPermaLink="true">https://news.example/s</guid></item>',
                     '<item><title>a</title><link>https://proxy.example/1</link>'
                     '<guid>https://news.example/s</guid></item>',
                     '<item><title>a</title><guid>https://news.example/s</guid>'
                     '<link>https://proxy.example/1</link></item>'):
        _, (it,) = from_feed(rss_doc(item_xml))
        assert "link:https://news.example/s" in it.dedup_keys, item_xml
        assert it.link == "https://proxy.example/1"
    _, (it,) = from_feed(rss_doc('<item><title>a</title><link>https://proxy.example/1</link>'
                                 '<guid isPermaLink="false">https://news.example/s</guid></item>'))
    assert "link:https://news.example/s" not in it.dedup_keys
    assert "id:https://news.example/s" in it.dedup_keys      # still the same story if seen elsewhere


def test_rss_pubdate_is_published_not_updated():
    _, (it,) = from_feed(rss_doc('<item><title>a</title><guid>g</guid>'
                                 '<pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate></item>'))
    assert it.published == datetime(2024, 1, 1, 10, tzinfo=timezone.utc) and it.updated is None


def test_relative_links_resolve_against_xml_base_and_feed_url():
    body = ('<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="/site/">'
            '<title>F</title><id>urn:x</id><updated>2024-01-01T00:00:00Z</updated><link href="./"/>'
            '<entry><id>tag:x,2024:1</id><title>t</title><link href="posts/1"/>'
            '<updated>2024-01-01T00:00:00Z</updated>'
            '<content type="html">&lt;img src="img/p.png"&gt;</content></entry></feed>')
    parsed, (it,) = from_feed(body)
    assert it.link == "https://host.example/site/posts/1"
    assert 'src="https://host.example/site/img/p.png"' in it.content
    assert parsed.link == "https://host.example/site/"
