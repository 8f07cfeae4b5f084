"""Publishing: pure rendering (stored items + site metadata → bytes per file) and one atomic
write-if-changed helper. ``publish`` glues them to the store.

Rendering is deterministic: the same items give the same bytes (feed-level ``updated`` is the
newest item's date, never the time of the run), so an unchanged round rewrites nothing and
readers' conditional GETs keep getting 304.

feedgen 1.0 is used for both formats, with one entry extension (``_FeedsvcEntry``) for what it gets
wrong or lacks: Atom enclosures (``link rel="enclosure"`` with type and length), a full
``atom:source`` (id, title, links), RSS ``<enclosure>``/``<source>`` and ``dc:creator`` for authors
without an e-mail address (RSS ``<author>`` must be an address).
"""

from __future__ import annotations

import html
import logging
import os
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc import __version__
from feedsvc.config import Config, Site, Topic
from feedsvc.errors import PublishError
from feedsvc.model import Item, Person, StoredItem
from feedsvc.normalise import MAX_TITLE, absolute_url, clean_text, plain_text

log = logging.getLogger(__name__)

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
SUMMARY_CHARS = 400


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What publish shows of a source: its display name and feed URL."""
    name: str
    title: str
    url: str | None              # the feed's URL (remote) or None (local articles)
    home: str | None = None


# ---- feedgen extension --------------------------------------------------------------------------

class _FeedsvcFeed(BaseExtension):
    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS}


class _FeedsvcEntry(BaseEntryExtension):
    """Per-entry data feedgen cannot express; set through ``fe.feedsvc.data``."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        # feedgen builds its Atom tree without namespaces (xmlns is written as a plain attribute
        # on <feed>), so elements added here carry no namespace either
        d = self.data
        for enc in d.get("enclosures", ()):
            el = etree.SubElement(entry, "link", rel="enclosure", href=enc.url)
            if enc.type:
                el.set("type", enc.type)
            if enc.length:
                el.set("length", str(enc.length))
        src = d.get("source")
        if src is not None:
            el = etree.SubElement(entry, "source")
            etree.SubElement(el, "id").text = src["id"]
            etree.SubElement(el, "title").text = src["title"]
            if src.get("home"):
                etree.SubElement(el, "link", rel="alternate", href=src["home"])
            if src.get("url"):
                etree.SubElement(el, "link", rel="self", href=src["url"])
        return entry

    def extend_rss(self, entry: etree._Element) -> etree._Element:
        d = self.data
        for p in d.get("creators", ()):
            etree.SubElement(entry, f"{{{DC_NS}}}creator").text = p
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

def _entry_authors(item: Item, site: Site, sources: dict[str, SourceInfo]) -> tuple[Person, ...]:
    if item.authors:
        return item.authors
    info = sources.get(item.source)
    if item.page is None and (item.origin.title or info):
        return (Person(name=(info.title if info else None) or item.origin.title or item.source),)
    return (Person(name=site.author or site.title),)


def _summary(item: Item) -> str:
    if item.summary:
        return item.summary
    text = plain_text(item.content, True, SUMMARY_CHARS)
    return html.escape(text, quote=False) if text else ""


def _safe(site: Site, sources: dict[str, SourceInfo]) -> tuple[Site, dict[str, SourceInfo]]:
    """Site and source strings made XML-safe: items are cleaned by normalise, but a YAML
    "\\0" escape in a title would otherwise make lxml refuse the whole feed."""
    site = replace(site, title=clean_text(site.title), description=clean_text(site.description),
                   author=clean_text(site.author) or None, language=clean_text(site.language) or None)
    return site, {k: replace(v, title=clean_text(v.title)) for k, v in sources.items()}


def build_feed(site: Site, items: list[StoredItem], sources: dict[str, SourceInfo],
               self_url: str) -> FeedGenerator:
    site, sources = _safe(site, sources)
    fg = FeedGenerator()
    fg.register_extension("feedsvc", _FeedsvcFeed, _FeedsvcEntry, atom=True, rss=True)
    fg.id(site.id)
    fg.title(site.title)
    fg.subtitle(site.description)
    fg.link(href=self_url, rel="self")
    fg.link(href=site.url, rel="alternate", type="text/html")  # last: feedgen takes it as RSS <link>
    fg.author({"name": site.author or site.title})
    if site.language:
        fg.language(site.language)
    fg.generator("feedsvc", __version__, "https://github.com/feedsvc/feedsvc")
    newest = max((s.updated for s in items), default=EPOCH)
    newest = max(newest, max((s.date for s in items), default=EPOCH))
    fg.updated(newest)
    fg.lastBuildDate(newest)
    fg.pubDate(max((s.date for s in items), default=EPOCH))
    for s in items:
        item = s.item
        fe = fg.add_entry(order="append")
        fe.id(item.id)
        fe.guid(item.id, permalink=bool(item.link) and item.id == item.link)
        fe.title(item.title)
        if item.link:
            fe.link(href=item.link, rel="alternate", type="text/html")
        fe.published(s.date)
        fe.updated(max(s.updated, s.date))
        authors = _entry_authors(item, site, sources)
        for p in authors:
            a: dict[str, str] = {"name": p.name}
            if p.email:
                a["email"] = p.email
            if p.uri:
                a["uri"] = p.uri
            fe.author(a)
        summary = _summary(item)
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
                      "title": title, "url": feed_url, "home": item.origin.home}
        fe.feedsvc.data = {
            "enclosures": item.enclosures,
            "source": source,
            # RSS <author> must be an e-mail address; names without one go to dc:creator
            "creators": [p.name for p in authors if not p.email],
        }
    return fg


