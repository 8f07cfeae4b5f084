"""Whether a publish must render, and what it depends on. Pure.

A publish is skipped, as long as every file the last one wrote is still there, when nothing it
reads changed since then. Two checks, the cheap one first:

- ``fingerprint``: the store's generation, the config, the feeds' titles and links and the feedsvc
  version are the same (and, only when some source has a ``max_age`` that hides items as time
  passes, the day): an unchanged round costs a few queries;
- else ``selection``: the items chosen for every output (and the local article pages) are the
  same as last time, e.g. when the new items are all older than the newest ``output.max_items``:
  the round costs reading that selection, not a render.

``force`` renders anyway (``feedsvc publish``); unchanged bytes are still not rewritten.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import Enum

from feedsvc.storage.protocol import PublishRecord


class Plan(Enum):
    SKIP = "skip"                # nothing the outputs depend on changed
    SELECT = "select"            # read the selection, then plan again with it
    KEEP = "keep"                # the selection is the same: record the new fingerprint, write nothing
    RENDER = "render"            # render and write what changed


def digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def context_digest(version: str, config_repr: str, feed_meta: dict[str, tuple[str | None, str | None]]) -> str:
    """What every output depends on besides the items: the feedsvc version, the config, the
    feeds' own titles and links."""
    return digest(version, config_repr, repr(sorted(feed_meta.items())))


def fingerprint(context: str, generation: int, now: datetime, ages_hide_items: bool) -> str:
    """The cheap check: the context and the store's generation (and the day, when a source's
    ``max_age`` hides items as time passes)."""
    return digest(context, str(generation), now.date().isoformat() if ages_hide_items else "")


def selection(context: str, *chosen: str) -> str:
    """The second check: the context with the reprs of the chosen items and pages (a dataclass
    repr is exact and stable: every field and date)."""
    return digest(context, *chosen)


def plan_publish(last: PublishRecord | None, fingerprint: str, selection: str | None,
                 outputs_present: bool, force: bool) -> Plan:
    """``selection`` is None on the first call; ``Plan.SELECT`` asks for it."""
    if force or last is None or not outputs_present:
        return Plan.RENDER if selection is not None else Plan.SELECT
    if last.fingerprint == fingerprint:
        return Plan.SKIP
    if selection is None:
        return Plan.SELECT
    return Plan.KEEP if last.selection == selection else Plan.RENDER
