"""Where a feed document's entries are, as byte spans, found without parsing them. Pure: no I/O.

A feed that changed usually gained an entry or two and still carries the forty-odd it had. The
parser's cost is per entry, so a changed feed is parsed without the entries seen before: each
entry's bytes are hashed (``Outline.spans``), and the document is parsed again with the known
spans cut out (``Outline.without``). Cutting whole elements out of a well-formed document leaves
a well-formed document with the same feed-level elements, namespaces, ``xml:base`` and
encoding around the remaining entries, so those parse to the same records as in the whole
document (tests/test_outline.py checks this on every corpus file).

An outline is only made where that argument holds: a well-formed RSS 2.0/0.9x, RSS 1.0 or Atom
document in an ASCII-compatible encoding, without a DOCTYPE (whose entities could expand
differently), with its entries where the formats put them. Anything else returns None and is
parsed whole.
"""

from __future__ import annotations

import pyexpat
import re
from dataclasses import dataclass

_TAG_END = re.compile(rb"""(?:[^>"']|"[^"]*"|'[^']*')*>""")
_ENTRY_PLACES = {            # root element (local name) → (entry local name, its parent's local name)
    "rss": ("item", "channel"),
    "RDF": ("item", None),
    "feed": ("entry", None),
}
_HEAD_SCAN = 4096            # bytes searched for a DOCTYPE
_XML_BASE = "http://www.w3.org/XML/1998/namespace base"   # xml:base, as expat names it


@dataclass(frozen=True, slots=True)
class Outline:
    """A document (as parsed: unwrapped), its entries' byte spans in document order, and the
    feed-level context the entries are read in: the XML declaration and the start tags (with
    their namespaces, xml:base and xml:lang) of every element outside the entries down to the
    feed-level elements."""
    content: bytes
    spans: tuple[tuple[int, int], ...]
    context: bytes

    def entry(self, i: int) -> bytes:
        a, b = self.spans[i]
        return self.content[a:b]

    def without(self, drop: set[int]) -> bytes:
        """The document with the entries at these indexes cut out."""
        parts, pos = [], 0
        for i, (a, b) in enumerate(self.spans):
            if i in drop:
                parts.append(self.content[pos:a])
                pos = b
        parts.append(self.content[pos:])
        return b"".join(parts)


def _local(name: str) -> str:
    return name.rpartition(" ")[2]     # "namespace-uri local-name", or the bare name


class _Scan:
    """expat handlers finding the entries. Lean on purpose: they run for every element."""

    def __init__(self, content: bytes, parser: pyexpat.XMLParserType) -> None:
        self.content = content
        self.parser = parser
        self.depth = 0
        self.parents: list[str] = []   # local names of the open elements outside entries
        self.entry_name = ""           # the local name entries have in this format
        self.entry_parent: str | None = None
        self.entry_depth = 0           # depth of the open entry, 0 outside entries
        self.base_depth = 0            # depth of an open element with xml:base inside an entry
        self.start = 0
        self.empty_end = 0
        self.bad = False
        self.spans: list[tuple[int, int]] = []
        self.context: list[bytes] = []

    def tag_at(self, i: int) -> bytes:
        m = _TAG_END.match(self.content, i + 1)
        return self.content[i:m.end()] if m else self.content[i:]

    def on_start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        if self.entry_depth:
            # xml:base in an entry only on an element of text (summary, content type="html"):
            # feedparser loses track of an xml:base scope with elements inside it (xhtml content)
            # and carries it over into the entries after it
            if self.base_depth or (attrs and _XML_BASE in attrs):
                if self.base_depth:
                    self.bad = True
                self.base_depth = self.depth
            if name.endswith(self.entry_name) and _local(name) == self.entry_name:
                self.bad = True              # an entry inside an entry: parsers disagree on it
            return
        local = _local(name)
        depth = self.depth
        if depth == 1:
            place = _ENTRY_PLACES.get(local)
            if place is None:
                self.bad = True
                self.parser.StartElementHandler = None   # not a feed: nothing more to learn
                self.parser.EndElementHandler = None
                return
            self.entry_name, self.entry_parent = place
        elif local == self.entry_name and (self.parents[-1] == self.entry_parent if self.entry_parent
                                           else depth == 2):
            self.entry_depth = depth
            if _XML_BASE in attrs:       # on the entry itself: the same loss of scope
                self.bad = True
            i = self.parser.CurrentByteIndex
            tag = self.tag_at(i)
            self.start = i
            self.empty_end = i + len(tag) if tag.endswith(b"/>") else 0
            return
        if depth <= 3:
            self.context.append(self.tag_at(self.parser.CurrentByteIndex))
        self.parents.append(local)

    def on_end(self, _name: str) -> None:
        depth = self.depth
        self.depth = depth - 1
        if self.base_depth == depth:
            self.base_depth = 0
        if not self.entry_depth:
            self.parents.pop()
        elif self.entry_depth == depth:
            self.entry_depth = 0
            if self.empty_end:                      # <item/>
                stop = self.empty_end
            else:                                   # at its end tag
                i = self.parser.CurrentByteIndex
                stop = self.content.find(b">", i) + 1 if self.content.startswith(b"</", i) else 0
            if stop <= 0:
                self.bad = True
            self.spans.append((self.start, stop))


def outline(content: bytes) -> Outline | None:
    """The outline of a feed document, or None where cutting entries out could change how the
    others parse (see the module docstring)."""
    head = content[:_HEAD_SCAN]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head[:4] or b"<!DOCTYPE" in head \
            or b"<!ENTITY" in content:
        return None
    # namespace processing on: a prefix used but never declared is an error here, as it is for
    # feedparser's strict parser (which would otherwise fall back to its loose one)
    parser = pyexpat.ParserCreate(namespace_separator=" ")
    scan = _Scan(content, parser)
    parser.StartElementHandler = scan.on_start
    parser.EndElementHandler = scan.on_end
    try:
        parser.Parse(content, True)
    except (pyexpat.ExpatError, ValueError, LookupError):   # an encoding expat lacks or nobody knows
        return None
    if scan.bad or not scan.entry_name or not scan.spans:
        return None
    decl = content[:content.find(b"?>") + 2] if content.startswith(b"<?xml") else b""
    return Outline(content=content, spans=tuple(scan.spans), context=b"\n".join([decl, *scan.context]))