def render_atom(site: Site, items: list[StoredItem], sources: dict[str, SourceInfo],
                prefix: str = "") -> bytes:
    fg = build_feed(site, items, sources, site.url + prefix + "atom.xml")
    return fg.atom_str(pretty=True)


def render_rss(site: Site, items: list[StoredItem], sources: dict[str, SourceInfo],
               prefix: str = "") -> bytes:
    fg = build_feed(site, items, sources, site.url + prefix + "rss.xml")
    fg.description(clean_text(site.description) or site.title)
    return fg.rss_str(pretty=True)


PAGE_CSS = """
body{font:16px/1.6 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:42rem;margin:0 auto;
padding:1rem;color:#1d1d1f;background:#fff}
a{color:#0645ad}header,footer{color:#555;font-size:.9rem}h1{line-height:1.25}
img{max-width:100%;height:auto}pre{overflow:auto}
@media (prefers-color-scheme:dark){body{background:#111;color:#eee}a{color:#8ab4f8}header,footer{color:#aaa}}
"""


def render_page(site: Site, stored: StoredItem) -> bytes:
    """A local article's own HTML page."""
    item = stored.item
    depth = (item.page or "").count("/")
    home = "../" * depth + "index.html"
    authors = ", ".join(html.escape(p.name) for p in item.authors)
    date = stored.date.strftime("%Y-%m-%d")
    tags = ""
    if item.categories:
        tags = "<p class=\"tags\">Tags: " + ", ".join(html.escape(c) for c in item.categories) + "</p>"
    doc = f"""<!DOCTYPE html>
<html lang="{html.escape(site.language or 'en')}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(item.title)} — {html.escape(site.title)}</title>
<link rel="alternate" type="application/atom+xml" title="{html.escape(site.title)} (Atom)" href="{html.escape(site.url)}atom.xml">
<link rel="alternate" type="application/rss+xml" title="{html.escape(site.title)} (RSS)" href="{html.escape(site.url)}rss.xml">
<style>{PAGE_CSS}</style>
</head>
<body>
<header><a href="{home}">{html.escape(site.title)}</a></header>
<main>
<article>
<h1>{html.escape(item.title)}</h1>
<p class="meta">{('By ' + authors + ' · ') if authors else ''}<time datetime="{stored.date.isoformat()}">{date}</time></p>
{item.content or item.summary}
{tags}
</article>
</main>
<footer><a href="{home}">← All articles</a></footer>
</body>
</html>
"""
    return doc.encode("utf-8")


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


@dataclass(frozen=True, slots=True)
class PublishResult:
    written: tuple[str, ...]     # files (relative to output.dir) rewritten this time
    items: int                   # items in the combined feeds


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


def render_all(config: Config, items: list[StoredItem], pages: list[StoredItem],
               sources: dict[str, SourceInfo],
               topics: dict[str, list[StoredItem]] | None = None) -> dict[str, bytes]:
    """Every output file, by path relative to output.dir (pure). ``topics``: each ``outputs:``
    feed's items by its path; it gets the same formats under that directory."""
    files = {
        "atom.xml": render_atom(config.site, items, sources),
        "rss.xml": render_rss(config.site, items, sources),
    }
    for t in config.outputs:
        site = topic_site(config.site, t)
        chosen = (topics or {}).get(t.path, [])
        files[f"{t.path}/atom.xml"] = render_atom(site, chosen, sources, prefix=t.path + "/")
        files[f"{t.path}/rss.xml"] = render_rss(site, chosen, sources, prefix=t.path + "/")
    for p in pages:
        if p.item.page:
            files[p.item.page] = render_page(config.site, p)
    return files


def write_all(out_dir: Path, files: dict[str, bytes]) -> list[str]:
    """Write what changed; remove article pages no longer produced. Returns the written paths."""
    written = []
    # article pages first, feeds last: a reader who sees a new feed finds its pages in place
    for rel in sorted(files, key=lambda r: (r.rpartition("/")[2] in ("atom.xml", "rss.xml"), r)):
        if write_if_changed(out_dir / rel, files[rel]):
            written.append(rel)
    pages_dir = out_dir / "articles"
    if pages_dir.is_dir():
        for dirpath, _dirs, names in os.walk(pages_dir):
            for name in names:
                full = Path(dirpath) / name
                rel = full.relative_to(out_dir).as_posix()
                if name.endswith(".html") and rel not in files:
                    try:
                        full.unlink()
                        written.append(rel)
                    except OSError as exc:
                        log.warning("cannot remove stale page %s: %s", full, exc)
    return written
