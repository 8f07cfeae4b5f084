"""feedparser's core state machine (feedparser/mixin.py ``_FeedParserMixin``): the element
stack and ``pop()`` post-processing, text constructs, contexts (feed, entry, image, textinput,
source), authors and tags. The handlers for the elements themselves are in ``namespaces/``.

feedparser's ``_FeedParserMixin`` inherits its namespace mixins; here they build on this class
instead (``namespaces._base.Namespace(FeedParserMixin)``), so each is checked against the state
it uses, and the emulator (``fast._Emulator``) is the expat driver plus the namespace mixins.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import re
from collections.abc import Callable
from typing import Any

from feedsvc.parsing.fast.text import _fix_text, _looks_like_html
from feedsvc.parsing.fast.urls import _urljoin

# mixin._FeedParserMixin.can_be_relative_uri, .html_types (and the textual types of _end_content)
_CAN_BE_RELATIVE_URI = frozenset({"comments", "docs", "href", "icon", "id", "link", "logo", "url",
                                  "wfw_comment", "wfw_commentrss"})
_HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})
_TEXTUAL_TYPES = _HTML_TYPES | {"text/plain"}
_XHTML = "application/xhtml+xml"

_ENTITY_AMP = re.compile("&([A-Za-z0-9_]+);")
_EMAIL = re.compile(r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?""")  # noqa: E501

# A start / end handler, as the dispatch tables (handlers.py) hold it: a plain function called
# with the emulator
_Handler = Callable[[Any, dict[str, str]], None]
_EndHandler = Callable[[Any], None]


def _map_content_type(content_type: str) -> str:
    content_type = content_type.lower()
    if content_type in ("text", "plain"):
        return "text/plain"
    if content_type == "html":
        return "text/html"
    if content_type == "xhtml":
        return _XHTML
    return content_type


class FeedParserMixin:
    """The state of feedparser's ``_FeedParserMixin`` and its core methods.

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
        self._escape = False                  # contentparams["type"] is xhtml: escape text
        self._fixing = True                   # the document may need _fix_text (set by run)
        self._offsets: dict[str, _dt.timedelta] = {}   # date caches of namespaces._base._save_date
        self._dates: dict[str | None, Any] = {}

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
