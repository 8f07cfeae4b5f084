"""A web page where a feed was expected: recognise it, read its ``<title>`` and the feeds it
advertises (``<link rel="alternate">`` with a feed type), and say so in one line instead of the
XML parser's "mismatched tag". Pure (lxml's HTML parser, no network)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/json",
              "application/rdf+xml", "application/x.atom+xml", "text/xml", "application/xml")
_HTML = re.compile(rb"^\s*(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html|<head|<body)", re.I | re.S)


@dataclass(frozen=True, slots=True)
class Advertised:
    url: str                     # absolute
    title: str | None
    type: str


@dataclass(frozen=True, slots=True)
class Page:
    title: str | None
    feeds: tuple[Advertised, ...]


def looks_like_html(content: bytes, content_type: str = "") -> bool:
    head = content[:2048].lstrip(b"\xef\xbb\xbf")
    return "html" in content_type.lower() or bool(_HTML.match(head))


def read_page(content: bytes, base: str) -> Page:
    """The page's title and the feeds it advertises, in document order, duplicates dropped."""
    from lxml import html as lhtml

    try:
        doc = lhtml.fromstring(content)
    except Exception:  # noqa: BLE001 - not even HTML: nothing to say about it
        return Page(None, ())
    title = " ".join("".join(doc.xpath("//title//text()")).split()) or None
    base = (doc.xpath("//base/@href") or [base])[0]
    feeds: list[Advertised] = []
    seen: set[str] = set()
    for link in doc.xpath("//link[@href]"):
        rels = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        if "alternate" not in rels or kind not in FEED_TYPES:
            continue
        url = urljoin(base, link.get("href").strip())
        if url.startswith(("http://", "https://")) and url not in seen:
            seen.add(url)
            feeds.append(Advertised(url, " ".join((link.get("title") or "").split()) or None, kind))
    return Page(title, tuple(feeds))


def not_a_feed(content: bytes, base: str) -> str:
    """The message for an HTML page given as a feed."""
    page = read_page(content, base)
    named = f" (“{page.title}”)" if page.title else ""
    if not page.feeds:
        return (f"this is an HTML page{named}, not a feed, and it advertises none: "
                "try 'feedsvc sources discover URL'")
    listed = "; ".join(f"{f.url}" + (f" (“{f.title}”)" if f.title else "") for f in page.feeds[:5])
    return (f"this is an HTML page{named}, not a feed; it advertises {len(page.feeds)}: {listed} "
            f"— to subscribe, set url: {page.feeds[0].url}")
