"""A fast path for clean RSS / Atom / RDF documents, equal to feedparser's result.

``parse_fast`` returns the same ``ParsedFeed`` as ``parse.parse_feed`` for the documents it
accepts, and ``None`` ("not clean: use parse_feed") for everything else. It is ~8x faster (see
benchmarks/parse_bench.py) because it skips what feedparser does per element that we do not use
(its sanitiser and URI resolver are already off; its generic handler dispatch, FeedParserDict,
the loose SGML parser, the date formats nobody sends...).

How it stays equal to feedparser instead of approximating it:

- **The same XML parser.** feedparser's strict path is ``xml.sax`` over expat with namespace
  processing; this module drives ``pyexpat`` directly with the same settings, on the same bytes
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
  converters in ``parse.py`` (``_entry``, ``_ttl``, ``_base``...), so the conversion rules live
  in one place.

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
"""

from __future__ import annotations

import base64
import binascii
import codecs
import datetime as _dt
import html.entities
import re
import urllib.parse
from typing import Any, Callable

import pyexpat

from feedsvc.parsing import document as _parse
from feedsvc.model import ParsedFeed

__all__ = ["parse_fast"]


def _xml_escape(text: str, extra: dict[str, str] | None = None) -> str:
    """``xml.sax.saxutils.escape`` (importing saxutils pulls in urllib.request, http and ssl:
    ~5 MB in every parse worker)."""
    text = text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
    for k, v in (extra or {}).items():
        text = text.replace(k, v)
    return text


class _NotClean(Exception):
    """Raised anywhere in the fast path: the document needs feedparser."""


def parse_fast(source: str, content: bytes, url: str, headers: dict[str, str] | None = None,
               max_entries: int = 500, max_bytes: int = 10 * 1024 * 1024) -> ParsedFeed | None:
    """``parse.parse_feed``'s result for a clean RSS/Atom document, or None (use parse_feed)."""
    if content[:2] == b"\x1f\x8b":
        return None
    content = _parse.unwrap(source, content, url, max_bytes)  # not gzip: pure, never raises
    ctype = (headers or {}).get("content-type", "")
    if _parse.looks_like_json(content, ctype):
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
    return _parse.build_feed(emu.feeddata, entries, url, content, emu.version, warning, max_entries)


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


# ---------------------------------------------------------------- encoding (feedparser/encodings.py)

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


# ---------------------------------------------------------------- tables copied from feedparser 6.0

# mixin._FeedParserMixin.namespaces, keys lower-cased (its _matchnamespaces)
_MATCHNS: dict[str, str] = {
    "": "", "http://backend.userland.com/rss": "", "http://blogs.law.harvard.edu/tech/rss": "",
    "http://purl.org/rss/1.0/": "", "http://my.netscape.com/rdf/simple/0.9/": "",
    "http://example.com/newformat#": "", "http://example.com/necho": "", "http://purl.org/echo/": "",
    "uri/of/echo/namespace#": "", "http://purl.org/pie/": "", "http://purl.org/atom/ns#": "",
    "http://www.w3.org/2005/atom": "", "http://purl.org/rss/1.0/modules/rss091#": "",
    "http://webns.net/mvcb/": "admin", "http://purl.org/rss/1.0/modules/aggregation/": "ag",
    "http://purl.org/rss/1.0/modules/annotate/": "annotate", "http://media.tangent.org/rss/1.0/": "audio",
    "http://backend.userland.com/blogchannelmodule": "blogChannel",
    "http://creativecommons.org/ns#license": "cc", "http://web.resource.org/cc/": "cc",
    "http://cyber.law.harvard.edu/rss/creativecommonsrssmodule.html": "creativeCommons",
    "http://backend.userland.com/creativecommonsrssmodule": "creativeCommons",
    "http://purl.org/rss/1.0/modules/company": "co", "http://purl.org/rss/1.0/modules/content/": "content",
    "http://my.theinfo.org/changed/1.0/rss/": "cp", "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms", "http://purl.org/rss/1.0/modules/email/": "email",
    "http://purl.org/rss/1.0/modules/event/": "ev", "http://rssnamespace.org/feedburner/ext/1.0": "feedburner",
    "http://freshmeat.net/rss/fm/": "fm", "http://xmlns.com/foaf/0.1/": "foaf",
    "http://www.w3.org/2003/01/geo/wgs84_pos#": "geo", "http://www.georss.org/georss": "georss",
    "http://www.opengis.net/gml": "gml", "http://postneo.com/icbm/": "icbm",
    "http://purl.org/rss/1.0/modules/image/": "image", "http://www.itunes.com/dtds/podcast-1.0.dtd": "itunes",
    "http://example.com/dtds/podcast-1.0.dtd": "itunes", "http://purl.org/rss/1.0/modules/link/": "l",
    "http://search.yahoo.com/mrss": "media", "http://search.yahoo.com/mrss/": "media",
    "http://madskills.com/public/xml/rss/module/pingback/": "pingback",
    "http://prismstandard.org/namespaces/1.2/basic/": "prism",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf", "http://www.w3.org/2000/01/rdf-schema#": "rdfs",
    "http://purl.org/rss/1.0/modules/reference/": "ref", "http://purl.org/rss/1.0/modules/richequiv/": "reqv",
    "http://purl.org/rss/1.0/modules/search/": "search", "http://purl.org/rss/1.0/modules/slash/": "slash",
    "http://schemas.xmlsoap.org/soap/envelope/": "soap", "http://purl.org/rss/1.0/modules/servicestatus/": "ss",
    "http://hacks.benhammersley.com/rss/streaming/": "str", "http://purl.org/rss/1.0/modules/subscription/": "sub",
    "http://purl.org/rss/1.0/modules/syndication/": "sy", "http://schemas.pocketsoap.com/rss/mydescmodule/": "szf",
    "http://purl.org/rss/1.0/modules/taxonomy/": "taxo", "http://purl.org/rss/1.0/modules/threading/": "thr",
    "http://purl.org/rss/1.0/modules/textinput/": "ti",
    "http://madskills.com/public/xml/rss/module/trackback/": "trackback",
    "http://wellformedweb.org/commentapi/": "wfw", "http://purl.org/rss/1.0/modules/wiki/": "wiki",
    "http://www.w3.org/1999/xhtml": "xhtml", "http://www.w3.org/1999/xlink": "xlink",
    "http://www.w3.org/xml/1998/namespace": "xml", "http://podlove.org/simple-chapters": "psc",
}

# Every element key (prefix_local) feedparser 6.0 has a _start_ or _end_ method for. A key listed
# here and not handled in _Emulator makes the document "not clean"; a key not listed is an unknown
# element that feedparser only stores under its own name. (A test compares this with feedparser.)
FP_HANDLER_KEYS = frozenset("""
abstract author body category cc_license channel cloud content content_encoded contributor copyright
created creativeCommons_license creativecommons_license dc_author dc_contributor dc_creator dc_date
dc_description dc_language dc_publisher dc_rights dc_subject dc_title dcterms_created dcterms_issued
dcterms_modified dcterms_valid description email enclosure entry expirationdate feed
feedburner_browserfriendly fullitem generator geom georss_box georss_line georss_point georss_polygon
georss_where georssgeom gml_exterior gml_linearring gml_linestring gml_point gml_polygon gml_pos
gml_poslist guid height homepage id image info issued item itunes_author itunes_block itunes_category
itunes_email itunes_explicit itunes_image itunes_keywords itunes_link itunes_name itunes_owner
itunes_subtitle itunes_summary keywords language lastbuilddate link managingeditor media_category
media_content media_credit media_description media_group media_keywords media_license media_player
media_rating media_restriction media_thumbnail media_title modified name newlocation psc_chapter
psc_chapters pubdate published rights rss source subtitle summary tagline tags textInput textinput
title updated uri url webmaster where width xhtml_body
""".split())

