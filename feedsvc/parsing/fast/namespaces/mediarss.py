"""feedparser/namespaces/mediarss.py (Media RSS)."""

from __future__ import annotations

from feedsvc.parsing.fast.mixin import _EndHandler, _Handler
from feedsvc.parsing.fast.namespaces import _base


class Namespace(_base.Namespace):
    """feedparser's ``namespaces.mediarss.Namespace``. (media:player, rating, credit, restriction,
    license: the handler pairs ``_pusher`` / ``_context_setdefault`` make, below.)"""

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


def _pusher(element: str, expecting: int) -> tuple[_Handler, _EndHandler]:
    """A handler pair that only pushes and pops (harmless elements: media:credit, ...)."""
    def start(self: Namespace, attrs_d: dict[str, str]) -> None:
        self.push(element, expecting)

    def end(self: Namespace) -> None:
        self.pop(element)
    return start, end


def _context_setdefault(key: str, element: str, expecting: int) -> tuple[_Handler, _EndHandler]:
    """media:rating / credit / restriction / license: remember attributes, push, pop."""
    def start(self: Namespace, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        if key == "media_credit":
            context.setdefault(key, []).append(attrs_d)
        else:
            context.setdefault(key, attrs_d)
        self.push(element, expecting)

    def end(self: Namespace) -> None:
        self.pop(element)
    return start, end
