"""Atom and RSS rendering (pure: stored items + site metadata → bytes) with feedgen.

Rendering is deterministic: the same items give the same bytes (feed-level ``updated`` is the
newest item's date, never the time of the run), so an unchanged round rewrites nothing and
readers' conditional GETs keep getting 304.

This module renders Atom and RSS with feedgen 1.0, with one extension for what feedgen gets
wrong or lacks: Atom enclosures (``link rel="enclosure"`` with type and length), a full
``atom:source`` (id, title, links), RSS ``<enclosure>``/``<source>``, RSS authors (``<author>``
only for one author with an e-mail address, else ``dc:creator``, never both) and the WebSub
``rel="hub"`` link in both formats. Both feeds carry an ``<?xml-stylesheet?>`` for browsers
(templates/feed.xsl). The other formats live beside it: json_feed.py (JSON Feed 1.1),
html.py (index.html, article pages), opml.py (sources.opml); ``render_all`` in __init__.py.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import datetime, timezone
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc import __version__
from feedsvc.config import Site
from feedsvc.errors import PublishError
from feedsvc.items.normalise import clean_text
from feedsvc.model import StoredItem
from feedsvc.output.render.common import SourceInfo, entry_authors, entry_updated, safe_site, second, summary_html

log = logging.getLogger(__name__)

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
FH_NS = "http://purl.org/syndication/history/1.0"   # RFC 5005
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
STYLESHEET = "feed.xsl"
_MARKUP = re.compile(r"<[/!?A-Za-z]")
# a leaf element of the serialised RSS (its text has no "<": lxml escapes it) other than the two
# that hold HTML; group 3 is its text
_PLAIN_LEAF = re.compile(rb"(<(?!description[\s>]|content:encoded[\s>])([A-Za-z][\w:.-]*)(?:\s[^<>]*)?>)([^<]*)(</\2>)")

__all__ = ["build_feed", "render_archive", "render_atom", "render_rss", "render_atom_and_rss", "with_stylesheet"]


# ---- feedgen extension --------------------------------------------------------------------------

class _FeedsvcFeed(BaseExtension):  # type: ignore[misc]  # feedgen has no type stubs
    """Feed-level additions; set ``fg.feedsvc.hub`` for the WebSub hub link, ``links`` for more
    (rel, href, type: RFC 5005's prev-archive, next-archive, current) and ``archive`` for an
    archive document's ``<fh:archive/>``."""

    def __init__(self) -> None:
        self.hub: str | None = None
        self.links: tuple[tuple[str, str, str], ...] = ()
        self.archive = False

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS, "fh": FH_NS} if self.archive else {"dc": DC_NS}

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        if self.hub:
            # feedgen's Atom tree has no namespaces (xmlns is a plain attribute on <feed>)
            etree.SubElement(feed, "link", rel="hub", href=self.hub)
        for rel, href, kind in self.links:
            etree.SubElement(feed, "link", rel=rel, type=kind, href=href)
        if self.archive:
            etree.SubElement(feed, f"{{{FH_NS}}}archive")
        return feed

    def extend_rss(self, rss: etree._Element) -> etree._Element:
        channel = rss.find("channel")
        if self.hub and channel is not None:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", rel="hub", href=self.hub)
        for rel, href, kind in self.links if channel is not None else ():
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", rel=rel, type=kind, href=href)
        return rss