# sanitizer._HTMLSanitizer.acceptable_elements (used by looks_like_html)
_ACCEPTABLE_ELEMENTS = frozenset("""
a abbr acronym address area article aside audio b big blockquote br button canvas caption center cite
code col colgroup command datagrid datalist dd del details dfn dialog dir div dl dt em event-source
fieldset figcaption figure font footer form h1 h2 h3 h4 h5 h6 header hr i img input ins kbd keygen
label legend li m map menu meter multicol nav nextid noscript ol optgroup option output p pre progress
q s samp section select small sound source spacer span strike strong sub sup table tbody td textarea
tfoot th thead time tr tt u ul var video
""".split())

# urls.ACCEPTABLE_URI_SCHEMES
_ACCEPTABLE_URI_SCHEMES = (
    "file", "ftp", "gopher", "h323", "hdl", "http", "https", "imap", "magnet", "mailto", "mms", "news",
    "nntp", "prospero", "rsync", "rtsp", "rtspu", "sftp", "shttp", "sip", "sips", "snews", "svn",
    "svn+ssh", "telnet", "wais", "aim", "callto", "cvs", "facetime", "feed", "git", "gtalk", "irc",
    "ircs", "irc6", "itms", "mms", "msnim", "skype", "ssh", "smb", "svn", "ymsg",
)

# html._cp1252: C1 controls read as windows-1252
_CP1252 = {128: "\u20ac", 130: "\u201a", 131: "\u0192", 132: "\u201e", 133: "\u2026", 134: "\u2020",
           135: "\u2021", 136: "\u02c6", 137: "\u2030", 138: "\u0160", 139: "\u2039", 140: "\u0152",
           142: "\u017d", 145: "\u2018", 146: "\u2019", 147: "\u201c", 148: "\u201d", 149: "\u2022",
           150: "\u2013", 151: "\u2014", 152: "\u02dc", 153: "\u2122", 154: "\u0161", 155: "\u203a",
           156: "\u0153", 158: "\u017e", 159: "\u0178"}

_C1_CONTROLS = re.compile("[\x80-\x9f]")
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")
_CAN_BE_RELATIVE_URI = frozenset({"comments", "docs", "href", "icon", "id", "link", "logo", "url",
                                  "wfw_comment", "wfw_commentrss"})
_HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})
_TEXTUAL_TYPES = _HTML_TYPES | {"text/plain"}
_XHTML = "application/xhtml+xml"
_XLINK = "http://www.w3.org/1999/xlink"

