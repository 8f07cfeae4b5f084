"""feedparser/namespaces/georss.py: points, lines, polygons, boxes (parsed into 'where', which
nothing reads). georss:where and gml:* are not ported (not clean)."""

from __future__ import annotations

from feedsvc.parsing.fast.namespaces import _base


class Namespace(_base.Namespace):
    """feedparser's ``namespaces.georss.Namespace`` (its ``_start_georssgeom`` family)."""

    def _s_georssgeom(self, attrs_d: dict[str, str]) -> None:
        self.push("geometry", 0)
        self._get_context()["where"] = {}

    def _e_georssgeom(self) -> None:
        self.pop("geometry")