class _FeedsvcEntry(BaseEntryExtension):  # type: ignore[misc]  # feedgen has no type stubs
    """Per-entry data feedgen cannot express; set through ``fe.feedsvc.data``."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        d = self.data
        for enc in d.get("enclosures", ()):
            el = etree.SubElement(entry, "link", rel="enclosure", href=enc.url)
            if enc.type:
                el.set("type", enc.type)
            if enc.length:
                el.set("length", str(enc.length))
        title = entry.find("title")
        if title is not None and title.text and _MARKUP.search(title.text):
            # a plain-text title that looks like markup ("Using </div>"): as escaped HTML it
            # reads the same, and no reader or validator takes it for undeclared HTML
            title.set("type", "html")
            title.text = html.escape(title.text, quote=False)
        src = d.get("source")
        # atom:source names the source feed: its id, title, updated and self link are all
        # expected, so a source without a public feed URL (a file: feed) gets none
        if src is not None and src.get("url"):
            el = etree.SubElement(entry, "source")
            etree.SubElement(el, "id").text = src["id"]
            etree.SubElement(el, "title").text = src["title"]
            etree.SubElement(el, "updated").text = src["updated"].isoformat()
            if src.get("home"):
                etree.SubElement(el, "link", rel="alternate", href=src["home"])
            etree.SubElement(el, "link", rel="self", href=src["url"])
        return entry

    def extend_rss(self, entry: etree._Element) -> etree._Element:
        d = self.data
        # RSS <author> is one e-mail address; the W3C validator warns when an item has both
        # <author> and dc:creator, so: one author with an address → <author>, else dc:creator
        authors = d.get("authors", ())
        for el in entry.findall("author"):
            entry.remove(el)
        if len(authors) == 1 and authors[0].email:
            etree.SubElement(entry, "author").text = f"{authors[0].email} ({authors[0].name})"
        else:
            for p in authors:
                etree.SubElement(entry, f"{{{DC_NS}}}creator").text = p.name
        encs = d.get("enclosures", ())
        if encs:
            enc = encs[0]  # RSS allows one enclosure per item
            etree.SubElement(entry, "enclosure", url=enc.url, length=str(enc.length or 0),
                             type=enc.type or "application/octet-stream")
        src = d.get("source")
        # <source url> names the source's feed; a feed read from a file has no public URL, so
        # its home page stands in
        if src is not None and (src.get("url") or src.get("home")):
            etree.SubElement(entry, "source", url=src.get("url") or src["home"]).text = src["title"]
        return entry


# ---- rendering (pure) ---------------------------------------------------------------------------

def build_feed(site: Site, items: list[StoredItem], sources: dict[str, SourceInfo],
               self_url: str, self_type: str = "application/atom+xml",
               links: tuple[tuple[str, str, str], ...] = (), archive: bool = False) -> FeedGenerator:
    """``links``: more feed links (rel, absolute href, type); ``archive``: an RFC 5005 archive
    document (``<fh:archive/>``, no WebSub hub: it is not subscribed to)."""
    site, sources = safe_site(site, sources)
    fg = FeedGenerator()
    fg.register_extension("feedsvc", _FeedsvcFeed, _FeedsvcEntry, atom=True, rss=True)
    fg.feedsvc.hub = None if archive else site.websub_hub
    fg.feedsvc.links = links
    fg.feedsvc.archive = archive
    fg.id(site.id)
    fg.title(site.title)
    fg.subtitle(site.description)
    fg.link(href=self_url, rel="self", type=self_type)
    fg.link(href=site.url, rel="alternate", type="text/html")  # last: feedgen takes it as RSS <link>
    fg.author({"name": site.author or site.title})
    if site.language:
        fg.language(site.language)
    fg.generator("feedsvc", __version__, "https://github.com/feedsvc/feedsvc")
    updated = entry_updated(items)
    newest = max(updated, default=EPOCH)
    source_updated: dict[str, datetime] = {}      # atom:source/updated: its newest entry here
    for s, upd in zip(items, updated):
        source_updated[s.item.source] = max(upd, source_updated.get(s.item.source, EPOCH))
    fg.updated(newest)
    fg.lastBuildDate(second(newest))
    fg.pubDate(second(max((s.date for s in items), default=EPOCH)))
    for s, entry_upd in zip(items, updated):
        item = s.item
        fe = fg.add_entry(order="append")
        fe.id(item.id)
        fe.guid(item.id, permalink=bool(item.link) and item.id == item.link)
        fe.title(item.title)
        if item.link:
            fe.link(href=item.link, rel="alternate", type="text/html")
        # whole seconds in every format: RSS dates have no fractions, and readers compare them
        fe.published(second(s.date))
        fe.updated(entry_upd)
        authors = entry_authors(item, site, sources)
        for p in authors:
            a: dict[str, str] = {"name": p.name}
            if p.email:
                a["email"] = p.email
            if p.uri:
                a["uri"] = p.uri
            fe.author(a)
        summary = summary_html(item)
        if summary:
            fe.summary(summary, type="html")
        if item.content:
            fe.content(item.content, type="html")
        elif not item.link:
            fe.content(summary or html.escape(item.title), type="html")
        for c in item.categories:
            fe.category(term=c)
        source = None
        info = sources.get(item.source)
        if item.page is None:
            feed_url = (info.url if info else None) or item.origin.link
            title = (info.title if info else None) or item.origin.title or item.source
            source = {"id": item.origin.id or feed_url or f"{site.id.rstrip('/')}/sources/{item.source}",
                      "title": title, "url": feed_url, "home": item.origin.home,
                      "updated": source_updated[item.source]}
        fe.feedsvc.data = {"enclosures": item.enclosures, "source": source, "authors": authors}
    return fg


def with_stylesheet(data: bytes, href: str) -> bytes:
    """Insert ``<?xml-stylesheet type="text/xsl" href=…?>`` after the XML declaration of a
    serialised document (feedgen cannot emit processing instructions). ``href`` is escaped for
    a pseudo-attribute; a document without the declaration lxml always writes is refused."""
    if not data.startswith(b"<?xml "):
        raise PublishError("cannot add the stylesheet: the document has no XML declaration")
    end = data.index(b"?>") + 2
    value = html.escape(href, quote=True).encode("utf-8")
    pi = b'\n<?xml-stylesheet type="text/xsl" href="' + value + b'"?>'
    return data[:end] + pi + data[end:]


def render_atom(site: Site, items: list[StoredItem], sources: dict[str, SourceInfo],
                stylesheet_href: str | None = None, prefix: str = "",
                links: tuple[tuple[str, str, str], ...] = ()) -> bytes:
    """``prefix``: the feed's directory under output.dir (a topic feed's ``path/``)."""
    fg = build_feed(site, items, sources, site.url + prefix + "atom.xml", "application/atom+xml", links)
    return _atom_bytes(fg, stylesheet_href)


def render_archive(site: Site, items: list[StoredItem], sources: dict[str, SourceInfo], path: str,
                   links: tuple[tuple[str, str, str], ...], title: str, stylesheet_href: str | None = None) -> bytes:
    """An RFC 5005 archive document (Atom) at ``path`` under output.dir: ``<fh:archive/>``, its
    self link and ``links`` (``current``, ``prev-archive``, ``next-archive``), ``title``, the
    entries as in the subscription document."""
    fg = build_feed(site, items, sources, site.url + path, "application/atom+xml", links, archive=True)
    fg.title(clean_text(title))
    return _atom_bytes(fg, stylesheet_href)


def _atom_bytes(fg: FeedGenerator, stylesheet_href: str | None) -> bytes:
    data: bytes = fg.atom_str(pretty=True)
    return with_stylesheet(data, stylesheet_href) if stylesheet_href else data


def hex_character_references(data: bytes) -> bytes:
    """In RSS elements that hold plain text (all but description and content:encoded), write
    "&", "<" and ">" as &#x26; &#x3C; &#x3E;, as the RSS Best Practices Profile asks (the
    W3C validator's CharacterData warning); XML parsers read the same characters."""
    def fix(m: re.Match[bytes]) -> bytes:
        text = m.group(3).replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;").replace(b"&gt;", b"&#x3E;")
        return m.group(1) + text + m.group(4)
    return _PLAIN_LEAF.sub(fix, data)