_URIFIXER = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
_ENTITY_AMP = re.compile("&([A-Za-z0-9_]+);")
_EMAIL = re.compile(r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?""")
_LLH_CLOSE = re.compile(r"</(\w+)>")
_LLH_REF = re.compile(r"&#?\w+;")
_LLH_TAG = re.compile(r"</?(\w+)")
_LLH_ENTITY = re.compile(r"&(\w+);")

# Keys of unknown elements that would overwrite what parse.py or a handler reads from a context
# (including FeedParserDict's key aliases such as date_parsed -> updated_parsed).
_GENERIC_COLLIDES = frozenset({
    "title", "title_detail", "summary", "summary_detail", "description", "description_detail",
    "content", "link", "links", "id", "guid", "guidislink", "author", "authors", "author_detail",
    "publisher", "publisher_detail", "contributors", "tags", "category", "published_parsed",
    "issued_parsed", "updated_parsed", "modified_parsed", "date_parsed", "enclosures", "license",
    "image", "textinput", "where", "source", "generator_detail", "media_content", "media_thumbnail",
    "media_credit", "media_rating", "media_restriction", "media_license", "media_player",
    "psc_chapters",
})
# Unknown feed-level elements whose text parse.py reads (parse._ttl)
_GENERIC_FEED_KEYS = frozenset({"ttl", "sy_updateperiod", "sy_updatefrequency"})


# ---------------------------------------------------------------- small ports of feedparser helpers

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


def _map_content_type(content_type: str) -> str:
    content_type = content_type.lower()
    if content_type in ("text", "plain"):
        return "text/plain"
    if content_type == "html":
        return "text/html"
    if content_type == "xhtml":
        return _XHTML
    return content_type


def _urljoin(base: str, uri: str) -> str:
    """feedparser.urls._urljoin."""
    if ":///" in uri:   # (the fixer only removes slashes right after "scheme://")
        uri = _URIFIXER.sub(r"\1\3", uri)
    if not base:
        return uri
    if uri and uri.isascii() and "[" not in uri and "]" not in uri:   # (urlsplit cannot raise)
        m = _SCHEME.match(uri)
        bscheme = _scheme_of(base)
        if m is not None and bscheme is not None:
            scheme = m.group(1).lower()
            if scheme != bscheme:
                return uri   # urljoin returns a URL with another scheme as it is
            if scheme in ("http", "https") and _PLAIN_URL.match(uri):
                return uri   # urljoin returns urlunparse(urlparse(uri)): the same string
    try:
        return urllib.parse.urljoin(base, uri)
    except ValueError:
        return ""


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
# an absolute URL that urlunparse(urlparse()) gives back unchanged: lower-case scheme, a host,
# printable ASCII, no ';' params, no empty '?' or '#', no brackets in the host
_PLAIN_URL = re.compile(r"[a-z][a-z0-9+.\-]*://[!-\"$-.0-:<->@A-Z\\^-z|~]+"
                        r"(?:/[!-\"$-:<->@-~]*)?(?:\?[!-\"$-~]+)?(?:#[!-~]+)?\Z")


def _scheme_of(base: str) -> str | None:
    try:
        return urllib.parse.urlsplit(base)[0]    # (lru_cache'd by urllib)
    except ValueError:
        return None


def _make_safe_absolute_uri(base: str, rel: str | None = None) -> str:
    if not base:
        return rel or ""
    if not rel:
        try:
            scheme = urllib.parse.urlparse(base)[0]
        except ValueError:
            return ""
        if not scheme or scheme in _ACCEPTABLE_URI_SCHEMES:
            return base
        return ""
    uri = _urljoin(base, rel)
    if uri.strip().split(":", 1)[0] not in _ACCEPTABLE_URI_SCHEMES:
        return ""
    return uri


# ---- dates: feedparser tries W3C-DTF, then RFC 822, then formats nobody sends; ports of the first
# two, and "not clean" when neither reads a non-empty date.

_W3DTF_TZ = {"ut": 0, "gmt": 0, "z": 0, "adt": -3, "ast": -4, "at": -4, "edt": -4, "est": -5, "et": -5,
             "cdt": -5, "cst": -6, "ct": -6, "mdt": -6, "mst": -7, "mt": -7, "pdt": -7, "pst": -8,
             "pt": -8, "a": -1, "n": 1, "m": -12, "y": 12}
_RFC822_TZ = dict(_W3DTF_TZ, met=1, mest=2)
_DAY_NAMES = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
           "oct": 10, "nov": 11, "dec": 12}


def _parse_date_w3dtf(datestr: str) -> Any:
    if not datestr.strip():
        return None
    parts = datestr.lower().split("t")
    if len(parts) == 1:
        parts = parts[0].split()
        if len(parts) == 1:
            parts.append("00:00:00z")
    elif len(parts) > 2:
        return None
    date = parts[0].split("-", 2)
    if not date or len(date[0]) != 4:
        return None
    date.extend(["1"] * (3 - len(date)))
    try:
        year, month, day = [int(i) for i in date]
    except ValueError:
        return None
    if parts[1].endswith("z"):
        parts[1] = parts[1][:-1]
        parts.append("z")
    loc = parts[1].find("-") + 1 or parts[1].find("+") + 1 or len(parts[1]) + 1
    loc = loc - 1
    parts.append(parts[1][loc:])
    parts[1] = parts[1][:loc]
    time = parts[1].split(":", 2)
    time.extend(["0"] * (3 - len(time)))
    if parts[2][:1] in ("-", "+"):
        try:
            tzhour = int(parts[2][1:3])
            tzmin = int(parts[2][4:])
        except ValueError:
            return None
        if parts[2].startswith("-"):
            tzhour = tzhour * -1
            tzmin = tzmin * -1
    else:
        tzhour = _W3DTF_TZ.get(parts[2], 0)
        tzmin = 0
    try:
        hour, minute, second = [int(float(i)) for i in time]
    except ValueError:
        return None
    try:
        stamp = _dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    delta = _dt.timedelta(0, 0, 0, 0, tzmin, tzhour)
    try:
        return (stamp - delta).utctimetuple()
    except (OverflowError, ValueError):
        return None


def _parse_date_rfc822(date: str) -> Any:
    parts = date.lower().split()
    if len(parts) < 5:
        parts.extend(("00:00:00", "0000"))
    if parts[0][:3] in _DAY_NAMES:
        parts = parts[1:]
    if len(parts) < 5:
        return None
    month = _MONTHS.get(parts[1][:3])
    try:
        day = int(parts[0])
    except ValueError:
        if _MONTHS.get(parts[0][:3]):
            try:
                day = int(parts[1])
            except ValueError:
                return None
            month = _MONTHS.get(parts[0][:3])
        else:
            return None
    if not month:
        return None
    try:
        year = int(parts[2])
    except ValueError:
        return None
    if len(parts[2]) <= 2:
        year += (1900, 2000)[year < 90]
    time_parts = parts[3].split(":")
    time_parts.extend(("0",) * (3 - len(time_parts)))
    try:
        (hour, minute, second) = [int(i) for i in time_parts]
    except ValueError:
        return None
    if parts[4].startswith("etc/"):
        parts[4] = parts[4][4:]
    if parts[4].startswith("gmt"):
        parts[4] = "".join(parts[4][3:].split(":")) or "gmt"
    if parts[4] and parts[4][0] in ("-", "+"):
        try:
            if ":" in parts[4]:
                timezone_hours = int(parts[4][1:3])
                timezone_minutes = int(parts[4][4:])
            else:
                timezone_hours = int(parts[4][1:3])
                timezone_minutes = int(parts[4][3:])
        except ValueError:
            return None
        if parts[4].startswith("-"):
            timezone_hours *= -1
            timezone_minutes *= -1
    else:
        timezone_hours = _RFC822_TZ.get(parts[4], 0)
        timezone_minutes = 0
    try:
        stamp = _dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    delta = _dt.timedelta(0, 0, 0, 0, timezone_minutes, timezone_hours)
    try:
        return (stamp - delta).utctimetuple()
    except (OverflowError, ValueError):
        return None


_W3DTF_FAST = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.\d+)?"
                         r"(?:[Zz]|([+-])(\d\d):(\d\d))\Z")
_RFC822_FAST = re.compile(r"(?:(?:mon|tue|wed|thu|fri|sat|sun),? )?(\d\d?) ([a-z]{3}) (\d{4}) "
                          r"(\d\d):(\d\d):(\d\d) (?:([+-])(\d\d)(\d\d)|gmt|ut|utc|z)\Z", re.I)


def _fast_date(value: str, offsets: dict[str, _dt.timedelta]) -> Any:
    """The canonical RFC 3339 and RFC 822 shapes, computed as the ports compute them (W3C-DTF
    rejects every RFC 822 string of this shape, so the order of the parsers does not matter).
    Returns the first six fields of the UTC time tuple (all that parse._date reads), padded to 9."""
    m = _W3DTF_FAST.match(value) if value[4:5] == "-" else None
    if m is not None:
        y, mo, d, h, mi, sec, sign, tzh, tzm = m.groups()
        stamp = _dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec))
    else:
        m = _RFC822_FAST.match(value)
        if m is None:
            return None
        d, mo, y, h, mi, sec, sign, tzh, tzm = m.groups()
        month = _MONTHS.get(mo.lower())
        if month is None:
            return None
        stamp = _dt.datetime(int(y), month, int(d), int(h), int(mi), int(sec))
    if sign is not None and (tzh != "00" or tzm != "00"):
        key = sign + tzh + tzm
        delta = offsets.get(key)
        if delta is None:
            delta = offsets[key] = _dt.timedelta(hours=int(tzh), minutes=int(tzm))
        stamp = stamp + delta if sign == "-" else stamp - delta
    return (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second, 0, 0, 0)


def _parse_date(value: str | None, offsets: dict[str, _dt.timedelta] | None = None) -> Any:
    if not value:
        return None
    try:
        parsed = _fast_date(value, {} if offsets is None else offsets)
    except (ValueError, OverflowError):
        parsed = None
    if parsed is not None:
        return parsed
    for handler in (_parse_date_w3dtf, _parse_date_rfc822):
        try:
            parsed = handler(value)
        except (KeyError, OverflowError, ValueError, AttributeError):
            continue
        if parsed and len(parsed) == 9:
            return parsed
    raise _NotClean(f"date {value!r}")


# ---------------------------------------------------------------- the emulator

_Handler = Callable[["_Emulator", dict[str, str]], None]
_EndHandler = Callable[["_Emulator"], None]


class _Emulator:
    """feedparser's _FeedParserMixin + _StrictFeedParser, for the elements we read, on pyexpat.

    Method names follow feedparser's (``_s_x`` = ``_start_x``, ``_e_x`` = ``_end_x``) so the two
    can be read side by side. Everything is per instance: one emulator per document.
    """

    def __init__(self) -> None:
        self.feeddata: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.version = ""
        self.namespaces_in_use: dict[str, str] = {}
        self.namespacemap: dict[str | None, str] = {}
        self.infeed = self.inentry = self.incontent = self.intextinput = self.inimage = 0
        self.inauthor = self.incontributor = self.inpublisher = self.insource = 0
        self.sourcedata: dict[str, Any] = {}
        self.contentparams: dict[str, Any] = {}
        self._summaryKey: str | None = None
        self.elementstack: list[list[Any]] = []
        self.basestack: list[str] = []
        self.baseuri = ""
        self.title_depth = -1
        self.depth = 0
        self.hasContent = 0
        self.guidislink: Any = 0
        self.pdm: dict[str, int] = {}          # property_depth_map of the current entry
        self.root: str | None = None          # the root element's key
        self.inner = 0                        # open elements inside a text construct
        self._escape = False                  # contentparams["type"] is xhtml: escape text
        self._tags: dict[str, tuple[str, _Handler, str, bool, bool]] = {}   # per expat name
        self._endtags: dict[str, tuple[str, _EndHandler, str]] = {}
        self._bases: dict[tuple[str, str], str] = {}
        self._fixing = True                   # the document may need _fix_text
        self._offsets: dict[str, _dt.timedelta] = {}
        self._dates: dict[str | None, Any] = {}

    # -- driving expat

    def run(self, data: bytes) -> None:
        self._fixing = _needs_text_fix(data)
        p = pyexpat.ParserCreate("utf-8", " ")
        p.namespace_prefixes = True
        p.buffer_text = True
        p.buffer_size = 65536
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self.handle_data
        p.StartNamespaceDeclHandler = self._ns_decl
        p.StartDoctypeDeclHandler = self._doctype
        p.EntityDeclHandler = self._doctype
        p.Parse(data, True)

    @staticmethod
    def _doctype(*args: object) -> None:
        raise _NotClean("DOCTYPE")

    def _ns_decl(self, prefix: str | None, uri: str) -> None:
        # _StrictFeedParser.startPrefixMapping + track_namespace
        if not uri:
            return
        prefix = prefix or None
        if prefix and uri == _XLINK:
            raise _NotClean("xlink declaration (becomes an attribute)")
        loweruri = uri.lower()
        if not self.version:
            if (prefix, loweruri) == (None, "http://my.netscape.com/rdf/simple/0.9/"):
                self.version = "rss090"
            elif loweruri == "http://purl.org/rss/1.0/":
                self.version = "rss10"
            elif loweruri == "http://www.w3.org/2005/atom":
                self.version = "atom10"
        if "backend.userland.com/rss" in loweruri:
            uri = "http://backend.userland.com/rss"
            loweruri = uri
        if loweruri in _MATCHNS:
            self.namespacemap[prefix] = _MATCHNS[loweruri]
            self.namespaces_in_use[_MATCHNS[loweruri]] = uri
        else:
            self.namespaces_in_use[prefix or ""] = uri
        self._tags.clear()
        self._endtags.clear()

    def _key(self, name: str, start: bool) -> tuple[str, bool, str]:
        """expat name → feedparser's handler key (``prefix_local`` or ``local``), "no prefix", and
        the tag unknown_starttag sees (``prefix:local``)."""
        parts = name.split()
        if len(parts) == 1:
            namespace, localname = None, name
        elif len(parts) in (2, 3):
            namespace, localname = parts[0], parts[1]
        else:
            raise _NotClean("space in a namespace URI")
        lowernamespace = (namespace or "").lower()
        if start and "backend.userland.com/rss" in lowernamespace:
            namespace = lowernamespace = "http://backend.userland.com/rss"
        prefix = _MATCHNS.get(lowernamespace, None if start else "")
        if start:
            localname = localname.lower()
        if prefix:
            localname = (prefix.lower() if start else prefix) + ":" + localname
        elif namespace:
            for n, value in self.namespaces_in_use.items():
                if n and value == namespace:
                    localname = n + ":" + localname
                    break
        tag = localname.lower()
        if start and tag in ("math", "svg") and namespace in ("http://www.w3.org/1998/Math/MathML",
                                                             "http://www.w3.org/2000/svg"):
            raise _NotClean("MathML/SVG (feedparser adds an xmlns attribute)")
        # unknown_starttag / unknown_endtag
        if ":" in tag:
            pfx, suffix = tag.split(":", 1)
        else:
            pfx, suffix = "", tag
        pfx = self.namespacemap.get(pfx, pfx)
        return (pfx + "_" + suffix if pfx else suffix), not pfx, tag

    @staticmethod
    def _attrs(attrs: dict[str, str]) -> dict[str, str]:
        """_StrictFeedParser.startElementNS + _normalize_attributes, from expat's attributes."""
        attrs_d: dict[str, str] = {}
        for aname, value in attrs.items():
            if " " in aname:
                break
            attrs_d[aname.lower()] = value
        else:   # no namespaced attribute: both of feedparser's loops set the same keys
            if "rel" in attrs_d:
                attrs_d["rel"] = attrs_d["rel"].lower()
            if "type" in attrs_d:
                attrs_d["type"] = attrs_d["type"].lower()
            return attrs_d
        attrs_d = {}
        qnames = []
        for aname, value in attrs.items():
            parts = aname.split()
            if len(parts) == 1:
                qname, namespace, local = aname, None, aname
            elif len(parts) == 3:
                qname, namespace, local = parts[2] + ":" + parts[1], parts[0], parts[1]
            elif len(parts) == 2:
                qname, namespace, local = parts[1], parts[0], parts[1]
            else:
                raise _NotClean("space in a namespace URI")
            prefix = _MATCHNS.get((namespace or "").lower(), "")
            if prefix:
                local = prefix + ":" + local
            attrs_d[local.lower()] = value
            qnames.append((qname, value))
        for qname, value in qnames:
            attrs_d[qname.lower()] = value
        for k in ("rel", "type"):
            if k in attrs_d:
                attrs_d[k] = attrs_d[k].lower()
        return attrs_d

    def _start_info(self, name: str) -> tuple[str, _Handler, str, bool, bool]:
        """What _start needs to know about an element name, computed once per document."""
        key, noprefix, tag = self._key(name, True)
        handler = _START.get(key)
        if handler is None:
            if key not in FP_HANDLER_KEYS:
                handler = _generic_start(key)
            elif key in _END:   # only an _end_ handler (itunes:keywords, ...): generic start
                handler = _raw_generic_start(key)
            else:
                handler = _not_ported(key)
        # feedparser's "special hack" for empty textinput / image elements in ill-formed feeds
        ends_textinput = noprefix and key not in ("title", "link", "description", "name")
        ends_image = noprefix and key not in ("title", "link", "description", "url", "href",
                                              "width", "height")
        return key, handler, tag, ends_textinput, ends_image

    def _end_info(self, name: str) -> tuple[str, _EndHandler, str]:
        key, _, tag = self._key(name, False)
        handler = _END.get(key)
        if handler is None:
            handler = _not_ported_end(key) if key in FP_HANDLER_KEYS else _generic_end_light(key)
        return key, handler, tag

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        # _StrictFeedParser.startElementNS + _FeedParserMixin.unknown_starttag
        info = self._tags.get(name)
        if info is None:
            info = self._tags[name] = self._start_info(name)
        if self.root is None:
            self.root = info[0]
        base = None
        if attrs:
            attrs_d = self._attrs(attrs)
            base = attrs_d.get("xml:base", attrs_d.get("base"))
        else:
            attrs_d = {}
        self.depth += 1
        # track xml:base (feedparser keeps make_safe_absolute_uri'ing the current base)
        current = self.baseuri
        if current:
            memo = (current, base or current)
            new = self._bases.get(memo)
            if new is None:
                new = self._bases[memo] = _make_safe_absolute_uri(current, base or current) or current
            self.baseuri = new
        elif base:
            self.baseuri = _urljoin(current, base)
        self.basestack.append(self.baseuri)
        if self.incontent:
            self._inline_start(info[2], attrs_d)
            return
        if info[3]:
            self.intextinput = 0
        if info[4]:
            self.inimage = 0
        info[1](self, attrs_d)

    def _inline_start(self, tag: str, attrs_d: dict[str, str]) -> None:
        """Markup inside a text construct: feedparser serialises it as xhtml."""
        contentparams = self.contentparams
        if not contentparams.get("type", "xml").endswith("xml"):
            if tag in ("xhtml:div", "div"):
                self.inner += 1
                return  # "typepad does this 10/2007" (feedparser): the <div> is dropped
            contentparams["type"] = _XHTML   # declared as escaped markup, but it is not
            self._escape = True
        if contentparams.get("type") != _XHTML:
            raise _NotClean("elements in XML content other than xhtml")
        local = tag.split(":", 1)[1] if ":" in tag else tag
        if local == "svg":
            raise _NotClean("svg in content")
        self.inner += 1
        self.elementstack[-1][2].append("<%s%s>" % (local, "".join(
            ' %s="%s"' % (k, _xml_escape(v, {'"': "&quot;"})) for k, v in attrs_d.items())))

    def _end(self, name: str) -> None:
        # _StrictFeedParser.endElementNS + _FeedParserMixin.unknown_endtag
        info = self._endtags.get(name)
        if info is None:
            info = self._endtags[name] = self._end_info(name)
        if self.inner:
            # the end of an element inside a text construct: feedparser calls its end handler
            # (for unknown elements a pop that does not match: a no-op), then serialises
            self.inner -= 1
            key, _, tag = info
            if key in FP_HANDLER_KEYS or self.elementstack[-1][0] == key:
                raise _NotClean(f"</{key}> inside a text construct")
            contentparams = self.contentparams
            if not contentparams.get("type", "xml").endswith("xml"):
                if tag in ("xhtml:div", "div"):
                    return   # (feedparser returns before the base stack and depth updates)
                contentparams["type"] = _XHTML
                self._escape = True
            if contentparams.get("type") == _XHTML:
                self.elementstack[-1][2].append("</%s>" % tag.split(":")[-1])
        else:
            info[1](self)
            if self.incontent:
                raise _NotClean("end tag inside a text construct")
        basestack = self.basestack
        if basestack:
            basestack.pop()
            if basestack and basestack[-1]:
                self.baseuri = basestack[-1]
        self.depth -= 1

    def handle_data(self, text: str) -> None:
        if self.elementstack:
            if self._escape:    # the content type is xhtml
                text = _xml_escape(text)
            self.elementstack[-1][2].append(text)

    # -- feedparser's core (mixin.py)

    def push(self, element: str, expecting_text: Any) -> None:
        self.elementstack.append([element, expecting_text, []])

    def pop(self, element: str, strip_whitespace: int = 1) -> Any:
        stack = self.elementstack
        if not stack or stack[-1][0] != element:
            return None
        element, expecting_text, pieces = stack.pop()
        if self._escape and self.version == "atom10":
            # (contentparams["type"] is xhtml) remove an enclosing <div> when all the content
            # is nested under it
            while pieces and len(pieces) > 1 and not pieces[-1].strip():
                del pieces[-1]
            while pieces and len(pieces) > 1 and not pieces[0].strip():
                del pieces[0]
            if pieces and (pieces[0] == "<div>" or pieces[0].startswith("<div ")) and pieces[-1] == "</div>":
                depth = 0
                for piece in pieces[:-1]:
                    if piece.startswith("</"):
                        depth -= 1
                        if depth == 0:
                            break
                    elif piece.startswith("<") and not piece.endswith("/>"):
                        depth += 1
                else:
                    pieces = pieces[1:-1]
        output = "".join(pieces)
        if strip_whitespace:
            output = output.strip()
        if not expecting_text:
            return output
        contentparams = self.contentparams
        if contentparams and contentparams.get("base64", 0):
            try:
                output = base64.decodebytes(output.encode("utf8")).decode("utf8")
            except (binascii.Error, binascii.Incomplete, UnicodeDecodeError):
                pass
        if output and element in _CAN_BE_RELATIVE_URI:
            if not element == "id" or self.guidislink:
                output = self.resolve_uri(output)
        if contentparams:
            if contentparams.get("type") == "text/plain" and not self.version.startswith("atom"):
                if _looks_like_html(output):
                    contentparams["type"] = "text/html"
            contentparams.pop("mode", None)
            contentparams.pop("base64", None)
        if self._fixing:
            output = _fix_text(output)
        if element in ("category", "tags", "itunes_keywords"):
            return output
        if element == "title" and -1 < self.title_depth <= self.depth:
            return output
        if self.inentry and not self.insource:
            entry = self.entries[-1]
            if element == "content":
                entry.setdefault("content", [])
                cp = dict(contentparams)
                cp["value"] = output
                entry["content"].append(cp)
            elif element == "link":
                if not self.inimage:
                    if "&" in output:
                        output = output.replace("&amp;", "&")
                        output = _ENTITY_AMP.sub(r"&\g<1>", output)
                    entry["link"] = output
                    if output:
                        entry["links"][-1]["href"] = output
            else:
                if element == "description":
                    element = "summary"
                old_value_depth = self.pdm.get(element)
                if old_value_depth is None or self.depth <= old_value_depth:
                    self.pdm[element] = self.depth
                    entry[element] = output
                if self.incontent:
                    cp = dict(contentparams)
                    cp["value"] = output
                    entry[element + "_detail"] = cp
        elif self.infeed or self.insource:
            context = self._get_context()
            if element == "description":
                element = "subtitle"
            context[element] = output
            if element == "link":
                if "&" in output:
                    output = _ENTITY_AMP.sub(r"&\g<1>", output)
                context[element] = output
                context["links"][-1]["href"] = output
            elif self.incontent:
                cp = dict(contentparams)
                cp["value"] = output
                context[element + "_detail"] = cp
        return output

    def push_content(self, tag: str, attrs_d: dict[str, str], default_content_type: str,
                     expecting_text: Any) -> None:
        self.incontent += 1
        if attrs_d:
            ctype = _map_content_type(attrs_d.get("type", default_content_type))
            b64 = int(attrs_d.get("mode", "") == "base64" or not (
                ctype.startswith("text/") or ctype.endswith("+xml") or ctype.endswith("/xml")))
        else:
            ctype, b64 = default_content_type, 0   # (the defaults are mapped, textual types)
        self.contentparams = {"type": ctype, "language": None, "base": self.baseuri, "base64": b64}
        self._escape = ctype == _XHTML
        self.elementstack.append([tag, expecting_text, []])

    def pop_content(self, tag: str) -> Any:
        value = self.pop(tag)
        self.incontent -= 1
        self.contentparams.clear()
        self._escape = False
        return value

    def resolve_uri(self, uri: str) -> str:
        return _urljoin(self.baseuri or "", uri)

    def _get_context(self) -> dict[str, Any]:
        if self.insource:
            return self.sourcedata
        if self.inimage and "image" in self.feeddata:
            image: dict[str, Any] = self.feeddata["image"]
            return image
        if self.intextinput:
            textinput: dict[str, Any] = self.feeddata["textinput"]
            return textinput
        if self.inentry:
            return self.entries[-1]
        return self.feeddata

    def _save(self, key: str, value: Any, overwrite: bool = False) -> None:
        context = self._get_context()
        if overwrite:
            context[key] = value
        else:
            context.setdefault(key, value)

    def _save_author(self, key: str, value: Any, prefix: str = "author") -> None:
        context = self._get_context()
        context.setdefault(prefix + "_detail", {})
        context[prefix + "_detail"][key] = value
        self._sync_author_detail()
        context.setdefault("authors", [{}])
        context["authors"][-1][key] = value

    def _save_contributor(self, key: str, value: Any) -> None:
        context = self._get_context()
        context.setdefault("contributors", [{}])
        context["contributors"][-1][key] = value

    def _sync_author_detail(self, key: str = "author") -> None:
        context = self._get_context()
        people = context.get("authors" if key == "author" else key + "s")
        detail = people[-1] if people is not None else {}   # (IndexError on [] as feedparser)
        if detail:
            name = detail.get("name")
            email = detail.get("email")
            if name and email:
                context[key] = "%s (%s)" % (name, email)
            elif name:
                context[key] = name
            elif email:
                context[key] = email
        else:
            author, email = context.get(key), None
            if not author:
                return
            emailmatch = _EMAIL.search(author) if "@" in author else None
            if emailmatch:
                email = emailmatch.group(0)
                author = author.replace(email, "")
                author = author.replace("()", "")
                author = author.replace("<>", "")
                author = author.replace("&lt;&gt;", "")
                author = author.strip()
                if author and (author[0] == "("):
                    author = author[1:]
                if author and (author[-1] == ")"):
                    author = author[:-1]
                author = author.strip()
            if author or email:
                context.setdefault("%s_detail" % key, detail)
            if author:
                detail["name"] = author
            if email:
                detail["email"] = email

    def _add_tag(self, term: Any, scheme: Any, label: Any) -> None:
        context = self._get_context()
        tags = context.setdefault("tags", [])
        if (not term) and (not scheme) and (not label):
            return
        value = {"term": term, "scheme": scheme, "label": label}
        if value not in tags:
            tags.append(value)

    @staticmethod
    def _enforce_href(attrs_d: dict[str, str]) -> dict[str, str]:
        href = attrs_d.get("url", attrs_d.get("uri", attrs_d.get("href", None)))
        if href:
            attrs_d.pop("url", None)
            attrs_d.pop("uri", None)
            attrs_d["href"] = href
        return attrs_d

    def _get_attribute(self, attrs_d: dict[str, str], name: str) -> str | None:
        prefix, _, suffix = name.partition(":")
        return attrs_d.get(self.namespacemap.get(prefix, prefix) + ":" + suffix)

    # -- namespaces/_base.py

    def _s_rss(self, attrs_d: dict[str, str]) -> None:
        if not self.version or not self.version.startswith("rss"):
            attr_version = attrs_d.get("version", "")
            version = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093",
                       "0.94": "rss094"}.get(attr_version)
            if version:
                self.version = version
            elif attr_version.startswith("2."):
                self.version = "rss20"
            else:
                self.version = "rss"

    def _s_channel(self, attrs_d: dict[str, str]) -> None:
        self.infeed = 1
        self._cdf_common(attrs_d)

    def _cdf_common(self, attrs_d: dict[str, str]) -> None:
        if "lastmod" in attrs_d or "href" in attrs_d:
            raise _NotClean("CDF attributes")

    def _s_feed(self, attrs_d: dict[str, str]) -> None:
        self.infeed = 1
        if not self.version:
            self.version = {"0.1": "atom01", "0.2": "atom02", "0.3": "atom03"}.get(
                attrs_d.get("version", ""), "atom")

    def _e_channel(self) -> None:
        self.infeed = 0

    def _s_image(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        if not self.inentry:
            context.setdefault("image", {})
        self.inimage = 1
        self.title_depth = -1
        self.push("image", 0)

    def _e_image(self) -> None:
        self.pop("image")
        self.inimage = 0

    def _s_textinput(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        context.setdefault("textinput", {})
        self.intextinput = 1
        self.title_depth = -1
        self.push("textinput", 0)

    def _e_textinput(self) -> None:
        self.pop("textinput")
        self.intextinput = 0

    def _s_author(self, attrs_d: dict[str, str]) -> None:
        self.inauthor = 1
        self.push("author", 1)
        context = self._get_context()
        context.setdefault("authors", [])
        context["authors"].append({})

    def _e_author(self) -> None:
        self.pop("author")
        self.inauthor = 0
        self._sync_author_detail()

    def _s_contributor(self, attrs_d: dict[str, str]) -> None:
        self.incontributor = 1
        context = self._get_context()
        context.setdefault("contributors", [])
        context["contributors"].append({})
        self.push("contributor", 0)

    def _e_contributor(self) -> None:
        self.pop("contributor")
        self.incontributor = 0

    def _s_name(self, attrs_d: dict[str, str]) -> None:
        self.push("name", 0)

    def _e_name(self) -> None:
        value = self.pop("name")
        if self.inpublisher:
            self._save_author("name", value, "publisher")
        elif self.inauthor:
            self._save_author("name", value)
        elif self.incontributor:
            self._save_contributor("name", value)
        elif self.intextinput:
            context = self._get_context()
            context["name"] = value

    def _s_url(self, attrs_d: dict[str, str]) -> None:
        self.push("href", 1)

    def _e_url(self) -> None:
        value = self.pop("href")
        if self.inauthor:
            self._save_author("href", value)
        elif self.incontributor:
            self._save_contributor("href", value)

    def _s_email(self, attrs_d: dict[str, str]) -> None:
        self.push("email", 0)

    def _e_email(self) -> None:
        value = self.pop("email")
        if self.inpublisher:
            self._save_author("email", value, "publisher")
        elif self.inauthor:
            self._save_author("email", value)
        elif self.incontributor:
            self._save_contributor("email", value)

    def _s_subtitle(self, attrs_d: dict[str, str]) -> None:
        self.push_content("subtitle", attrs_d, "text/plain", 1)

    def _e_subtitle(self) -> None:
        self.pop_content("subtitle")

    def _s_rights(self, attrs_d: dict[str, str]) -> None:
        self.push_content("rights", attrs_d, "text/plain", 1)

    def _e_rights(self) -> None:
        self.pop_content("rights")

    def _s_info(self, attrs_d: dict[str, str]) -> None:
        self.push_content("info", attrs_d, "text/plain", 1)

    def _e_info(self) -> None:
        self.pop_content("info")

    def _s_item(self, attrs_d: dict[str, str]) -> None:
        self.entries.append({})
        self.pdm = {}
        self.push("item", 0)
        self.inentry = 1
        self.guidislink = 0
        self.title_depth = -1
        id_ = self._get_attribute(attrs_d, "rdf:about")
        if id_:
            context = self._get_context()
            context["id"] = id_
        self._cdf_common(attrs_d)

    def _e_item(self) -> None:
        self.pop("item")
        self.inentry = 0
        self.hasContent = 0

    def _s_language(self, attrs_d: dict[str, str]) -> None:
        self.push("language", 1)

    def _e_language(self) -> None:
        self.pop("language")        # (sets self.lang in feedparser: only 'language' fields use it)

    def _s_webmaster(self, attrs_d: dict[str, str]) -> None:
        self.push("publisher", 1)

    def _e_webmaster(self) -> None:
        self.pop("publisher")
        self._sync_author_detail("publisher")

    def _s_published(self, attrs_d: dict[str, str]) -> None:
        self.push("published", 1)

    def _e_published(self) -> None:
        value = self.pop("published")
        self._save_date("published_parsed", value)

    def _s_updated(self, attrs_d: dict[str, str]) -> None:
        self.push("updated", 1)

    def _e_updated(self) -> None:
        value = self.pop("updated")
        self._save_date("updated_parsed", value)

    def _save_date(self, key: str, value: Any) -> None:
        context = self._get_context()
        if self.inentry and context is self.entries[-1]:
            parsed = self._dates.get(value)
            if parsed is None:
                parsed = self._dates[value] = _parse_date(value, self._offsets)
            context[key] = parsed
        else:   # feed, image or source dates: nobody reads them, do not parse (or fail on) them
            context[key] = None

    def _s_created(self, attrs_d: dict[str, str]) -> None:
        self.push("created", 1)

    def _e_created(self) -> None:
        self.pop("created")
        self._save("created_parsed", None, overwrite=True)

    def _s_expirationdate(self, attrs_d: dict[str, str]) -> None:
        self.push("expired", 1)

    def _e_expirationdate(self) -> None:
        self.pop("expired")
        self._save("expired_parsed", None, overwrite=True)

    def _s_category(self, attrs_d: dict[str, str]) -> None:
        term = attrs_d.get("term")
        scheme = attrs_d.get("scheme", attrs_d.get("domain"))
        label = attrs_d.get("label")
        self._add_tag(term, scheme, label)
        self.push("category", 1)

    def _e_category(self) -> None:
        value = self.pop("category")
        if not value:
            return
        context = self._get_context()
        tags = context["tags"]
        if value and len(tags) and not tags[-1]["term"]:
            tags[-1]["term"] = value
        else:
            self._add_tag(value, None, None)

    def _s_cloud(self, attrs_d: dict[str, str]) -> None:
        self._get_context()["cloud"] = dict(attrs_d)

    def _s_link(self, attrs_d: dict[str, str]) -> None:
        attrs_d.setdefault("rel", "alternate")
        if attrs_d["rel"] == "self":
            attrs_d.setdefault("type", "application/atom+xml")
        else:
            attrs_d.setdefault("type", "text/html")
        context = self._get_context()
        attrs_d = self._enforce_href(attrs_d)
        if "href" in attrs_d:
            attrs_d["href"] = self.resolve_uri(attrs_d["href"])
        expecting_text = self.infeed or self.inentry or self.insource
        context.setdefault("links", [])
        if not (self.inentry and self.inimage):
            context["links"].append(dict(attrs_d))
        if "href" in attrs_d:
            if attrs_d.get("rel") == "alternate" and _map_content_type(attrs_d["type"]) in _HTML_TYPES:
                context["link"] = attrs_d["href"]
        else:
            self.push("link", expecting_text)

    def _e_link(self) -> None:
        self.pop("link")

    def _s_guid(self, attrs_d: dict[str, str]) -> None:
        self.guidislink = (attrs_d.get("ispermalink", "true") == "true")
        self.push("id", 1)

    def _e_guid(self) -> None:
        value = self.pop("id")
        self._save("guidislink", self.guidislink and "link" not in self._get_context())
        if self.guidislink:
            self._save("link", value)

    def _s_title(self, attrs_d: dict[str, str]) -> None:
        self.push_content("title", attrs_d, "text/plain", self.infeed or self.inentry or self.insource)

    def _e_title(self) -> None:
        value = self.pop_content("title")
        if not value:
            return
        self.title_depth = self.depth

    def _s_description(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        if "summary" in context and not self.hasContent:
            self._summaryKey = "content"
            self._s_content(attrs_d)
        else:
            self.push_content("description", attrs_d, "text/html",
                              self.infeed or self.inentry or self.insource)

    def _e_description(self) -> None:
        if self._summaryKey == "content":
            self._e_content()
        else:
            self.pop_content("description")
        self._summaryKey = None

    def _s_generator(self, attrs_d: dict[str, str]) -> None:
        self.push("generator", 1)   # (generator_detail: not read)

    def _e_generator(self) -> None:
        self.pop("generator")

    def _s_summary(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        if "summary" in context and not self.hasContent:
            self._summaryKey = "content"
            self._s_content(attrs_d)
        else:
            self._summaryKey = "summary"
            self.push_content(self._summaryKey, attrs_d, "text/plain", 1)

    def _e_summary(self) -> None:
        if self._summaryKey == "content":
            self._e_content()
        else:
            self.pop_content(self._summaryKey or "summary")
        self._summaryKey = None

    def _s_enclosure(self, attrs_d: dict[str, str]) -> None:
        attrs_d = self._enforce_href(attrs_d)
        context = self._get_context()
        attrs_d["rel"] = "enclosure"
        context.setdefault("links", []).append(dict(attrs_d))

    def _s_source(self, attrs_d: dict[str, str]) -> None:
        if "url" in attrs_d:
            self.sourcedata["href"] = attrs_d["url"]
        self.push("source", 1)
        self.insource = 1
        self.title_depth = -1

    def _e_source(self) -> None:
        self.insource = 0
        value = self.pop("source")
        if value:
            self.sourcedata["title"] = value
        self._get_context()["source"] = dict(self.sourcedata)
        self.sourcedata.clear()

    def _s_content(self, attrs_d: dict[str, str]) -> None:
        self.hasContent = 1
        self.push_content("content", attrs_d, "text/plain", 1)
        src = attrs_d.get("src")
        if src:
            self.contentparams["src"] = src
        self.push("content", 1)

    def _s_content_encoded(self, attrs_d: dict[str, str]) -> None:
        self.hasContent = 1
        self.push_content("content", attrs_d, "text/html", 1)

    def _e_content(self) -> None:
        ctype = self.contentparams.get("type")
        if ctype is None:   # feedparser: AttributeError, swallowed, then a different path
            raise _NotClean("content end without content parameters")
        copy_to_summary = _map_content_type(ctype) in _TEXTUAL_TYPES
        value = self.pop_content("content")
        if copy_to_summary:
            self._save("summary", value)

    def _s_newlocation(self, attrs_d: dict[str, str]) -> None:
        self.push("newlocation", 1)

    def _e_newlocation(self) -> None:
        self.pop("newlocation")

    def _s_width(self, attrs_d: dict[str, str]) -> None:
        self.push("width", 0)

    def _e_width(self) -> None:
        if self.pop("width") is None:
            raise _NotClean("width")   # feedparser: int(None) raises

    def _s_height(self, attrs_d: dict[str, str]) -> None:
        self.push("height", 0)

    def _e_height(self) -> None:
        if self.pop("height") is None:
            raise _NotClean("height")

    # -- namespaces/dc.py (aliases are in the tables below)

    def _s_dc_contributor(self, attrs_d: dict[str, str]) -> None:
        self.incontributor = 1
        context = self._get_context()
        context.setdefault("contributors", [])
        context["contributors"].append({})
        self.push("name", 0)

    def _e_dc_contributor(self) -> None:
        self._e_name()
        self.incontributor = 0

    def _s_dcterms_valid(self, attrs_d: dict[str, str]) -> None:
        self.push("validity", 1)

    def _e_dcterms_valid(self) -> None:
        if self.pop("validity") is None:
            raise _NotClean("dcterms:valid")

    # -- namespaces/itunes.py

    def _s_itunes_owner(self, attrs_d: dict[str, str]) -> None:
        self.inpublisher = 1
        self.push("publisher", 0)

    def _e_itunes_owner(self) -> None:
        self.pop("publisher")
        self.inpublisher = 0
        self._sync_author_detail("publisher")

    def _s_itunes_category(self, attrs_d: dict[str, str]) -> None:
        self._add_tag(attrs_d.get("text"), "http://www.itunes.com/", None)
        self.push("category", 1)

    def _e_itunes_keywords(self) -> None:
        value = self.pop("itunes_keywords")
        if value is None:   # AttributeError in feedparser, then a no-op pop
            return
        for term in value.split(","):
            if term.strip():
                self._add_tag(term.strip(), "http://www.itunes.com/", None)

    def _s_itunes_image(self, attrs_d: dict[str, str]) -> None:
        self.push("itunes_image", 0)
        if attrs_d.get("href"):
            self._get_context()["image"] = {"href": attrs_d.get("href")}
        elif attrs_d.get("url"):
            self._get_context()["image"] = {"href": attrs_d.get("url")}

    def _e_itunes_image(self) -> None:
        self.pop("itunes_image")

    # -- namespaces/mediarss.py

    def _s_media_category(self, attrs_d: dict[str, str]) -> None:
        attrs_d.setdefault("scheme", "http://search.yahoo.com/mrss/category_schema")
        self._s_category(attrs_d)

    def _e_media_keywords(self) -> None:
        value = self.pop("media_keywords")
        if value is None:
            return
        for term in value.split(","):
            if term.strip():
                self._add_tag(term.strip(), None, None)

    def _e_media_title(self) -> None:
        title_depth = self.title_depth
        self._e_title()
        self.title_depth = title_depth

    def _s_media_content(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        context.setdefault("media_content", [])
        context["media_content"].append(attrs_d)

    def _s_media_thumbnail(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        context.setdefault("media_thumbnail", [])
        self.push("url", 1)
        context["media_thumbnail"].append(attrs_d)

    def _e_media_thumbnail(self) -> None:
        self.pop("url")

    def _s_noop(self, attrs_d: dict[str, str]) -> None:
        pass

    # -- namespaces/georss.py (points, lines, polygons, boxes: parsed into 'where', not read)

    def _s_georssgeom(self, attrs_d: dict[str, str]) -> None:
        self.push("geometry", 0)
        self._get_context()["where"] = {}

    def _e_georssgeom(self) -> None:
        self.pop("geometry")

    # -- namespaces/cc.py

    def _s_creativecommons_license(self, attrs_d: dict[str, str]) -> None:
        self.push("license", 1)

    def _e_creativecommons_license(self) -> None:
        value = self.pop("license")
        context = self._get_context()
        link = {"rel": "license"}
        if value:
            link["href"] = value
        context.setdefault("links", []).append(link)
        del context["license"]

    def _s_cc_license(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        value = self._get_attribute(attrs_d, "rdf:resource")
        link = {"rel": "license"}
        if value:
            link["href"] = value
        context.setdefault("links", []).append(link)


def _pusher(element: str, expecting: int) -> tuple[_Handler, _EndHandler]:
    """A handler pair that only pushes and pops (harmless elements: media:credit, ...)."""
    def start(self: _Emulator, attrs_d: dict[str, str]) -> None:
        self.push(element, expecting)

    def end(self: _Emulator) -> None:
        self.pop(element)
    return start, end


def _flag_end(key: str) -> _EndHandler:
    """itunes:block / itunes:explicit: feedparser pops without stripping and stores a flag."""
    def end(self: _Emulator) -> None:
        self.pop(key, 0)
        self._get_context()[key] = None   # (a flag nobody reads)
    return end


def _context_setdefault(key: str, element: str, expecting: int) -> tuple[_Handler, _EndHandler]:
    """media:rating / credit / restriction / license: remember attributes, push, pop."""
    def start(self: _Emulator, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        if key == "media_credit":
            context.setdefault(key, []).append(attrs_d)
        else:
            context.setdefault(key, attrs_d)
        self.push(element, expecting)

    def end(self: _Emulator) -> None:
        self.pop(element)
    return start, end


E = _Emulator
_PAIRS: dict[str, tuple[Any, Any]] = {
    # key: (start, end); None = feedparser has no such method (generic start / no-op end)
    "rss": (E._s_rss, None),
    "channel": (E._s_channel, E._e_channel),
    "feed": (E._s_feed, E._e_channel),
    "image": (E._s_image, E._e_image),
    "textinput": (E._s_textinput, E._e_textinput),
    "author": (E._s_author, E._e_author),
    "managingeditor": (E._s_author, E._e_author),
    "dc_author": (E._s_author, E._e_author),
    "dc_creator": (E._s_author, E._e_author),
    "itunes_author": (E._s_author, E._e_author),
    "contributor": (E._s_contributor, E._e_contributor),
    "dc_contributor": (E._s_dc_contributor, E._e_dc_contributor),
    "name": (E._s_name, E._e_name),
    "itunes_name": (E._s_name, E._e_name),
    "url": (E._s_url, E._e_url),
    "homepage": (E._s_url, E._e_url),
    "uri": (E._s_url, E._e_url),
    "email": (E._s_email, E._e_email),
    "itunes_email": (E._s_email, E._e_email),
    "subtitle": (E._s_subtitle, E._e_subtitle),
    "tagline": (E._s_subtitle, E._e_subtitle),
    "itunes_subtitle": (E._s_subtitle, E._e_subtitle),
    "rights": (E._s_rights, E._e_rights),
    "copyright": (E._s_rights, E._e_rights),
    "dc_rights": (E._s_rights, E._e_rights),
    "info": (E._s_info, E._e_info),
    "feedburner_browserfriendly": (E._s_info, E._e_info),
    "item": (E._s_item, E._e_item),
    "entry": (E._s_item, E._e_item),
    "language": (E._s_language, E._e_language),
    "dc_language": (E._s_language, E._e_language),
    "webmaster": (E._s_webmaster, E._e_webmaster),
    "dc_publisher": (E._s_webmaster, E._e_webmaster),
    "published": (E._s_published, E._e_published),
    "issued": (E._s_published, E._e_published),
    "pubdate": (E._s_published, E._e_published),
    "dcterms_issued": (E._s_published, E._e_published),
    "updated": (E._s_updated, E._e_updated),
    "modified": (E._s_updated, E._e_updated),
    "lastbuilddate": (E._s_updated, E._e_updated),
    "dc_date": (E._s_updated, E._e_updated),
    "dcterms_modified": (E._s_updated, E._e_updated),
    "created": (E._s_created, E._e_created),
    "dcterms_created": (E._s_created, E._e_created),
    "expirationdate": (E._s_expirationdate, E._e_expirationdate),
    "category": (E._s_category, E._e_category),
    "keywords": (E._s_category, E._e_category),
    "dc_subject": (E._s_category, E._e_category),
    "cloud": (E._s_cloud, None),
    "link": (E._s_link, E._e_link),
    "guid": (E._s_guid, E._e_guid),
    "id": (E._s_guid, E._e_guid),
    "title": (E._s_title, E._e_title),
    "dc_title": (E._s_title, E._e_title),
    "media_title": (E._s_title, E._e_media_title),
    "description": (E._s_description, E._e_description),
    "dc_description": (E._s_description, E._e_description),
    "media_description": (E._s_description, E._e_description),
    "generator": (E._s_generator, E._e_generator),
    "summary": (E._s_summary, E._e_summary),
    "itunes_summary": (E._s_summary, E._e_summary),
    "enclosure": (E._s_enclosure, None),
    "source": (E._s_source, E._e_source),
    "content": (E._s_content, E._e_content),
    "content_encoded": (E._s_content_encoded, E._e_content),
    "newlocation": (E._s_newlocation, E._e_newlocation),
    "width": (E._s_width, E._e_width),
    "height": (E._s_height, E._e_height),
    "dcterms_valid": (E._s_dcterms_valid, E._e_dcterms_valid),
    "itunes_owner": (E._s_itunes_owner, E._e_itunes_owner),
    "itunes_category": (E._s_itunes_category, E._e_category),
    "itunes_keywords": (None, E._e_itunes_keywords),
    "itunes_image": (E._s_itunes_image, E._e_itunes_image),
    "itunes_link": (E._s_itunes_image, None),     # (no _end_itunes_link: its push stays)
    "itunes_block": (None, _flag_end("itunes_block")),
    "itunes_explicit": (None, _flag_end("itunes_explicit")),
    "media_category": (E._s_media_category, E._e_category),
    "media_keywords": (None, E._e_media_keywords),
    "media_group": (E._s_noop, None),
    "media_content": (E._s_media_content, None),
    "media_thumbnail": (E._s_media_thumbnail, E._e_media_thumbnail),
    "media_player": _pusher("media_player", 0),
    "media_rating": _context_setdefault("media_rating", "rating", 1),
    "media_credit": _context_setdefault("media_credit", "credit", 1),
    "media_restriction": _context_setdefault("media_restriction", "restriction", 1),
    "media_license": _context_setdefault("media_license", "license", 1),
    "georss_point": (E._s_georssgeom, E._e_georssgeom),
    "georss_line": (E._s_georssgeom, E._e_georssgeom),
    "georss_polygon": (E._s_georssgeom, E._e_georssgeom),
    "georss_box": (E._s_georssgeom, E._e_georssgeom),
    "cc_license": (E._s_cc_license, None),
    "creativecommons_license": (E._s_creativecommons_license, E._e_creativecommons_license),
}


def _generic_end(key: str) -> _EndHandler:
    def end(self: _Emulator) -> None:
        self.pop(key)          # feedparser: no _end_ method → pop(key), a no-op unless pushed
    return end


def _generic_start(key: str) -> _Handler:
    """An element feedparser has no handler for: pushed, or its attributes stored, under its
    own name (prefix_local), which nothing reads (unless the name collides: not clean)."""
    if key in _GENERIC_COLLIDES:
        return _not_ported(key)

    def start(self: _Emulator, attrs_d: dict[str, str]) -> None:
        if not attrs_d:
            self.push(key, 1)
        elif key in _GENERIC_FEED_KEYS:
            self._get_context()[key] = attrs_d
    return start


def _raw_generic_start(key: str) -> _Handler:
    def start(self: _Emulator, attrs_d: dict[str, str]) -> None:
        if not attrs_d:
            self.push(key, 1)
        else:
            self._get_context()[key] = attrs_d
    return start


def _generic_end_light(key: str) -> _EndHandler:
    if key in _GENERIC_FEED_KEYS:
        return _generic_end(key)

    def end(self: _Emulator) -> None:
        # pop(key): what it would store goes under the element's own name, which nothing reads
        if self.elementstack and self.elementstack[-1][0] == key:
            self.elementstack.pop()
    return end


def _not_ported(key: str) -> _Handler:
    def start(self: _Emulator, attrs_d: dict[str, str]) -> None:
        raise _NotClean(f"<{key}>: feedparser handler not ported, or the name collides")
    return start


def _not_ported_end(key: str) -> _EndHandler:
    def end(self: _Emulator) -> None:
        raise _NotClean(f"</{key}>: feedparser handler not ported")
    return end


_START: dict[str, _Handler] = {}
_END: dict[str, _EndHandler] = {}
for _key, (_s, _e) in _PAIRS.items():
    if _s is not None:
        _START[_key] = _s
    _END[_key] = _e if _e is not None else _generic_end(_key)
del _key, _s, _e, E
