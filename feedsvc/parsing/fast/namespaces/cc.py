"""feedparser/namespaces/cc.py: Creative Commons licences (stored as links)."""

from __future__ import annotations

from feedsvc.parsing.fast.namespaces import _base


class Namespace(_base.Namespace):
    """feedparser's ``namespaces.cc.Namespace``."""

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
