"""JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1) → ``ParsedFeed``."""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin

from feedsvc.errors import ParseError
from feedsvc.model import Enclosure, ParsedFeed, Person, RawEntry
from feedsvc.parsing.common import _text


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
