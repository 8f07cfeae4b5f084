"""Text as feedparser's ``pop()`` repairs and judges it: the latin-1/utf-8 and windows-1252
repairs (feedparser/html.py's ``_cp1252``), the RSS "looks like HTML" guess (mixin.py's
``looks_like_html`` with sanitizer.py's acceptable elements), and the escaping of text inside
xhtml content (``xml.sax.saxutils.escape``)."""

from __future__ import annotations

import html.entities
import re


def _xml_escape(text: str, extra: dict[str, str] | None = None) -> str:
    """``xml.sax.saxutils.escape`` (importing saxutils pulls in urllib.request, http and ssl:
    ~5 MB in every parse worker)."""
    text = text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
    for k, v in (extra or {}).items():
        text = text.replace(k, v)
    return text


# html._cp1252: C1 controls read as windows-1252
_CP1252 = {128: "\u20ac", 130: "\u201a", 131: "\u0192", 132: "\u201e", 133: "\u2026", 134: "\u2020",
           135: "\u2021", 136: "\u02c6", 137: "\u2030", 138: "\u0160", 139: "\u2039", 140: "\u0152",
           142: "\u017d", 145: "\u2018", 146: "\u2019", 147: "\u201c", 148: "\u201d", 149: "\u2022",
           150: "\u2013", 151: "\u2014", 152: "\u02dc", 153: "\u2122", 154: "\u0161", 155: "\u203a",
           156: "\u0153", 158: "\u017e", 159: "\u0178"}

_C1_CONTROLS = re.compile("[\x80-\x9f]")
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")

# sanitizer._HTMLSanitizer.acceptable_elements (used by looks_like_html)
_ACCEPTABLE_ELEMENTS = frozenset("""
a abbr acronym address area article aside audio b big blockquote br button canvas caption center cite
code col colgroup command datagrid datalist dd del details dfn dialog dir div dl dt em event-source
fieldset figcaption figure font footer form h1 h2 h3 h4 h5 h6 header hr i img input ins kbd keygen
label legend li m map menu meter multicol nav nextid noscript ol optgroup option output p pre progress
q s samp section select small sound source spacer span strike strong sub sup table tbody td textarea
tfoot th thead time tr tt u ul var video
""".split())

_LLH_CLOSE = re.compile(r"</(\w+)>")
_LLH_REF = re.compile(r"&#?\w+;")
_LLH_TAG = re.compile(r"</?(\w+)")
_LLH_ENTITY = re.compile(r"&(\w+);")


def _fix_text(s: str) -> str:
    """pop(): undo utf-8 read as latin-1, then map C1 controls to windows-1252."""
    if s.isascii():
        return s
    try:
        s = s.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return s.translate(_CP1252) if _C1_CONTROLS.search(s) else s


# When none of these is in the (UTF-8) document, no text can change in _fix_text: the latin-1 →
# utf-8 repair needs a character U+00C2..U+00F4 and one U+0080..U+00BF (or character references
# to them), the cp1252 mapping a C1 control U+0080..U+009F.
_MAYBE_LEAD = re.compile(rb"\xc3[\x82-\xb4]")
_MAYBE_CONT = re.compile(rb"\xc2[\x80-\xbf]")
_MAYBE_REF = re.compile(rb"&#(?:[xX]0*[89a-fA-F][0-9a-fA-F]|0*(?:1[2-9][0-9]|2[0-5][0-9]));")


def _needs_text_fix(data: bytes) -> bool:
    if b"\xc2" in data and _MAYBE_CONT.search(data) and (
            _MAYBE_LEAD.search(data) or _C1_UTF8.search(data)):
        return True
    return b"&#" in data and _MAYBE_REF.search(data) is not None


def _looks_like_html(s: str) -> bool:
    if not (_LLH_CLOSE.search(s) or _LLH_REF.search(s)):
        return False
    if any(t for t in _LLH_TAG.findall(s) if t.lower() not in _ACCEPTABLE_ELEMENTS):
        return False
    if any(e for e in _LLH_ENTITY.findall(s) if e not in html.entities.entitydefs):
        return False
    return True
