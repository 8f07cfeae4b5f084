"""Making curation visible: ``feedsvc publish --explain ID|URL`` (why an item is or is not
published) and the hidden counts ``feedsvc refresh`` adds to its lines ("1 new (1 hidden by
filters)"). The decisions themselves are ``output.curate.trace`` and ``output.explain``, pure.

What is counted as hidden by curation, here and in ``status``: items the keep/drop filters (global
or the source's), the source's ``max_items`` or its ``max_age`` leave out, among the stored items
the publish reads to choose the feeds (the newest ones: ``curate.gather``). Hidden by moderation
and a new source's backlog are not counted: ``items list --hidden`` and ``status`` show those.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from feedsvc.config import Config
from feedsvc.errors import FeedsvcError

if TYPE_CHECKING:
    from feedsvc.model import StoredItem
    from feedsvc.storage import Storage

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1
REASON_WORDS = {"filters": "filters", "max_items": "max_items", "max_age": "max_age"}


def cmd_explain(config: Config, ref: str) -> int:
    """``publish --explain``: exit 0 when the item is in the combined feed, 1 when it is not (or
    when no stored item has that id or link)."""
    from feedsvc.app.items_cmd import _find
    from feedsvc.clock import utcnow
    from feedsvc.output.explain import explain
    from feedsvc.storage import open_storage

    now = utcnow()
    storage = open_storage(config, readonly=True)
    try:
        found = _find(storage, ref)
        if not found:
            print(f"feedsvc: error: no stored item has the id or link {ref!r} (see 'feedsvc items list')",
                  file=sys.stderr)
            return EXIT_FAILED
        pinned = storage.pinned(now)
        answers = []
        for listed in found:
            window = _window_down_to(storage, config, listed.stored)
            answers.append(explain(ref, listed, window, pinned, config, now))
    finally:
        storage.close()
    if len(found) > 1:
        print(f"{ref} names {len(found)} stored stories:\n")
    for i, a in enumerate(answers):
        if i:
            print()
        print("\n".join(a.lines))
    return EXIT_OK if any(a.published for a in answers) else EXIT_FAILED


def _window_down_to(storage: Storage, config: Config, target: StoredItem) -> list[StoredItem]:
    """The newest stored items a front page may show, down to ``target`` (the counts before it
    decide its source's max_items and its place in the combined feed), or all of them."""
    limit = max([config.output.max_items, *(t.max_items for t in config.outputs)]) * 2
    while True:
        items = storage.newest(limit)
        if len(items) < limit or any(s.item.id == target.item.id and s.item.source == target.item.source
                                     for s in items) or items[-1].date < target.date:
            return items
        limit *= 4


def new_hidden(storage: Storage, config: Config, since: datetime, now: datetime) -> dict[str, dict[str, int]]:
    """Per source, how many of the items first seen since ``since`` curation hides (by filters,
    max_items, max_age), among the items the publish reads. Nothing to count without curation."""
    if not config.curated:
        return {}
    from feedsvc.output.curate import CURATION_REASONS, gather

    try:
        chosen = gather(storage.newest, config, now, storage.pinned(now))
    except FeedsvcError as exc:        # the refresh itself is done: its lines go without the counts
        log.warning("cannot count the items curation hides: %s", exc)
        return {}
    out: dict[str, dict[str, int]] = {}
    seen: set[str] = set()
    since = since - timedelta(milliseconds=1)   # dates go through a float timestamp in the store
    for stored, why in chosen.hidden:
        if why.reason in CURATION_REASONS and stored.first_seen >= since and stored.item.id not in seen:
            seen.add(stored.item.id)
            by = out.setdefault(stored.item.source, {})
            by[why.reason] = by.get(why.reason, 0) + 1
    return out


def hidden_note(by: Mapping[str, int] | None) -> str:
    """``1 hidden by filters`` / ``3 hidden: 1 by filters, 2 by max_items``; "" when none."""
    if not by:
        return ""
    total = sum(by.values())
    parts = [f"{n} by {REASON_WORDS[r]}" for r, n in by.items() if n]
    if len(parts) == 1:
        return f"{total} hidden {parts[0].partition(' ')[2]}"
    return f"{total} hidden: " + ", ".join(parts)
