"""Feed bytes → ``ParsedFeed``: the dispatcher, and the parse path's public names in one place.

- ``parse_document``: the fast path (``fast.parse_fast``) when the document is clean, else
  feedparser (``feedparser_path.parse_feed``). Both give the same result (tests/test_fastparse.py).
- ``unwrap`` / ``looks_like_json`` (common.py): the bytes before any parser sees them.
- ``parse_feed`` (feedparser_path.py, the only module that imports feedparser),
  ``parse_json_feed`` (jsonfeed.py), ``build_feed`` (convert.py): re-exported here.

The modules under feedsvc/parsing import each other in one direction only: document →
feedparser_path → jsonfeed / convert → common, and document → fast → convert → common (fast
imports neither feedparser nor this module). Both the fast package and feedparser itself are
imported on first use: a round where nothing changed never needs them.
"""

from __future__ import annotations

from feedsvc.model import ParsedFeed
from feedsvc.parsing.common import looks_like_json, unwrap
from feedsvc.parsing.convert import build_feed
from feedsvc.parsing.feedparser_path import parse_feed
from feedsvc.parsing.jsonfeed import parse_json_feed

__all__ = ["build_feed", "looks_like_json", "parse_document", "parse_feed", "parse_json_feed",
           "unwrap"]


def parse_document(source: str, content: bytes, url: str, headers: dict[str, str] | None = None,
                   max_entries: int = 500, max_bytes: int = 10 * 1024 * 1024) -> ParsedFeed:
    """Feed bytes → ``ParsedFeed``: the fast path (fastparse) when the document is clean, else
    feedparser's full path. Both give the same result (tests/test_fastparse.py)."""
    from feedsvc.parsing.fast import parse_fast  # imported on first use (pyexpat, its tables)
    fast = parse_fast(source, content, url, headers, max_entries=max_entries, max_bytes=max_bytes)
    if fast is not None:
        return fast
    return parse_feed(source, content, url, headers, max_entries=max_entries, max_bytes=max_bytes)
