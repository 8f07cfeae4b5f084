"""Checks of the published outputs that a schema cannot express: the rules of the W3C Feed
Validation Service and the RSS Advisory Board's best-practice profile that feedsvc can break.

Each ``check_*`` returns a list of problems (empty: clean), so a test can show all of them at once.
``relaxng_errors`` validates Atom against the RFC 4287 schema (tests/data/atom.rng, converted
from the RFC's appendix with trang), or with ``schema=FH_SCHEMA`` against it with RFC 5005's
extension elements made exact (tests/data/atom-fh.rng: ``fh:archive``, ``fh:complete``, empty).
``check_archive`` adds RFC 5005 section 4's rules for an archive document.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/elements/1.1/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
FH = "http://purl.org/syndication/history/1.0"
FH_SCHEMA = "atom-fh.rng"
EMPTY_BY_DEFINITION = {f"{{{FH}}}archive", f"{{{FH}}}complete"}   # RFC 5005's markers
DATA = Path(__file__).resolve().parent / "data"

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
RFC822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                    r"\d{4} \d{2}:\d{2}:\d{2} ([+-]\d{4}|GMT|UT)$")
IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+$")
EMAIL_AUTHOR = re.compile(r"^[^@\s()]+@[^@\s()]+\.[^@\s()]+( \(.+\))?$")
# what the W3C validator takes for HTML in a plain-text element (an end tag) or for a script
LOOKS_LIKE_HTML = re.compile(r"</\w+>|<(script|meta|embed|object)[>\s]", re.I)
# a leaf element of serialised RSS other than the two that hold HTML; group 3 is its raw text
PLAIN_LEAF = re.compile(rb"(<(?!description[\s>]|content:encoded[\s>])([A-Za-z][\w:.-]*)(?:\s[^<>]*)?>)([^<]*)(</\2>)")
URL_ATTRS = ("href", "src", "url", "uri", "xmlUrl", "htmlUrl")
ABSOLUTE_SCHEMES = ("http", "https", "mailto", "tag", "urn", "data", "ftp", "ftps", "news", "nntp",
                    "tel", "irc", "ircs", "magnet", "sms", "xmpp", "geo", "webcal", "itms", "feed")


def parse_xml(data: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=False)
    return etree.fromstring(data, parser)


@lru_cache(maxsize=2)
def _atom_schema(name: str = "atom.rng") -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(DATA / name)))


def relaxng_errors(data: bytes, schema_name: str = "atom.rng") -> list[str]:
    schema = _atom_schema(schema_name)
    if schema.validate(etree.ElementTree(parse_xml(data))):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log][:20]


def _absolute(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return bool(parts.netloc)
    return scheme in ABSOLUTE_SCHEMES


def _has_base(el: etree._Element) -> bool:
    while el is not None:
        if el.get(XML_BASE):
            return True
        el = el.getparent()
    return False


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _common(root: etree._Element, where: str) -> list[str]:
    """No empty elements; no relative URL attribute without xml:base."""
    problems = []
    for el in root.iter(etree.Element):
        if not len(el) and not (el.text or "").strip() and not el.attrib and el.tag not in EMPTY_BY_DEFINITION:
            problems.append(f"{where}: empty element <{_local(el)}> (line {el.sourceline})")
        for attr in URL_ATTRS:
            v = el.get(attr)
            if v is not None and not _absolute(v) and not _has_base(el):
                problems.append(f"{where}: relative URL {attr}={v!r} on <{_local(el)}> without xml:base")
    return problems


def html_problems(fragment: str, where: str) -> list[str]:
    """Relative links/images inside escaped HTML content (the validator's "relative reference")."""
    if not fragment.strip():
        return []
    problems = []
    try:
        doc = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return [f"{where}: HTML does not parse"]
    for el in doc.iter(etree.Element):
        for attr in ("href", "src"):
            v = el.get(attr)
            if v is not None and v.strip() and not v.startswith("#") and not _absolute(v):
                problems.append(f"{where}: relative {attr}={v!r} in HTML")
    return problems


def _rfc3339(value: str | None, where: str) -> list[str]:
    if not value or not RFC3339.match(value):
        return [f"{where}: not an RFC 3339 date: {value!r}"]
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return [f"{where}: impossible date {value!r}"]
    return []


def _rfc822(value: str | None, where: str) -> list[str]:
    if not value or not RFC822.match(value):
        return [f"{where}: not an RFC 822 date: {value!r}"]
    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return [f"{where}: impossible date {value!r}"]
    return []


def stylesheet_href(data: bytes) -> str | None:
    root = parse_xml(data)
    prev = root.getprevious()
    while prev is not None:
        if isinstance(prev, etree._ProcessingInstruction) and prev.target == "xml-stylesheet":
            return prev.get("href")
        prev = prev.getprevious()
    return None


def check_atom(data: bytes, self_url: str, hub: str | None = None) -> list[str]:
    root = parse_xml(data)
    p: list[str] = []
    if root.tag != f"{{{ATOM}}}feed":
        return [f"root is {root.tag}, not atom:feed"]
    a = lambda t: f"{{{ATOM}}}{t}"  # noqa: E731
    fid = root.findtext(a("id"))
    if not fid or not IRI.match(fid):
        p.append(f"feed id is not an IRI: {fid!r}")
    links = root.findall(a("link"))
    selfs = [l.get("href") for l in links if l.get("rel") == "self"]
    if selfs != [self_url]:
        p.append(f"self links {selfs} != [{self_url!r}]")
    hubs = [l.get("href") for l in links if l.get("rel") == "hub"]
    if hubs != ([hub] if hub else []):
        p.append(f"hub links {hubs}, expected {hub!r}")
    p += _rfc3339(root.findtext(a("updated")), "feed updated")
    feed_author = root.find(a("author"))
    if fid and canonical_uri(fid) != fid:
        p.append(f"feed id {fid!r} is not in canonical form ({canonical_uri(fid)!r})")
    ids: set[str] = set()
    updated: set[str] = set()
    for i, e in enumerate(root.findall(a("entry"))):
        w = f"entry {i}"
        eid = e.findtext(a("id"))
        if not eid or not IRI.match(eid):
            p.append(f"{w}: id is not an IRI: {eid!r}")
        elif eid in ids:
            p.append(f"{w}: id {eid} twice")
        ids.add(eid or "")
        if eid and canonical_uri(eid) != eid:
            p.append(f"{w}: id {eid!r} is not in canonical form ({canonical_uri(eid)!r})")
        upd = e.findtext(a("updated")) or ""
        if upd in updated:
            p.append(f"{w}: two entries with the same atom:updated {upd}")
        updated.add(upd)
        p += _rfc3339(upd, f"{w} updated")
        pub = e.findtext(a("published"))
        if pub is not None:
            p += _rfc3339(pub, f"{w} published")
            if RFC3339.match(pub) and RFC3339.match(e.findtext(a("updated")) or ""):
                if datetime.fromisoformat(pub.replace("Z", "+00:00")) > \
                        datetime.fromisoformat(e.findtext(a("updated")).replace("Z", "+00:00")):
                    p.append(f"{w}: published after updated")
        authors = e.findall(a("author"))
        if not authors or not all((x.findtext(a("name")) or "").strip() for x in authors):
            p.append(f"{w}: no author with a name (the feed's would do for the schema: "
                     f"{feed_author is not None}, but every entry must say)")
        if not (e.findtext(a("title")) or "").strip():
            p.append(f"{w}: empty title")
        for tag in ("title", "summary", "content"):
            el = e.find(a(tag))
            if el is not None and el.get("type", "text") == "text" and LOOKS_LIKE_HTML.search(el.text or ""):
                p.append(f"{w}: {tag} of type text contains HTML (undeclared): {el.text!r}")
        src = e.find(a("source"))
        if src is not None:
            for need in ("id", "title", "updated"):
                if not (src.findtext(a(need)) or "").strip():
                    p.append(f"{w}: atom:source without {need}")
            if not [l for l in src.findall(a("link")) if l.get("rel") == "self"]:
                p.append(f"{w}: atom:source without a self link")
            if src.findtext(a("updated")):
                p += _rfc3339(src.findtext(a("updated")), f"{w} source updated")
        alt = [l for l in e.findall(a("link")) if l.get("rel", "alternate") == "alternate"]
        if not alt and e.find(a("content")) is None:
            p.append(f"{w}: neither an alternate link nor content")
        for tag in ("summary", "content", "title"):
            el = e.find(a(tag))
            if el is not None and el.get("type", "text") not in ("text", "html", "xhtml"):
                p.append(f"{w}: {tag} type {el.get('type')!r}")
            if el is not None and el.get("type") == "html":
                p += html_problems(el.text or "", f"{w} {tag}")
    return p + _common(root, "atom")


def archive_links(data: bytes) -> dict[str, list[str]]:
    """rel → hrefs of a feed's own links (Atom, or RSS's atom:link)."""
    root = parse_xml(data)
    parent = root if root.tag == f"{{{ATOM}}}feed" else root.find("channel")
    out: dict[str, list[str]] = {}
    for link in parent.findall(f"{{{ATOM}}}link"):
        out.setdefault(link.get("rel", "alternate"), []).append(link.get("href"))
    return out


def check_archive(data: bytes, self_url: str, current_url: str) -> list[str]:
    """An RFC 5005 archive document: every Atom check, ``fh:archive`` on the feed, one
    ``current`` link to the subscription document, at most one ``prev-archive`` and one
    ``next-archive`` (absolute, neither the document itself), no WebSub hub."""
    p = check_atom(data, self_url)
    root = parse_xml(data)
    marks = root.findall(f"{{{FH}}}archive")
    if len(marks) != 1 or len(marks[0]) or (marks[0].text or "").strip():
        p.append(f"archive document needs one empty fh:archive, has {len(marks)}")
    links = archive_links(data)
    if links.get("current") != [current_url]:
        p.append(f"current links {links.get('current')} != [{current_url!r}]")
    for rel in ("prev-archive", "next-archive"):
        hrefs = links.get(rel, [])
        if len(hrefs) > 1:
            p.append(f"{rel} links {hrefs}: more than one")
        if any(h == self_url or not _absolute(h) for h in hrefs):
            p.append(f"{rel} {hrefs} is relative or the document itself")
    if root.findall(f"{{{FH}}}complete"):
        p.append("an archive document is not a complete feed")
    return p


def check_rss(data: bytes, self_url: str, hub: str | None = None) -> list[str]:
    root = parse_xml(data)
    p: list[str] = []
    if root.tag != "rss" or root.get("version") != "2.0":
        return [f"root is {root.tag} version {root.get('version')}, not rss 2.0"]
    ch = root.find("channel")
    if ch is None:
        return ["no channel"]
    for req in ("title", "link", "description"):
        if not (ch.findtext(req) or "").strip():
            p.append(f"channel has no {req}")
    if ch.findtext("link") and not _absolute(ch.findtext("link")):
        p.append("channel link is not absolute")
    links = ch.findall(f"{{{ATOM}}}link")
    selfs = [(l.get("href"), l.get("type")) for l in links if l.get("rel") == "self"]
    if selfs != [(self_url, "application/rss+xml")]:
        p.append(f"atom:link rel=self {selfs} != {self_url!r}")
    hubs = [l.get("href") for l in links if l.get("rel") == "hub"]
    if hubs != ([hub] if hub else []):
        p.append(f"hub links {hubs}, expected {hub!r}")
    for tag in ("pubDate", "lastBuildDate"):
        if ch.find(tag) is not None:
            p += _rfc822(ch.findtext(tag), f"channel {tag}")
    if ch.find(f"{{{DC}}}date") is not None and ch.find("pubDate") is not None:
        p.append("channel has both pubDate and dc:date")
    guids: set[str] = set()
    for m in PLAIN_LEAF.finditer(data):
        if re.search(rb"&(amp|lt|gt);", m.group(3)):
            p.append(f"<{m.group(2).decode()}>: '&', '<' or '>' not written as a hexadecimal character "
                     f"reference (RSS profile, CharacterData): {m.group(3)[:80]!r}")
    for el in ch.iter(etree.Element):
        if _local(el) not in ("description", "encoded") and LOOKS_LIKE_HTML.search(el.text or ""):
            p.append(f"<{_local(el)}> is plain text but contains HTML: {el.text!r}")
    kids = [_local(k) for k in ch if isinstance(k.tag, str)]
    if "item" in kids and any(k != "item" for k in kids[kids.index("item"):]):
        p.append("channel elements after the first item (the profile's misplaced item)")
    for i, it in enumerate(ch.findall("item")):
        w = f"item {i}"
        order = [_local(k) for k in it if isinstance(k.tag, str)]
        if "encoded" in order and ("description" not in order or order.index("description") > order.index("encoded")):
            p.append(f"{w}: content:encoded without a description before it")
        if not (it.findtext("title") or "").strip() and not (it.findtext("description") or "").strip():
            p.append(f"{w}: neither title nor description")
        g = it.find("guid")
        if g is None or not (g.text or "").strip():
            p.append(f"{w}: no guid")
        else:
            if g.text in guids:
                p.append(f"{w}: guid {g.text} twice")
            guids.add(g.text)
            perma = g.get("isPermaLink", "true") == "true"
            if perma and not (_absolute(g.text) and urlsplit(g.text).scheme in ("http", "https")):
                p.append(f"{w}: isPermaLink guid {g.text!r} is not a URL")
            if perma and g.text != it.findtext("link"):
                p.append(f"{w}: isPermaLink guid {g.text!r} is not the item's link")
            if not perma and g.text == it.findtext("link") and it.findtext("link"):
                p.append(f"{w}: guid equals the link but isPermaLink=false")
        if it.find("pubDate") is not None:
            p += _rfc822(it.findtext("pubDate"), f"{w} pubDate")
        authors = it.findall("author")
        creators = it.findall(f"{{{DC}}}creator")
        if len(authors) > 1:
            p.append(f"{w}: more than one <author>")
        if authors and creators:
            p.append(f"{w}: both <author> and dc:creator")
        for au in authors:
            if not EMAIL_AUTHOR.match(au.text or ""):
                p.append(f"{w}: <author> {au.text!r} is not an e-mail address")
        encs = it.findall("enclosure")
        if len(encs) > 1:
            p.append(f"{w}: more than one enclosure")
        for enc in encs:
            if not (enc.get("url") and enc.get("type") and (enc.get("length") or "").isdigit()):
                p.append(f"{w}: enclosure needs url, length and type")
        src = it.find("source")
        if src is not None and not src.get("url"):
            p.append(f"{w}: <source> without url")
        if it.find("content") is not None:
            p.append(f"{w}: <content> is not RSS")
        for tag in ("description", f"{{{CONTENT}}}encoded"):
            p += html_problems(it.findtext(tag) or "", f"{w} {tag.rsplit('}', 1)[-1]}")
    return p + _common(root, "rss")


def check_json(data: bytes, self_url: str, hub: str | None = None) -> list[str]:
    p: list[str] = []
    try:
        feed = json.loads(data)
    except ValueError as exc:
        return [f"not JSON: {exc}"]
    if feed.get("version") != "https://jsonfeed.org/version/1.1":
        p.append(f"version {feed.get('version')!r}")
    if not feed.get("title"):
        p.append("no title")
    if feed.get("feed_url") != self_url:
        p.append(f"feed_url {feed.get('feed_url')!r} != {self_url!r}")
    hubs = [h.get("url") for h in feed.get("hubs", [])]
    if hubs != ([hub] if hub else []):
        p.append(f"hubs {hubs}, expected {hub!r}")
    ids: set[str] = set()
    for i, it in enumerate(feed.get("items", [])):
        w = f"item {i}"
        iid = it.get("id")
        if not isinstance(iid, str) or not iid:
            p.append(f"{w}: id must be a non-empty string")
        elif iid in ids:
            p.append(f"{w}: id {iid} twice")
        ids.add(iid)
        if not (it.get("content_html") or it.get("content_text")):
            p.append(f"{w}: neither content_html nor content_text")
        for k in ("date_published", "date_modified"):
            if k in it:
                p += _rfc3339(it[k], f"{w} {k}")
        for k in ("url", "external_url", "image"):
            if k in it and not _absolute(it[k]):
                p.append(f"{w}: {k} not absolute")
        for au in it.get("authors", []):
            if not au.get("name") and not au.get("url"):
                p.append(f"{w}: empty author")
        if not it.get("authors"):
            p.append(f"{w}: no author")
        for att in it.get("attachments", []):
            if not att.get("url") or not att.get("mime_type"):
                p.append(f"{w}: attachment needs url and mime_type")
        p += html_problems(it.get("content_html") or "", f"{w} content_html")
        for k, v in it.items():
            if v in (None, "", [], {}):
                p.append(f"{w}: empty {k}")
    return p


# ---- the W3C validator's canonical-URI rule for atom:id (NonCanonicalURI) -----------------------

_URI_RE = re.compile(r"^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?$")
_SAFE = "~:/?[]@!$&'()*+,;="


def _requote(part: str | None, plus: bool = False) -> str | None:
    from unicodedata import normalize
    from urllib.parse import quote, quote_plus, unquote, unquote_plus

    if part is None:
        return None
    if not part.isascii():
        raise UnicodeError("non-ASCII")           # the validator cannot canonicalise an IRI
    if plus:
        return quote_plus(normalize("NFC", unquote_plus(part)), safe=_SAFE)
    return quote(normalize("NFC", unquote(part)), safe=_SAFE)


def _dot_segments(path: str) -> str:
    segs = path.split("/")
    i = 0
    while i < len(segs):
        if segs[i] == ".":
            del segs[i]
        elif segs[i] == "..":
            del segs[i]
            if i > 1:
                i -= 1
                del segs[i]
        else:
            i += 1
    return "/".join(segs)


def canonical_uri(uri: str) -> str | None:
    """The form the W3C Feed Validator wants an atom:id in (None: it cannot say)."""
    m = _URI_RE.match(uri)
    if not m:
        return None
    try:
        scheme = m.group(2).lower() if m.group(2) is not None else None
        auth, path = m.group(4), m.group(5)
        if auth is not None and scheme in ("http", "ftp"):
            default = 80 if scheme == "http" else 21
            userinfo, at, host = auth.rpartition("@")
            host = host.lower()
            name, colon, port = host.partition(":")
            if colon and port.isdigit() and int(port) != default:
                host = f"{name}:{int(port)}"
            elif colon and not port:
                host = name
            elif colon and port.isdigit():
                host = name
            auth = (userinfo + "@" if at and userinfo and userinfo != ":" else "") + host
            path = "/" if path == "" else _dot_segments(path)
        out = (scheme + ":" if scheme is not None else "") + ("//" + auth if auth is not None else "")
        out += _requote(path) or ""
        if m.group(7) is not None:
            out += "?" + (_requote(m.group(7), plus=True) or "")
        if m.group(9) is not None:
            out += "#" + (_requote(m.group(9)) or "")
        return out
    except UnicodeError:
        return None
