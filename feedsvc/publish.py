"""Publishing: pure rendering (stored items + site metadata → bytes per file) and one atomic
write-if-changed helper. ``publish`` in refresh.py glues them to the store.

Rendering is deterministic: the same items give the same bytes (feed-level ``updated`` is the
newest item's date, never the time of the run), so an unchanged round rewrites nothing and
readers' conditional GETs keep getting 304.

This module renders Atom and RSS with feedgen 1.0, with one extension for what feedgen gets
wrong or lacks: Atom enclosures (``link rel="enclosure"`` with type and length), a full
``atom:source`` (id, title, links), RSS ``<enclosure>``/``<source>``, RSS authors (``<author>``
only for one author with an e-mail address, else ``dc:creator``, never both) and the WebSub
``rel="hub"`` link in both formats. Both feeds carry an ``<?xml-stylesheet?>`` for browsers
(templates/feed.xsl). The other outputs live beside it: render_json.py (JSON Feed 1.1),
render_html.py (index.html, article pages), render_opml.py (sources.opml).
"""

from __future__ import annotations

import html
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc import __version__
from feedsvc.config import FORMAT_FILES, Config, Site, Topic
from feedsvc.errors import PublishError
from feedsvc.model import StoredItem
from feedsvc.normalise import MAX_TITLE, absolute_url, clean_text, plain_text
from feedsvc.render_common import SourceInfo, entry_authors, entry_updated, safe_site, second, summary_html
from feedsvc.render_html import render_index, render_page
from feedsvc.render_json import render_json
from feedsvc.render_opml import render_opml

log = logging.getLogger(__name__)

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
STYLESHEET = "feed.xsl"
# every file publish owns at the top of output.dir: one no longer produced (a format switched
# off in output.formats) is removed, so no stale feed lingers
OWN_FILES = ("atom.xml", "rss.xml", "feed.json", STYLESHEET, "index.html", "sources.opml")
FEED_FILES = tuple(FORMAT_FILES.values())
_MARKUP = re.compile(r"<[/!?A-Za-z]")
# a leaf element of the serialised RSS (its text has no "<": lxml escapes it) other than the two
# that hold HTML; group 3 is its text
_PLAIN_LEAF = re.compile(rb"(<(?!description[\s>]|content:encoded[\s>])([A-Za-z][\w:.-]*)(?:\s[^<>]*)?>)([^<]*)(</\2>)")

__all__ = ["SourceInfo", "build_feed", "render_atom", "render_rss", "render_json",
           "render_index", "render_page", "render_opml", "render_all", "write_all",
           "write_if_changed", "with_stylesheet", "stylesheet", "source_infos"]


# ---- feedgen extension --------------------------------------------------------------------------

class _FeedsvcFeed(BaseExtension):
    """Feed-level additions; set ``fg.feedsvc.hub`` for the WebSub hub link."""

    def __init__(self) -> None:
        self.hub: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS}

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        if self.hub:
            # feedgen's Atom tree has no namespaces (xmlns is a plain attribute on <feed>)
            etree.SubElement(feed, "link", rel="hub", href=self.hub)
        return feed

    def extend_rss(self, rss: etree._Element) -> etree._Element:
        channel = rss.find("channel")
        if self.hub and channel is not None:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", rel="hub", href=self.hub)
        return rss


class _FeedsvcEntry(BaseEntryExtension):
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
               self_url: str, self_type: str = "application/atom+xml") -> FeedGenerator:
    site, sources = safe_site(site, sources)
    fg = FeedGenerator()
    fg.register_extension("feedsvc", _FeedsvcFeed, _FeedsvcEntry, atom=True, rss=True)
    fg.feedsvc.hub = site.websub_hub
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
                stylesheet_href: str | None = None, prefix: str = "") -> bytes:
    """``prefix``: the feed's directory under output.dir (a topic feed's ``path/``)."""
    fg = build_feed(site, items, sources, site.url + prefix + "atom.xml", "application/atom+xml")
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
               stylesheet_href: str | None = None, prefix: str = "") -> bytes:
    fg = build_feed(site, items, sources, site.url + prefix + "rss.xml", "application/rss+xml")
    return _rss_bytes(fg, site, stylesheet_href)


def _rss_bytes(fg: FeedGenerator, site: Site, stylesheet_href: str | None) -> bytes:
    fg.description(clean_text(site.description) or site.title)   # (also atom:subtitle)
    data: bytes = hex_character_references(fg.rss_str(pretty=True))
    return with_stylesheet(data, stylesheet_href) if stylesheet_href else data


def render_atom_and_rss(site: Site, items: list[StoredItem], sources: dict[str, SourceInfo],
                        stylesheet_href: str | None = None, prefix: str = "") -> tuple[bytes, bytes]:
    """``render_atom`` and ``render_rss`` from one FeedGenerator (building it is a third of each):
    Atom first, then the self link swapped for the RSS file's."""
    atom_url, rss_url = site.url + prefix + "atom.xml", site.url + prefix + "rss.xml"
    fg = build_feed(site, items, sources, atom_url, "application/atom+xml")
    atom = _atom_bytes(fg, stylesheet_href)
    fg.link([dict(link, href=rss_url, type="application/rss+xml") if link.get("rel") == "self" else link
             for link in fg.link()], replace=True)
    return atom, _rss_bytes(fg, site, stylesheet_href)


def stylesheet() -> bytes:
    """The XSLT that turns atom.xml and rss.xml into a readable page in a browser."""
    return resources.files("feedsvc").joinpath("templates", STYLESHEET).read_bytes()


# ---- writing ------------------------------------------------------------------------------------

