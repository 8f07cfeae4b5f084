"""Driving expat as feedparser's strict parser does (feedparser/parsers/strict.py
``_StrictFeedParser``: ``startPrefixMapping``, ``startElementNS``, ``endElementNS``,
``characters``), and ``_FeedParserMixin.unknown_starttag`` / ``unknown_endtag``: element names
→ feedparser's handler keys, xml:base tracking, markup inside text constructs.

The handler of an element name is looked up in the tables of handlers.py once per document
(``_tags`` / ``_endtags``), not once per element.
"""

from __future__ import annotations

import pyexpat

from feedsvc.parsing.fast import handlers
from feedsvc.parsing.fast.exceptions import _NotClean
from feedsvc.parsing.fast.handlers import (
    FP_HANDLER_KEYS,
    _generic_end_light,
    _generic_start,
    _not_ported,
    _not_ported_end,
    _raw_generic_start,
)
from feedsvc.parsing.fast.mixin import _XHTML, FeedParserMixin, _EndHandler, _Handler
from feedsvc.parsing.fast.text import _needs_text_fix, _xml_escape
from feedsvc.parsing.fast.urls import _make_safe_absolute_uri, _urljoin

# The dispatch tables (handlers.py), bound here by assignment rather than imported by name:
# CPython compiles ``name.method(...)`` on a name an import statement binds as an attribute load
# and a call, a bound method object per call (``_START.get`` runs per element name and document).
_START = handlers._START
_END = handlers._END

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

_XLINK = "http://www.w3.org/1999/xlink"


class StrictParser(FeedParserMixin):
    """feedparser's _StrictFeedParser on pyexpat (for the elements we read)."""

    def __init__(self) -> None:
        super().__init__()
        self.root: str | None = None          # the root element's key
        self.inner = 0                        # open elements inside a text construct
        self._tags: dict[str, tuple[str, _Handler, str, bool, bool]] = {}   # per expat name
        self._endtags: dict[str, tuple[str, _EndHandler, str]] = {}
        self._bases: dict[tuple[str, str], str] = {}

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
