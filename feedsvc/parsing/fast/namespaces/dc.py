"""feedparser/namespaces/dc.py: Dublin Core. Most dc_* / dcterms_* elements are aliases of
_base's handlers (in ../handlers.py); these two are dc's own."""

from __future__ import annotations

from feedsvc.parsing.fast.exceptions import _NotClean
from feedsvc.parsing.fast.namespaces import _base


class Namespace(_base.Namespace):
    """feedparser's ``namespaces.dc.Namespace`` (dc:contributor, dcterms:valid)."""

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
