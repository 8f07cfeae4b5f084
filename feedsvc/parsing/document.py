"""Feed bytes → ``ParsedFeed``. The only module that imports feedparser.

feedparser's result dicts are converted to our own records here, at once, so nothing else sees a
FeedParserDict. Its ``bozo`` flag does not travel further: a feed that yields entries despite
errors becomes a ``warning``; a document that yields no feed raises ``ParseError``.

feedparser runs with its own sanitiser and relative-URI resolution off: normalise sanitises every
HTML field with nh3 and resolves relative URLs against each entry's base (faster, and one
sanitiser for feeds and local articles alike).
"""

from __future__ import annotations

import html
import io
import json
import re
import zlib
from datetime import datetime, timezone
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin

from feedsvc.errors import ParseError
from feedsvc.model import Enclosure, ParsedFeed, Person, RawEntry

_HTML_TYPES = {"text/html", "application/xhtml+xml", "html", "xhtml"}
_PERIOD_SECONDS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400,
                   "yearly": 365 * 86400}
_PROLOG_JUNK = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)+(?=<\?xml)", re.S)
_URL_RE = re.compile(r"^https?://", re.I)


def parse_document(source: str, content: bytes, url: str, headers: dict[str, str] | None = None,
                   max_entries: int = 500, max_bytes: int = 10 * 1024 * 1024) -> ParsedFeed:
    """Feed bytes → ``ParsedFeed``: the fast path (fastparse) when the document is clean, else
    feedparser's full path. Both give the same result (tests/test_fastparse.py)."""
    from feedsvc.parsing.fast import parse_fast   # fastparse builds on this module
    fast = parse_fast(source, content, url, headers, max_entries=max_entries, max_bytes=max_bytes)
    if fast is not None:
        return fast
    return parse_feed(source, content, url, headers, max_entries=max_entries, max_bytes=max_bytes)


def parse_feed(source: str, content: bytes, url: str, headers: dict[str, str] | None = None,
               max_entries: int = 500, max_bytes: int = 10 * 1024 * 1024) -> ParsedFeed:
    """Parse feed bytes. ``url`` is where they came from (the base for relative links)."""
    import feedparser   # imported on first use: a round where nothing changed never needs it

    content = unwrap(source, content, url, max_bytes)
    ctype = (headers or {}).get("content-type", "")
    if looks_like_json(content, ctype):
        return parse_json_feed(source, content, url, max_entries)
    # without a Content-Type feedparser flags every document as bozo; XML's own declaration decides.
    # No Content-Location: feedparser would resolve every guid without isPermaLink="false" (and
    # every Atom id) against it, turning "alpha-0007" into "https://host/feed/alpha-0007". Links
    # are resolved against the feed URL later, in normalise, from each entry's ``base``.
    response_headers = {"content-type": ctype or "application/xml"}
    if headers and "content-language" in headers:
        response_headers["content-language"] = headers["content-language"]
    try:
        d = feedparser.parse(io.BytesIO(content), response_headers=response_headers,
                             sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # feedparser is meant not to raise; guard the one place it could
        raise ParseError(source, f"feed could not be parsed: {exc}", url) from exc
    feed = d.get("feed", {})
    entries = d.get("entries", [])
    warning = None
    if d.get("bozo"):
        exc = d.get("bozo_exception")
        warning = f"{type(exc).__name__}: {exc}" if exc is not None else "malformed feed"
        warning = " ".join(warning.split())[:300]
    if not entries and (d.get("bozo") or not d.get("version")):
        if not d.get("version") and not feed.get("title"):
            reason = warning or "no RSS, Atom or RDF root element"
            raise ParseError(source, f"not a feed: {reason}", url)
        if d.get("bozo"):
            raise ParseError(source, f"feed yields no entries: {warning}", url)
    return build_feed(feed, entries, url, content, str(d.get("version") or ""), warning, max_entries)


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
    )


