"""A fast path for clean RSS / Atom / RDF documents, equal to feedparser's result.

``parse_fast`` returns the same ``ParsedFeed`` as ``feedparser_path.parse_feed`` for the documents
it accepts, and ``None`` ("not clean: use parse_feed") for everything else. It is ~8x faster (see
benchmarks/parse_bench.py) because it skips what feedparser does per element that we do not use
(its sanitiser and URI resolver are already off; its generic handler dispatch, FeedParserDict,
the loose SGML parser, the date formats nobody sends...).

How it stays equal to feedparser instead of approximating it:

- **The same XML parser.** feedparser's strict path is ``xml.sax`` over expat with namespace
  processing; this package drives ``pyexpat`` directly with the same settings, on the same bytes
  (after feedparser's encoding rules: Content-Type charset, BOM, XML declaration, RFC 3023), so a
  document is well-formed here exactly when it is for feedparser, and the element, attribute and
  text events are the same. (An lxml tree would be as fast, but libxml2 and expat disagree on
  some documents, and a document expat rejects goes through feedparser's loose parser.)
- **The same state machine, for the elements that matter.** ``_Emulator`` ports the part of
  feedparser 6.0's ``_FeedParserMixin`` (``mixin.py``, ``namespaces/_base.py``, ``dc.py``,
  ``itunes.py``, ``mediarss.py``, ``cc.py``) that decides the fields we read: its element stack
  and ``pop()`` post-processing (whitespace, URI joining, the latin-1/utf-8 and cp1252 repairs,
  the RSS "looks like HTML" guess, base64), the title depth rule, description vs content, guid as
  link, authors and their "email (Name)" parsing, categories, links and enclosures, markup inside
  text constructs (serialised as xhtml), xml:base tracking (including feedparser's habit of
  keeping an xml:base after its element closes), namespace prefixes as feedparser maps them.
  Every element feedparser has a handler for is ported, reviewed as harmless to our fields, or
  makes the document "not clean".
- **The same conversion.** The emulator builds feedparser-shaped dicts and hands them to the
  converters in ``feedsvc/parsing/convert.py`` (``build_feed``: ``_entry``, ``_ttl``,
  ``_base``...), so the conversion rules live in one place.

Not clean (→ ``None``): JSON Feed, gzip bytes, a DOCTYPE (so no entities and no billion laughs:
the bytes are refused before parsing, and expat stops at a DOCTYPE anyway), encodings feedparser
would have to guess (chardet, its last-resort encodings), anything expat rejects, roots other
than ``rss`` / ``feed`` / ``rdf:RDF``, elements inside XML content that is not xhtml, MathML/SVG,
xlink declarations, dates that feedparser's W3C-DTF and RFC 822 parsers do not read (it would
try its other formats), and the elements whose feedparser handlers are not ported (``xhtml:body``,
``body``, ``fullitem``, ``abstract``, ``tags``, ``georss:where``, ``gml:*``, ``psc:*``, CDF).

``tests/test_fastparse.py`` checks the equality on every corpus file, a generated corpus, crafted
documents for each quirk and seeded random documents, and that the tables copied from feedparser
still match the installed version.

The modules follow feedparser's own files, so each can be read beside its original:

- ``encodings.py``: bytes → the UTF-8 bytes expat sees (feedparser/encodings.py).
- ``dates.py``: W3C-DTF and RFC 822 (feedparser/datetimes/w3dtf.py, rfc822.py).
- ``urls.py``: URI joining (feedparser/urls.py).
- ``text.py``: the text repairs and the "looks like HTML" guess of ``pop()`` (html.py,
  sanitizer.py).
- ``mixin.py``: the core state machine: element stack, ``pop()``, contexts (mixin.py).
- ``namespaces/``: the element handlers, ``_base.py`` (RSS/Atom/RDF), ``dc``, ``itunes``,
  ``mediarss``, ``georss``, ``cc`` (feedparser/namespaces/).
- ``handlers.py``: element key → handler tables, built once at import.
- ``strict.py``: the expat driver and the namespace table (parsers/strict.py, and mixin.py's
  unknown_starttag / unknown_endtag and namespaces).
- ``exceptions.py``: ``_NotClean``, raised anywhere: the document needs feedparser.

This package imports neither feedparser nor ``feedsvc.parsing.document``/``feedparser_path``
(``document.parse_document`` imports it, on first use).
"""