def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically replace ``path`` with ``data`` unless it already holds exactly these bytes.
    Temporary file in the same directory, fsync, rename, fsync of the directory.
    Returns True when the file was written."""
    try:
        with open(path, "rb") as fh:
            if fh.read(len(data) + 1) == data:
                return False
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise PublishError(f"cannot read {path}: {exc.strerror or exc}") from exc
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        tmp = None
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        raise PublishError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return True


def source_infos(config: Config, feed_meta: dict[str, tuple[str | None, str | None]]) -> dict[str, SourceInfo]:
    """Display data per source: the config's title, else the feed's own title, else the name."""
    out = {}
    for s in config.sources:
        ftitle, fhome = feed_meta.get(s.name, (None, None))
        # the feed's own title and link come from the network: make them XML-safe plain text and
        # an http(s) URL; a file: URL is a local path, never published
        out[s.name] = SourceInfo(name=s.name,
                                 title=s.title or plain_text(ftitle, False, MAX_TITLE) or s.name,
                                 url=absolute_url(s.url, None) if s.kind == "feed" else None,
                                 home=absolute_url(fhome, None))
    return out


def topic_site(site: Site, topic: Topic) -> Site:
    """A topic feed's own metadata: its title and description, an id derived from the site's."""
    return replace(site, title=topic.title, description=topic.description,
                   id=f"{site.id.rstrip('/')}/{topic.path}")


def render_feeds(site: Site, formats: tuple[str, ...], items: list[StoredItem],
                 sources: dict[str, SourceInfo], prefix: str = "") -> dict[str, bytes]:
    """One feed in every chosen format, under ``prefix`` (a topic feed's ``path/``)."""
    xsl = "../" * prefix.count("/") + STYLESHEET
    files: dict[str, bytes] = {}
    if "atom" in formats and "rss" in formats:
        files[prefix + "atom.xml"], files[prefix + "rss.xml"] = render_atom_and_rss(
            site, items, sources, xsl, prefix=prefix)
    elif "atom" in formats:
        files[prefix + "atom.xml"] = render_atom(site, items, sources, xsl, prefix=prefix)
    elif "rss" in formats:
        files[prefix + "rss.xml"] = render_rss(site, items, sources, xsl, prefix=prefix)
    if "json" in formats:
        files[prefix + "feed.json"] = render_json(site, items, sources, prefix=prefix)
    return files


def render_all(config: Config, items: list[StoredItem], pages: list[StoredItem],
               sources: dict[str, SourceInfo],
               topics: dict[str, list[StoredItem]] | None = None) -> dict[str, bytes]:
    """Every output file, by path relative to output.dir (pure): the feeds chosen by
    output.formats (the combined one, and each ``outputs:`` topic feed under its path, with
    ``topics`` its items), their stylesheet, index.html, sources.opml and the article pages."""
    site = config.site
    formats = config.output.formats
    files: dict[str, bytes] = {}
    if any(f in ("atom", "rss") for f in formats):
        files[STYLESHEET] = stylesheet()
    files.update(render_feeds(site, formats, items, sources))
    topic_links = []
    for t in config.outputs:
        files.update(render_feeds(topic_site(site, t), formats, (topics or {}).get(t.path, []),
                                  sources, prefix=t.path + "/"))
        topic_links.append((t.title, t.description, t.path + "/"))
    feeds = config.output.feed_files
    files["index.html"] = render_index(site, items[:config.output.page_items], sources, feeds,
                                       topic_links)
    files["sources.opml"] = render_opml(site, config.sources, sources, items)
    for p in pages:
        if p.item.page:
            files[p.item.page] = render_page(site, p, feeds)
    return files


def is_feed_file(rel: str) -> bool:
    """Whether an output path is a feed: atom.xml, rss.xml, feed.json, or a topic feed's."""
    directory, _, name = rel.rpartition("/")
    return name in FEED_FILES and not directory.startswith("articles")


def _write_order(rel: str) -> tuple[int, str]:
    # article pages first, then the stylesheet and the pages, feeds last (in format order): a
    # reader who sees a new feed finds its pages and its stylesheet in place
    if is_feed_file(rel):     # topic feeds, then the combined feeds, each in format order
        directory, _, name = rel.rpartition("/")
        return (2 if directory else 3, f"{FEED_FILES.index(name)}{rel}")
    return (1 if rel in OWN_FILES else 0, rel)


def write_all(out_dir: Path, files: dict[str, bytes], previous: Iterable[str] = ()) -> list[str]:
    """Write what changed; remove article pages and own files no longer produced, and the feeds
    of ``previous`` (the files the last publish wrote) that are gone from the config (a topic
    feed removed from ``outputs:``, a format switched off). Returns the written (or removed) paths."""
    written = []
    for rel in sorted(files, key=_write_order):
        if write_if_changed(out_dir / rel, files[rel]):
            written.append(rel)
    stale = [out_dir / name for name in OWN_FILES if name not in files]
    stale.extend(out_dir / rel for rel in previous if is_feed_file(rel) and "/" in rel)
    pages_dir = out_dir / "articles"
    if pages_dir.is_dir():
        for dirpath, _dirs, names in os.walk(pages_dir):
            stale.extend(Path(dirpath) / n for n in names if n.endswith(".html"))
    for full in stale:
        rel = full.relative_to(out_dir).as_posix()
        if rel in files or not full.is_file():
            continue
        try:
            full.unlink()
            written.append(rel)
            if full.parent != out_dir and rel.count("/") == 1 and not any(full.parent.iterdir()):
                full.parent.rmdir()          # the emptied directory of a removed topic feed
        except OSError as exc:
            log.warning("cannot remove stale file %s: %s", full, exc)
    return written
