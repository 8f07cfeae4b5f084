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
from enum import Enum

from feedsvc.items.keys import SAME_SOURCE_KEYS, match_keys
from feedsvc.model import Item


class Action(Enum):
    NEW = "new"
    UPDATE = "update"            # own item, content changed
    UNCHANGED = "unchanged"      # own item (or own alias), same content
    DUPLICATE = "duplicate"      # another source's stored item is the same story
    TAKEOVER = "takeover"        # same story, stored this run by a later-listed source: replace it


@dataclass(frozen=True, slots=True)
class Known:
    """A stored item as decide needs to see it."""
    pk: int
    source: str                  # the source that owns it
    content_hash: str
    run: int                     # the refresh run that created it


@dataclass(frozen=True, slots=True)
class Snapshot:
    own: Mapping[str, Known]           # this source's entry key → its item (own, or aliased)
    by_dedup_key: Mapping[str, Known]  # dedup key → the item that holds it


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
    claimed = {snapshot.own[i.key].pk for i, _ in keyed if i.key in snapshot.own}
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
                      and snapshot.by_dedup_key[k].pk not in claimed), None)
        if moved is not None:
            claimed.add(moved.pk)
            decisions.append(Decision(Action.UPDATE, item, moved))         # same post, new guid
            continue
        other = next((snapshot.by_dedup_key[k] for k in keys
                      if not k.startswith(SAME_SOURCE_KEYS) and k in snapshot.by_dedup_key and snapshot.by_dedup_key[k].source != item.source), None)
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
