"""Bytes → the UTF-8 bytes feedparser's expat parser sees (feedparser/encodings.py:
``convert_to_utf8``, and sanitizer.py's ``replace_doctype`` refusal of a DOCTYPE)."""

from __future__ import annotations

import codecs
import re

from feedsvc.parsing.fast.exceptions import _NotClean

_RE_XML_PI_ENCODING = re.compile(rb'^<\?.*encoding=[\'"](.*?)[\'"].*\?>')
_RE_XML_DECLARATION_STR = re.compile(r"^<\?xml[^>]*?>")
_RE_XML_DECLARATION = re.compile(rb"^<\?xml[^>]*?>")
_NEW_DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>"
_NEW_DECLARATION_STR = "<?xml version='1.0' encoding='utf-8'?>"
_RE_FIRST_ELEMENT = re.compile(rb"<\w")
_UNICODE_MARKERS = {b"\x4c\x6f\xa7\x94": "cp037", b"\x00\x3c\x00\x3f": "utf-16be",
                    b"\x3c\x00\x3f\x00": "utf-16le", b"\x00\x00\x00\x3c": "utf-32be",
                    b"\x3c\x00\x00\x00": "utf-32le"}
_UNICODE_NAMES = ("u16", "utf-16", "utf16", "utf_16", "u32", "utf-32", "utf32", "utf_32",
                  "iso-10646-ucs-2", "iso-10646-ucs-4", "csucs4", "csunicode", "ucs-2", "ucs-4")
_APPLICATION_XML = ("application/xml", "application/xml-dtd", "application/xml-external-parsed-entity")
_TEXT_XML = ("text/xml", "text/xml-external-parsed-entity")


def _content_type(line: str) -> tuple[str, str]:
    """feedparser.encodings.parse_content_type."""
    chunks = line.split(";")
    mime_type = chunks[0].strip()
    charset = ""
    for chunk in chunks[1:]:
        key, _, value = chunk.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'")
    return mime_type, charset


def _decode(data: bytes, ctype: str) -> tuple[bytes, str | None]:
    """feedparser's ``convert_to_utf8`` + ``replace_doctype``: the UTF-8 bytes its expat parser
    sees, and the bozo warning parse_feed would report. Not clean when feedparser would have to
    guess (chardet and its last-resort encodings)."""
    bom_encoding = ""
    if data[:4] == codecs.BOM_UTF32_BE:
        bom_encoding, data = "utf-32be", data[4:]
    elif data[:4] == codecs.BOM_UTF32_LE:
        bom_encoding, data = "utf-32le", data[4:]
    elif data[:2] == codecs.BOM_UTF16_BE:     # (feedparser's "and data[2:4] != ZERO_BYTES" compares
        bom_encoding, data = "utf-16be", data[2:]   # bytes with str: always true)
    elif data[:2] == codecs.BOM_UTF16_LE:
        bom_encoding, data = "utf-16le", data[2:]
    elif data[:3] == codecs.BOM_UTF8:
        bom_encoding, data = "utf-8", data[3:]
    elif data[:4] in _UNICODE_MARKERS:
        bom_encoding = _UNICODE_MARKERS[data[:4]]
    xml_encoding = ""
    try:
        tempdata = data.decode(bom_encoding).encode("utf-8") if bom_encoding else data
    except (UnicodeDecodeError, LookupError):
        m = None
    else:
        m = _RE_XML_PI_ENCODING.match(tempdata)
    if m:
        xml_encoding = m.group(1).decode("utf-8").lower()
        if bom_encoding and xml_encoding in _UNICODE_NAMES:
            xml_encoding = bom_encoding
    mime, http_encoding = _content_type(ctype)
    acceptable = True
    if mime in _APPLICATION_XML or (mime.startswith("application/") and mime.endswith("+xml")):
        rfc3023 = http_encoding or xml_encoding or "utf-8"
    elif mime in _TEXT_XML or (mime.startswith("text/") and mime.endswith("+xml")):
        rfc3023 = http_encoding or "us-ascii"
    elif mime.startswith("text/"):
        rfc3023, acceptable = http_encoding or "us-ascii", False
    else:
        rfc3023, acceptable = xml_encoding or "utf-8", False
    if rfc3023.lower() == "gb2312":
        rfc3023 = "gb18030"
    if xml_encoding.lower() == "gb2312":
        xml_encoding = "gb18030"
    error = None if acceptable else f"NonXMLContentType: {ctype} is not an XML media type"
    text = None
    tried: list[str] = []
    for proposed in (rfc3023, xml_encoding, bom_encoding):
        if not proposed or proposed in tried:
            continue
        tried.append(proposed)
        try:
            text = data.decode(proposed)
        except (UnicodeDecodeError, LookupError):
            continue
        break
    if text is None:
        raise _NotClean("encoding guessed by chardet or a fallback")
    if proposed != rfc3023:
        error = f"CharacterEncodingOverride: document declared as {rfc3023}, but parsed as {proposed}"
    if codecs.lookup(proposed).name in ("utf-8", "ascii"):
        # the same bytes; only the declaration changes (expat gets encoding="utf-8" anyway)
        out = _RE_XML_DECLARATION.sub(_NEW_DECLARATION, data, count=1)
    else:
        if _RE_XML_DECLARATION_STR.search(text):
            text = _RE_XML_DECLARATION_STR.sub(_NEW_DECLARATION_STR, text)
        else:
            text = _NEW_DECLARATION_STR + "\n" + text
        out = text.encode("utf-8")
    first = _RE_FIRST_ELEMENT.search(out)
    head = out[:first.start()] if first else out
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise _NotClean("DOCTYPE")   # (expat would stop at it too: _Emulator._doctype)
    return out, (" ".join(error.split())[:300] if error else None)
