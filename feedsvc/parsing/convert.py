"""feedparser-shaped results (its ``feed`` and ``entries`` dicts, or the fast path's plain dicts
of the same shape) → ``ParsedFeed``: ``build_feed``, the one conversion both parsers share
(feedparser_path.parse_feed and fast.parse_fast), so the conversion rules live in one place."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin

from feedsvc.model import Enclosure, ParsedFeed, Person, RawEntry
from feedsvc.parsing.common import _text

_HTML_TYPES = {"text/html", "application/xhtml+xml", "html", "xhtml"}
_PERIOD_SECONDS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400,
                   "yearly": 365 * 86400}
_URL_RE = re.compile(r"^https?://", re.I)


def build_feed(feed: Any, entries: Sequence[Any], url: str, content: bytes, version: str,
               warning: str | None, max_entries: int) -> ParsedFeed:
    """feedparser-shaped results (its ``feed`` and ``entries`` dicts, or the fast path's plain
    dicts of the same shape) → ``ParsedFeed``: the one conversion both parsers share."""
    feed_base = _base(feed.get("title_detail"), url) or url
    is_rss = version.startswith("rss")
    not_permalinks = _guids_not_permalink(content) if is_rss else frozenset()
    flags: list[bool | None] = [None] * len(entries)
    if is_rss:
        per_item = _item_permalink_flags(content)
        if len(per_item) == len(entries):   # else (odd markup) fall back to judging by guid text
            flags = list(per_item)
    raw = tuple(_entry(e, feed_base, is_rss, not_permalinks, flag)
                for e, flag in zip(entries[:max_entries], flags))
    feed_link = _text(feed.get("link"))
    return ParsedFeed(
        title=_text(feed.get("title")),
        link=urljoin(url, feed_link) if feed_link and _URL_RE.match(url) else feed_link,
        id=_text(feed.get("id")),
        entries=raw,
        warning=warning,
        ttl_seconds=_ttl(feed),
        authors=_persons(feed),
    )


def _ttl(feed: Any) -> int | None:
    ttl = feed.get("ttl")
    if ttl and str(ttl).strip().isdigit() and int(ttl) > 0:
        return int(ttl) * 60
    period = str(feed.get("sy_updateperiod") or "").strip().lower()
    if period in _PERIOD_SECONDS:
        freq = str(feed.get("sy_updatefrequency") or "1").strip()
        n = int(freq) if freq.isdigit() and int(freq) > 0 else 1
        return _PERIOD_SECONDS[period] // n
    return None


def _base(detail: Any, url: str) -> str | None:
    """An element's xml:base, resolved against the feed URL (it may be relative)."""
    if isinstance(detail, dict):
        b = detail.get("base")
        if b:
            return urljoin(url, str(b)) if _URL_RE.match(url) else str(b)
    return None


_GUID_FALSE = re.compile(rb"<guid\b[^>]*?\bisPermaLink\s*=\s*[\"']?\s*false[^>]*>\s*(?:<!\[CDATA\[)?"
                         rb"([^<\]]*?)\s*(?:\]\]>)?\s*</guid\s*>", re.I)


def _guids_not_permalink(content: bytes) -> frozenset[str]:
    """The RSS guids marked isPermaLink="false". feedparser does not keep the attribute: its
    ``guidislink`` is also false for a permalink guid written after the item's <link>."""
    return frozenset(html.unescape(m.group(1).decode("utf-8", "replace")).strip()
                     for m in _GUID_FALSE.finditer(content))


_ITEM_TOKEN = re.compile(rb"<(?:(item)\b[^>]*>|(/item)\s*>|guid\b([^>]*)>)", re.I)
_PERMALINK_FALSE = re.compile(rb"\bisPermaLink\s*=\s*[\"']?\s*false", re.I)


def _item_permalink_flags(content: bytes) -> list[bool]:
    """Per RSS <item>, in document order: False when its own guid says isPermaLink="false".
    (Judging by the guid's text alone made a permalink guid false when another item had the
    same text marked false.) One pass over the item and guid tags (the first guid of an item
    counts; an <item> inside an item, or one never closed, is not an item): a lazy
    ``<item>(.*?)</item>`` match did the same at six times the cost."""
    out = []
    inside = False
    guid: bytes | None = None
    for m in _ITEM_TOKEN.finditer(content):
        if m.group(1):
            if not inside:
                inside, guid = True, None
        elif m.group(2):
            if inside:
                out.append(not (guid is not None and _PERMALINK_FALSE.search(guid)))
                inside = False
        elif inside and guid is None:
            guid = m.group(3)
    return out


