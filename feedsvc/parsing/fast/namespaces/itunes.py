"""feedparser/namespaces/itunes.py."""

from __future__ import annotations

from feedsvc.parsing.fast.mixin import _EndHandler
from feedsvc.parsing.fast.namespaces import _base


class Namespace(_base.Namespace):
    """feedparser's ``namespaces.itunes.Namespace``. (itunes:block / explicit: ``_flag_end``.)"""

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


def _flag_end(key: str) -> _EndHandler:
    """itunes:block / itunes:explicit: feedparser pops without stripping and stores a flag."""
    def end(self: Namespace) -> None:
        self.pop(key, 0)
        self._get_context()[key] = None   # (a flag nobody reads)
    return end
