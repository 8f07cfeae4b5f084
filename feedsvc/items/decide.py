"""The decisions of a refresh: what to do with each incoming item of one source. Pure: no I/O.

``decide`` is given the incoming items of one source and a ``Snapshot`` of what the store holds
for them, and says for each item: new, updated, unchanged, duplicate of another source's item,
or "take over" (the same story is held by a source of lower ``priority``, or arrived earlier in
this same refresh from a source of equal priority listed later in the config: the earlier-listed
source wins, whatever order the fetches finished in).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import NewType

from feedsvc.items.keys import SAME_SOURCE_KEYS, match_keys
from feedsvc.model import Item

ItemRef = NewType("ItemRef", int)
"""An opaque handle on a stored item, given by the store in a ``Snapshot`` and handed back to it
in an ``ItemWrite``; nothing outside the storage package interprets it."""


class Action(Enum):
    NEW = "new"
    UPDATE = "update"            # own item, content changed
    UNCHANGED = "unchanged"      # own item (or own alias), same content
    DUPLICATE = "duplicate"      # another source's stored item is the same story
    TAKEOVER = "takeover"        # same story, stored this run by a later-listed source: replace it


@dataclass(frozen=True, slots=True)
class Known:
    """A stored item as the deciders need to see it."""
    ref: ItemRef                 # the store's handle on it
    source: str                  # the source that owns it
    content_hash: str
    run: int                     # the refresh run that created it
    key: str = ""                # its entry key in its owner source
    id: str = ""                 # its published id
    date: datetime | None = None       # the date it is ordered by (published, else first seen)
    updated: datetime | None = None    # its last change
    first_seen: datetime | None = None
    link: str | None = None      # its own link (kept on the copy list when another source takes it over)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the store holds under the keys ``lookups`` asked for, read inside the source's write
    transaction (so no other writer changes it before the decisions are applied)."""
    own: Mapping[str, Known]           # this source's entry key → its item (own, or aliased)
    by_dedup_key: Mapping[str, Known]  # dedup key → the item that holds it


def lookups(items: Sequence[Item]) -> tuple[list[str], list[str]]:
    """The keys a ``Snapshot`` for ``items`` must cover: their entry keys (looked up among the
    source's own items and aliases) and their match keys plus ``id:`` + published id (looked up
    among every item's keys: a takeover must know whether another story holds its id)."""
    own = list(dict.fromkeys(i.key for i in items))
    keys: dict[str, None] = {}
    for i in items:
        keys.update(dict.fromkeys(match_keys(i)))
        keys["id:" + i.id] = None
    return own, list(keys)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    item: Item
    target: Known | None = None  # the stored item concerned (update, unchanged, duplicate, takeover)


def decide(items: Sequence[Item], snapshot: Snapshot, rank: Mapping[str, int], run: int,
           priority: Mapping[str, int] | None = None) -> list[Decision]:
    """Decide what to do with each incoming item of one source.

    ``rank`` gives each source's position in the config (lower wins ties within a run); ``run`` is
    the current refresh run; ``priority`` each source's configured priority (default 0): a copy
    from a higher-priority source takes the story over from a lower one whenever it arrives,
    otherwise the copy stored first wins.

    Within a source an entry is identified by its key (guid, else link, else a hash) alone: a
    repeat of a key inside ``items`` counts once (the first occurrence in document order is kept),
    but two entries with different keys are two items even when they share a link (a podcast
    whose every episode links to its home page, a linkblog with one page per day). An entry with
    a new key whose fingerprint or link + title matches a stored item of the same source that no
    other entry of this batch claims is that item under a new guid (a CMS migration): an update.

    Match keys are computed here (``match_keys``) and returned on the decided items'
    ``dedup_keys``, so the store records them. A key that several distinct entries of this batch
    share names a page, not a story, so it is dropped from those items: it neither matches another
    item nor is stored for others to match.
    """
    prio = priority or {}
    keyed = [(item, match_keys(item)) for item in items]
    owners: dict[str, set[str]] = {}
    for item, mk in keyed:
        for k in mk:
            owners.setdefault(k, set()).add(item.key)
    ambiguous = {k for k, keys in owners.items() if len(keys) > 1}
    # stored items claimed by their own key in this batch cannot be re-keyed by another entry
    claimed = {snapshot.own[i.key].ref for i, _ in keyed if i.key in snapshot.own}
    decisions: list[Decision] = []
    seen_keys: set[str] = set()
    for item, mk in keyed:
        if item.key in seen_keys:
            continue
        seen_keys.add(item.key)
        keys = tuple(k for k in mk if k not in ambiguous)
        if keys != item.dedup_keys:
            item = replace(item, dedup_keys=keys)
        known = snapshot.own.get(item.key)
        if known is not None:
            if known.source != item.source:
                # our alias of another source's item: ours now if our priority was raised above its
                action = (Action.TAKEOVER if prio.get(item.source, 0) > prio.get(known.source, 0)
                          else Action.UNCHANGED)
                decisions.append(Decision(action, item, known))
            elif known.content_hash == item.content_hash:
                decisions.append(Decision(Action.UNCHANGED, item, known))
            else:
                decisions.append(Decision(Action.UPDATE, item, known))
            continue
        moved = next((snapshot.by_dedup_key[k] for k in keys if k.startswith(SAME_SOURCE_KEYS)
                      and k in snapshot.by_dedup_key and snapshot.by_dedup_key[k].source == item.source
                      and snapshot.by_dedup_key[k].ref not in claimed), None)
        if moved is not None:
            claimed.add(moved.ref)
            decisions.append(Decision(Action.UPDATE, item, moved))         # same post, new guid
            continue
        other = next((snapshot.by_dedup_key[k] for k in keys
                      if not k.startswith(SAME_SOURCE_KEYS) and k in snapshot.by_dedup_key
                      and snapshot.by_dedup_key[k].source != item.source), None)
        if other is None:
            decisions.append(Decision(Action.NEW, item))
            continue
        mine, theirs = prio.get(item.source, 0), prio.get(other.source, 0)
        if mine > theirs or (mine == theirs and other.run == run
                             and rank.get(item.source, 1 << 30) < rank.get(other.source, 1 << 30)):
            decisions.append(Decision(Action.TAKEOVER, item, other))
        else:
            decisions.append(Decision(Action.DUPLICATE, item, other))
    return decisions


