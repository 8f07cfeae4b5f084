"""What the parse paths share before parsing: ``unwrap`` (the bytes as servers and disks leave
them → the document; the fast path, feedparser_path and incremental's outline all start from it),
``looks_like_json``, and the small helpers of the converters (convert.py, jsonfeed.py)."""

from __future__ import annotations

import re
import zlib
from typing import Any

from feedsvc.errors import ParseError

_PROLOG_JUNK = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)+(?=<\?xml)", re.S)


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


def _text(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s or None