# W3C-DTF with an offset written without a colon (+0530): feedparser reads the hours and drops
# the minutes; fromisoformat reads it whole
_COMPACT_OFFSET = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?[+-]\d{4}$")


def _entry_date(e: Any, key: str) -> datetime | None:
    """An entry's date: feedparser's parsed tuple, except where it is known to misread."""
    raw = dict.get(e, key)   # dict.get: FeedParserDict maps a missing key to another, with a warning
    if isinstance(raw, str) and _COMPACT_OFFSET.match(raw.strip()):
        try:
            return datetime.fromisoformat(raw.strip()).astimezone(timezone.utc)
        except ValueError:
            pass
    return _date(dict.get(e, key + "_parsed"))


def _date(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        year, month, day, hour, minute, second = parsed[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except (TypeError, ValueError, OverflowError):
        return None


def _html_value(detail: Any, value: Any) -> str | None:
    """A feedparser text construct → HTML (plain text is escaped)."""
    if value is None:
        return None
    text = str(value)
    if not text.strip():
        return None
    kind = (detail or {}).get("type", "text/html") if isinstance(detail, dict) else "text/html"
    if kind in _HTML_TYPES:
        return text
    return html.escape(text, quote=False)


def _persons(e: Any) -> tuple[Person, ...]:
    out: list[Person] = []
    for a in e.get("authors") or []:
        if not isinstance(a, dict):
            continue
        name = _text(a.get("name")) or _text(a.get("email"))
        if name:
            out.append(Person(name=name, email=_text(a.get("email")), uri=_text(a.get("href"))))
    if not out:
        name = _text(e.get("author"))
        if name:
            out.append(Person(name=name))
    # a repeat of the same person (RSS author + dc:creator) counts once
    seen: set[str] = set()
    unique = []
    for p in out:
        if p.name not in seen:
            seen.add(p.name)
            unique.append(p)
    return tuple(unique)


def _enclosures(e: Any) -> tuple[Enclosure, ...]:
    out: list[Enclosure] = []
    seen: set[str] = set()
    for enc in e.get("enclosures") or []:
        href = _text(enc.get("href") or enc.get("url"))
        if not href or href in seen:
            continue
        seen.add(href)
        length = str(enc.get("length") or "").strip()
        out.append(Enclosure(url=href, type=_text(enc.get("type")),
                             length=int(length) if length.isdigit() else None))
    return tuple(out)


def _entry(e: Any, feed_base: str, is_rss: bool = False,
           not_permalinks: frozenset[str] = frozenset(), permalink: bool | None = None) -> RawEntry:
    content_html = None
    content_base = None
    contents = e.get("content") or []
    if contents:
        best = next((c for c in contents if c.get("type") in _HTML_TYPES), contents[0])
        content_html = _html_value(best, best.get("value"))
        content_base = _base(best, feed_base)
    summary_html = _html_value(e.get("summary_detail"), e.get("summary"))
    if summary_html is not None and content_html is not None and summary_html.strip() == content_html.strip():
        summary_html = None
    title_detail = e.get("title_detail") or {}
    guid = _text(e.get("id"))
    if is_rss:   # RSS: a guid is a permalink unless it says isPermaLink="false"
        if permalink is None:
            permalink = guid not in not_permalinks
        guid_is_permalink = guid is not None and bool(_URL_RE.match(guid)) and permalink
    else:
        guid_is_permalink = bool(e.get("guidislink")) and guid is not None and bool(_URL_RE.match(guid))
    tags = []
    for t in e.get("tags") or []:
        term = _text(t.get("term")) or _text(t.get("label"))
        if term and term not in tags:
            tags.append(term)
    base = (content_base or _base(e.get("summary_detail"), feed_base) or _base(title_detail, feed_base)
            or feed_base)
    return RawEntry(
        guid=guid,
        guid_is_permalink=guid_is_permalink,
        link=_text(e.get("link")),
        title=_text(e.get("title")),
        title_is_html=title_detail.get("type") in _HTML_TYPES if isinstance(title_detail, dict) else False,
        authors=_persons(e),
        published=_entry_date(e, "published"),
        # dict.get: FeedParserDict maps a missing updated_parsed to published_parsed with a
        # DeprecationWarning; an RSS pubDate is a publication date, not an update
        updated=_entry_date(e, "updated"),
        summary=summary_html,
        content=content_html,
        categories=tuple(tags),
        enclosures=_enclosures(e),
        base=base,
    )
