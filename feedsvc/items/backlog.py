"""A new source's backlog, and a source whose dates mean nothing. Pure: no I/O.

**No flood.** On a source's first successful fetch in a planet that has published before (on a
planet's very first refresh every source is new, and there is nobody to push off the front
page), and after a bulk guid migration the match keys did not recognise, only the newest
``keep`` (``new_source_items``) of its new items may reach the combined feeds' front page. The
others are written with ``backlog``: stored, dated as published, in the archives, counted as
backlog in ``status``, never among the newest ``max_items``. Undated ones are dated just before
the fetch, one second apart in feed order (the first entry latest), never "now": they do not
jump above everything else.

A bulk migration: an established source whose fetch carries none of its stored items (every
entry new, nothing unchanged or updated) and more than ``keep`` of whose new items are undated or
dated before its previous successful fetch: old posts under new guids, not news.

**First-seen order.** A source whose entries all carry the same date (``SAME_DATE_MIN`` or more,
the whole feed), or whose dates move on every build (its stored items come back re-dated, fetch
after fetch), has its feed's dates ignored from then on: its items are taken as undated, so each
is dated when first seen (on a first fetch: in feed order, as above) and a re-dated entry is not
an update. ``SourceState.first_seen_order`` keeps the reason, and ``status`` shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from feedsvc.items.decide import Action, ItemWrite, Snapshot
from feedsvc.items.normalise import content_hash
from feedsvc.model import Item, SourceState

SAME_DATE_MIN = 5                # entries that must all share one date before it means nothing
REDATED_MIN = 2                  # stored items re-dated by one fetch (after an earlier one) to say so
SAME_DATE = "all its items carry the same date"
REDATING = "its items' dates change on every build"


def first_seen_order(items: Sequence[Item], snapshot: Snapshot, state: SourceState,
                     whole: bool) -> tuple[list[Item], SourceState]:
    """``items`` of one fetch as they are to be decided, and ``state`` with ``first_seen_order``
    set when the source's dates mean nothing (see the module). ``whole``: ``items`` are every
    entry of the feed (none was skipped as unchanged)."""
    reason = state.first_seen_order or _why(items, snapshot, state, whole)
    if reason is None:
        return list(items), state
    if reason != state.first_seen_order:
        state = replace(state, first_seen_order=reason)
    return [undated(i) for i in items], state


def _why(items: Sequence[Item], snapshot: Snapshot, state: SourceState, whole: bool) -> str | None:
    dates = {i.published for i in items}
    if whole and len(items) >= SAME_DATE_MIN and len(dates) == 1 and None not in dates:
        return SAME_DATE
    moved = kept = 0
    for i in items:
        k = snapshot.own.get(i.key)
        if (k is None or k.source != i.source or i.published is None or k.date is None
                or k.date == k.first_seen):
            continue
        if i.published != k.date:
            moved += 1
        else:
            kept += 1
    if state.redated and moved >= REDATED_MIN and moved > kept:
        return REDATING
    return None


def undated(item: Item) -> Item:
    """``item`` without the feed's dates, and with the hash of what a reader sees computed
    without them, so a re-dated entry is not an update."""
    if item.published is None and item.updated is None:
        return item
    fields: dict[str, object] = {
        "title": item.title, "link": item.link, "summary": item.summary, "content": item.content,
        "authors": [[a.name, a.email, a.uri] for a in item.authors],
        "categories": list(item.categories),
        "enclosures": [[e.url, e.type, e.length] for e in item.enclosures],
        "published": None,
    }
    return replace(item, published=None, updated=None, content_hash=content_hash(fields))


def hold_back(writes: Sequence[ItemWrite], old: SourceState, keep: int, now: datetime, running: bool,
              carried: int = 0, migrations: bool = True) -> list[ItemWrite]:
    """``writes`` with the new items beyond the newest ``keep`` marked ``backlog`` when this fetch
    is a new source's first in a ``running`` planet (one that has published before) or a bulk
    guid migration (``migrations``: looked for; ``carried``: entries carried unchanged and not
    decided again), undated ones dated just before ``now`` in feed order. Otherwise unchanged."""
    new = [n for n, w in enumerate(writes) if w.action is Action.NEW]
    if len(new) <= keep or not running:
        return list(writes)
    if old.last_success is not None and not (migrations and _migrated(writes, old, keep, carried)):
        return list(writes)
    out = list(writes)
    for place, n in enumerate(new):
        w = out[n]
        if w.item.published is None and w.item.updated is None:
            out[n] = replace(w, date=now - timedelta(seconds=place + 1))
    ranked = sorted(new, key=lambda n: (-(out[n].date or now).timestamp(), out[n].item.id))
    for n in ranked[keep:]:
        out[n] = replace(out[n], backlog=True)
    return out


def _migrated(writes: Sequence[ItemWrite], old: SourceState, keep: int, carried: int) -> bool:
    """Every entry new, none of the stored items carried, and more than ``keep`` of the new ones
    undated or dated before the previous successful fetch."""
    if carried or not old.item_count or old.last_success is None:
        return False
    if any(w.action in (Action.UPDATE, Action.UNCHANGED) for w in writes):
        return False
    since = old.last_success
    stale = sum(1 for w in writes if w.action is Action.NEW
                and (w.item.published is None or w.item.published < since))
    return stale > keep