from __future__ import annotations

import pyexpat
from typing import Any

from feedsvc.model import ParsedFeed
from feedsvc.parsing.common import looks_like_json, unwrap
from feedsvc.parsing.convert import build_feed
from feedsvc.parsing.fast.encodings import _decode
from feedsvc.parsing.fast.exceptions import _NotClean

# the tables copied from feedparser, where tests/test_fastparse.py compares them with the
# installed feedparser
from feedsvc.parsing.fast.handlers import FP_HANDLER_KEYS as FP_HANDLER_KEYS
from feedsvc.parsing.fast.mixin import _CAN_BE_RELATIVE_URI as _CAN_BE_RELATIVE_URI
from feedsvc.parsing.fast.mixin import _HTML_TYPES as _HTML_TYPES
from feedsvc.parsing.fast.namespaces import cc, dc, georss, itunes, mediarss
from feedsvc.parsing.fast.strict import _MATCHNS as _MATCHNS
from feedsvc.parsing.fast.strict import StrictParser
from feedsvc.parsing.fast.text import _ACCEPTABLE_ELEMENTS as _ACCEPTABLE_ELEMENTS
from feedsvc.parsing.fast.text import _CP1252 as _CP1252
from feedsvc.parsing.fast.urls import _ACCEPTABLE_URI_SCHEMES as _ACCEPTABLE_URI_SCHEMES

__all__ = ["parse_fast"]


class _Emulator(StrictParser, cc.Namespace, dc.Namespace, georss.Namespace, itunes.Namespace,
                mediarss.Namespace):
    """feedparser's _FeedParserMixin + _StrictFeedParser, for the elements we read, on pyexpat:
    the expat driver (strict.py) and the namespace handlers (namespaces/), on the core state
    machine (mixin.py). One emulator per document."""


def parse_fast(source: str, content: bytes, url: str, headers: dict[str, str] | None = None,
               max_entries: int = 500, max_bytes: int = 10 * 1024 * 1024) -> ParsedFeed | None:
    """``feedparser_path.parse_feed``'s result for a clean RSS/Atom document, or None (use
    parse_feed)."""
    if content[:2] == b"\x1f\x8b":
        return None
    content = unwrap(source, content, url, max_bytes)  # not gzip: pure, never raises
    ctype = (headers or {}).get("content-type", "")
    if looks_like_json(content, ctype):
        return None
    try:
        data, warning = _decode(content, ctype or "application/xml")
        emu = _Emulator()
        emu.run(data)
    except (_NotClean, pyexpat.ExpatError, KeyError, IndexError, TypeError, AttributeError,
            ValueError, RecursionError):
        # KeyError & co: feedparser would raise or swallow in a way not ported here
        return None
    if not emu.version or emu.root not in _ROOTS or (warning and not emu.entries):
        return None
    entries = emu.entries[:max_entries]
    for e in entries:
        _add_enclosures(e)
    return build_feed(emu.feeddata, entries, url, content, emu.version, warning, max_entries)


# Root elements read here (as feedparser's keys); feedparser's version code only labels the format
# (its state machine branches on "atom*" vs the rest, which the emulator does too).
_ROOTS = frozenset({"rss", "feed", "rdf_rdf"})


def _add_enclosures(e: dict[str, Any]) -> None:
    """FeedParserDict computes ``enclosures`` from ``links`` on access; a plain dict needs it set."""
    links = e.get("links")
    if links is None:
        return
    try:
        e["enclosures"] = [{k: v for k, v in link.items() if k != "rel"}
                           for link in links if link["rel"] == "enclosure"]
    except KeyError:  # FeedParserDict.get turns this KeyError into None
        e.pop("enclosures", None)