# ---- from decisions to writes: every date and id settled before the store sees them ------------

@dataclass(frozen=True, slots=True)
class Demoted:
    """The previous owner of a story taken over: it becomes one of the story's copies."""
    source: str
    key: str
    link: str | None


@dataclass(frozen=True, slots=True)
class ItemWrite:
    """One decided change to the store, complete: the store writes it and decides nothing.

    - NEW: insert ``item`` (its id and key final) with ``date``, ``updated``, ``first_seen``.
    - UPDATE: replace ``target``'s content with ``item`` (id kept; key changed when ``item.key``
      differs: a guid migration), ``date`` and ``updated``, its match keys with ``item``'s.
    - UNCHANGED: nothing to write; ``target`` is still carried by this fetch when ``own``.
    - DUPLICATE: ``item.key`` of this source becomes a copy of ``target`` (with ``item.link``);
      ``item``'s match keys point at ``target`` too.
    - TAKEOVER: ``target`` becomes ``item`` (owner, key, id, content, dates); this source's copy
      of it is dropped and ``demoted`` (the previous owner) becomes a copy.
    """
    action: Action
    item: Item
    target: ItemRef | None = None
    date: datetime | None = None
    updated: datetime | None = None
    first_seen: datetime | None = None
    own: bool = True             # the source carries the target itself (not as a copy)
    demoted: Demoted | None = None
    redated: bool = False        # an update that moves the date the feed gives the item
    rekeyed: bool = False        # an update under a new entry key (the source changed its guid)
    backlog: bool = False        # NEW: held back from the front page (a new source's older items, items/backlog.py)


def resolve(decisions: Sequence[Decision], snapshot: Snapshot, now: datetime, run: int) -> list[ItemWrite]:
    """Settle each decision's id, key and dates (pure):

    - a new item is dated by its published date, else its updated date, else now (first seen);
    - an update keeps the published id; ``updated`` moves only when the content a reader sees
      changed (not for a new guid of the same post), and never backwards; a stored item dated
      by when it was first seen takes the published date the feed now gives;
    - a guid migration re-keys the item unless another stored item of the source has that key;
    - a takeover keeps the story's published id when it was published in an earlier run
      (readers must not see a re-post) or when another story holds the new id (ids stay unique).
    """
    writes: list[ItemWrite] = []
    for d in decisions:
        item, target = d.item, d.target
        if d.action is Action.NEW:
            writes.append(ItemWrite(Action.NEW, item, date=item.published or item.updated or now,
                                    updated=item.updated or item.published or now, first_seen=now))
            continue
        assert target is not None
        if d.action is Action.UPDATE:
            new_upd = item.updated or now
            old_upd = target.updated or new_upd
            updated = max(new_upd, old_upd) if target.content_hash != item.content_hash else old_upd
            date = target.date or now
            if item.published is not None and target.date == target.first_seen:
                date = item.published      # a date appeared where we had only first_seen
            key = item.key
            if target.key and target.key != item.key and item.key in snapshot.own:
                key = target.key           # the new key is another stored item's: keep the old one
            redated = (item.published is not None and target.date is not None
                       and target.date != target.first_seen and item.published != target.date)
            writes.append(ItemWrite(Action.UPDATE, replace(item, id=target.id or item.id, key=key),
                                    target.ref, date=date, updated=updated, redated=redated,
                                    rekeyed=bool(target.key) and key != target.key))
        elif d.action is Action.UNCHANGED:
            writes.append(ItemWrite(Action.UNCHANGED, item, target.ref, own=target.source == item.source))
        elif d.action is Action.DUPLICATE:
            writes.append(ItemWrite(Action.DUPLICATE, item, target.ref, own=False))
        else:   # TAKEOVER
            holder = snapshot.by_dedup_key.get("id:" + item.id)
            taken = holder is not None and holder.ref != target.ref
            new_id = item.id if target.run == run and not taken else (target.id or item.id)
            writes.append(ItemWrite(Action.TAKEOVER, replace(item, id=new_id), target.ref,
                                    date=item.published or item.updated or now,
                                    updated=item.updated or item.published or now,
                                    demoted=Demoted(target.source, target.key, target.link)))
    return writes