def unwrap(source: str, content: bytes, url: str, max_bytes: int) -> bytes:
    """Undo what servers and disks do to feed bytes: gzip without Content-Encoding, leading
    whitespace before the XML declaration (which makes expat refuse the document)."""
    if content[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(wbits=47)
        try:
            out = d.decompress(content, max_bytes + 1)
        except zlib.error as exc:
            raise ParseError(source, f"gzip-compressed body is corrupt: {exc}", url) from exc
        if len(out) > max_bytes:
            raise ParseError(source, f"decompressed body exceeds {max_bytes} bytes", url)
        content = out
    # comments written before the XML declaration (a copy-paste habit) make expat refuse it
    m = _PROLOG_JUNK.match(content)
    if m:
        content = content[m.end():]
    bom = b""
    if content.startswith(b"\xef\xbb\xbf"):
        bom, content = content[:3], content[3:]
    stripped = content.lstrip(b" \t\r\n")
    if stripped[:1] == b"<" and stripped is not content:
        content = stripped
    return bom + content


def looks_like_json(content: bytes, ctype: str) -> bool:
    if "json" in ctype.lower():
        return True
    head = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return head in (b"{", b"[")


def parse_json_feed(source: str, content: bytes, url: str, max_entries: int = 500) -> ParsedFeed:
    """JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1) → ParsedFeed."""
    try:
        doc = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(source, f"not a feed: invalid JSON ({exc})", url) from None
    if not isinstance(doc, dict) or not (isinstance(doc.get("items"), list)
                                         or str(doc.get("version", "")).startswith("https://jsonfeed.org/")):
        raise ParseError(source, "not a feed: JSON without a JSON Feed 'items' list", url)
    warning = None
    version = str(doc.get("version", ""))
    if not version.startswith("https://jsonfeed.org/version/1"):
        warning = f"unknown JSON Feed version {version!r}"
    home = _text(doc.get("home_page_url")) if isinstance(doc.get("home_page_url"), str) else None
    base = _text(doc.get("feed_url")) if isinstance(doc.get("feed_url"), str) else None
    feed_authors = _json_authors(doc)
    entries = []
    for it in (doc.get("items") or [])[:max_entries]:
        if not isinstance(it, dict):
            continue
        content_html = it.get("content_html") if isinstance(it.get("content_html"), str) else None
        if content_html is None and isinstance(it.get("content_text"), str):
            content_html = html.escape(it["content_text"], quote=False).replace("\n", "<br>\n")
        summary = it.get("summary") if isinstance(it.get("summary"), str) else None
        guid = it.get("id")
        guid = str(guid).strip() if guid is not None and not isinstance(guid, (dict, list)) else None
        link = it.get("url") if isinstance(it.get("url"), str) else None
        link = urljoin(base or url, link.strip()) if link and link.strip() else None
        encs = []
        for a in it.get("attachments") or []:
            if isinstance(a, dict) and isinstance(a.get("url"), str):
                size = a.get("size_in_bytes")
                encs.append(Enclosure(url=urljoin(base or url, a["url"]),
                                      type=a.get("mime_type") if isinstance(a.get("mime_type"), str) else None,
                                      length=size if isinstance(size, int) and size >= 0 else None))
        tags = tuple(str(t).strip() for t in (it.get("tags") or []) if isinstance(t, (str, int)) and str(t).strip())
        entries.append(RawEntry(
            guid=guid or None,
            guid_is_permalink=False,
            link=link,
            title=it.get("title") if isinstance(it.get("title"), str) else None,
            title_is_html=False,
            authors=_json_authors(it) or feed_authors,
            published=_iso(it.get("date_published")),
            updated=_iso(it.get("date_modified")),
            summary=html.escape(summary, quote=False) if summary else None,
            content=content_html,
            categories=tags,
            enclosures=tuple(encs),
            base=link or base or url,
        ))
    return ParsedFeed(title=_text(doc.get("title")) if isinstance(doc.get("title"), str) else None,
                      link=home, id=base or home, entries=tuple(entries), warning=warning)


def _json_authors(obj: dict[str, Any]) -> tuple[Person, ...]:
    raw = obj.get("authors")
    if not isinstance(raw, list):
        raw = [obj["author"]] if isinstance(obj.get("author"), dict) else []
    out = []
    for a in raw:
        if isinstance(a, dict) and isinstance(a.get("name"), str) and a["name"].strip():
            out.append(Person(name=a["name"].strip(),
                              uri=a.get("url") if isinstance(a.get("url"), str) else None))
    return tuple(out)


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    s = value.strip()
    try:
        dt = datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


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


def _text(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s or None


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
        return datetime(*parsed[:6], tzinfo=timezone.utc)
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
