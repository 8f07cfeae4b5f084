"""feedparser/namespaces/_base.py: the RSS, Atom and RDF elements."""

from __future__ import annotations

from typing import Any

from feedsvc.parsing.fast.dates import _parse_date
from feedsvc.parsing.fast.exceptions import _NotClean
from feedsvc.parsing.fast.mixin import _HTML_TYPES, _TEXTUAL_TYPES, FeedParserMixin, _map_content_type


class Namespace(FeedParserMixin):
    """feedparser's ``namespaces._base.Namespace`` (the elements without a prefix)."""

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
