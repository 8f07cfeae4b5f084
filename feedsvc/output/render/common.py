"""What every output format shares (pure): the source display records, the author fallback, the
summary of an item, and site/source strings made XML-safe.

Every renderer (publish.py for Atom/RSS, render_json.py, render_html.py, render_opml.py) takes the
same inputs — ``Site``, the newest ``StoredItem``s and a ``SourceInfo`` per source — so the
formats never disagree about who wrote an item or where it came from.
"""

from __future__ import annotations

import hashlib
import html
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from feedsvc.config import Site
from feedsvc.items.normalise import clean_text, plain_text
from feedsvc.model import Item, Person, StoredItem

SUMMARY_CHARS = 400


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What publish shows of a source: its display name and feed URL."""
    name: str
    title: str
    url: str | None              # the feed's public URL (remote) or None (local articles, file: feeds)
    home: str | None = None      # the source's home page, when known
    local: bool = False          # a directory of local articles (their pages are on this site)


def entry_authors(item: Item, site: Site, sources: dict[str, SourceInfo]) -> tuple[Person, ...]:
    """The item's authors; else the source's title (remote items); else the site's author."""
    if item.authors:
        return item.authors
    info = sources.get(item.source)
    if item.page is None and (item.origin.title or info):
        return (Person(name=(info.title if info else None) or item.origin.title or item.source),)
    return (Person(name=site.author or site.title),)


def summary_html(item: Item) -> str:
    """The item's summary (sanitised HTML); else the start of its content as escaped text."""
    if item.summary:
        return item.summary
    text = plain_text(item.content, True, SUMMARY_CHARS)
    return html.escape(text, quote=False) if text else ""


def summary_text(item: Item, limit: int = SUMMARY_CHARS) -> str:
    """One paragraph of plain text: the summary, else the content."""
    return plain_text(item.summary or item.content, True, limit)


def safe_site(site: Site, sources: dict[str, SourceInfo]) -> tuple[Site, dict[str, SourceInfo]]:
    """Site and source strings made XML-safe: items are cleaned by normalise, but a YAML
    "\\0" escape in a title would otherwise make lxml refuse the whole feed."""
    site = replace(site, title=clean_text(site.title), description=clean_text(site.description),
                   author=clean_text(site.author) or None, language=clean_text(site.language) or None)
    return site, {k: v if clean_text(v.title) == v.title else replace(v, title=clean_text(v.title))
                  for k, v in sources.items()}


def source_title(item: Item, sources: dict[str, SourceInfo]) -> str:
    info = sources.get(item.source)
    return (info.title if info else None) or item.origin.title or item.source


def second(dt: datetime) -> datetime:
    """Whole seconds: RSS dates have none, and readers compare dates."""
    return dt.replace(microsecond=0)


def entry_updated(items: list[StoredItem]) -> list[datetime]:
    """Each entry's atom:updated (and JSON Feed date_modified), distinct within the feed: the
    W3C validator warns about two entries with the same atom:updated, which an aggregate hits
    at once (every undated item of one refresh is first seen in the same second). An entry
    alone in its second keeps whole seconds; entries that share one get a sub-second offset
    derived from their id, so the value is the same at every publish."""
    base = [second(max(s.updated, s.date)) for s in items]
    shared = Counter(base)
    used: set[datetime] = set()
    out = []
    for s, t in zip(items, base):
        if shared[t] > 1:
            digest = hashlib.sha256(s.item.id.encode("utf-8", "surrogatepass")).digest()
            t = t + timedelta(microseconds=int.from_bytes(digest[:4], "big") % 1_000_000)
        while t in used:                      # two ids with the same offset: rare, deterministic
            t += timedelta(microseconds=1)
        used.add(t)
        out.append(t)
    return out
