"""Feed bytes → ``ParsedFeed`` through feedparser: ``parse_feed``, the path for every document the
fast path (``fast.parse_fast``) refuses. The only module that imports feedparser (on first use).

feedparser's result dicts are converted to our own records here, at once, so nothing else sees a
FeedParserDict. Its ``bozo`` flag does not travel further: a feed that yields entries despite
errors becomes a ``warning``; a document that yields no feed raises ``ParseError``.

feedparser runs with its own sanitiser and relative-URI resolution off: normalise sanitises every
HTML field with nh3 and resolves relative URLs against each entry's base (faster, and one
sanitiser for feeds and local articles alike).
"""

from __future__ import annotations

import io

from feedsvc.errors import ParseError
from feedsvc.model import ParsedFeed
from feedsvc.parsing.common import looks_like_json, unwrap
from feedsvc.parsing.convert import build_feed
from feedsvc.parsing.html_page import looks_like_html, not_a_feed
from feedsvc.parsing.jsonfeed import parse_json_feed


def parse_feed(source: str, content: bytes, url: str, headers: dict[str, str] | None = None,
               max_entries: int = 500, max_bytes: int = 10 * 1024 * 1024) -> ParsedFeed:
    """Parse feed bytes. ``url`` is where they came from (the base for relative links)."""
    import feedparser  # imported on first use: a round where nothing changed never needs it

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
        bozo = d.get("bozo_exception")
        warning = f"{type(bozo).__name__}: {bozo}" if bozo is not None else "malformed feed"
        warning = " ".join(warning.split())[:300]
    if not entries and (d.get("bozo") or not d.get("version")):
        if not d.get("version") and not feed.get("title"):
            if looks_like_html(content, ctype):
                raise ParseError(source, not_a_feed(content, url), url)
            reason = warning or "no RSS, Atom or RDF root element"
            raise ParseError(source, f"not a feed: {reason}", url)
        if d.get("bozo"):
            raise ParseError(source, f"feed yields no entries: {warning}", url)
    return build_feed(feed, entries, url, content, str(d.get("version") or ""), warning, max_entries)