def render_rss(site: Site, items: list[StoredItem], sources: dict[str, SourceInfo],
               stylesheet_href: str | None = None, prefix: str = "",
               links: tuple[tuple[str, str, str], ...] = ()) -> bytes:
    fg = build_feed(site, items, sources, site.url + prefix + "rss.xml", "application/rss+xml", links)
    return _rss_bytes(fg, site, stylesheet_href)


def _rss_bytes(fg: FeedGenerator, site: Site, stylesheet_href: str | None) -> bytes:
    fg.description(clean_text(site.description) or site.title)   # (also atom:subtitle)
    data: bytes = hex_character_references(fg.rss_str(pretty=True))
    return with_stylesheet(data, stylesheet_href) if stylesheet_href else data


def render_atom_and_rss(site: Site, items: list[StoredItem], sources: dict[str, SourceInfo],
                        stylesheet_href: str | None = None, prefix: str = "",
                        links: tuple[tuple[str, str, str], ...] = ()) -> tuple[bytes, bytes]:
    """``render_atom`` and ``render_rss`` from one FeedGenerator (building it is a third of each):
    Atom first, then the self link swapped for the RSS file's."""
    atom_url, rss_url = site.url + prefix + "atom.xml", site.url + prefix + "rss.xml"
    fg = build_feed(site, items, sources, atom_url, "application/atom+xml", links)
    atom = _atom_bytes(fg, stylesheet_href)
    fg.link([dict(link, href=rss_url, type="application/rss+xml") if link.get("rel") == "self" else link
             for link in fg.link()], replace=True)
    return atom, _rss_bytes(fg, site, stylesheet_href)
