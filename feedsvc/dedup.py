"""Canonical links, identity keys and the decisions of a refresh. Pure: no I/O.

``decide`` is given the incoming items of one source and a ``Snapshot`` of what the store holds
for them, and says for each item: new, updated, unchanged, duplicate of another source's item,
or "take over" (the same story arrived earlier in this same refresh from a source listed later
in the config: the earlier-listed source wins, whatever order the fetches finished in).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from feedsvc.model import Item

TRACKING_PARAMS = re.compile(r"^(utm_.*|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|yclid)$", re.I)
DEFAULT_PORTS = {"http": 80, "https": 443}
_URL = re.compile(r"^https?://", re.I)


def canonical_link(url: str | None) -> str | None:
    """Lower-case scheme and host, drop the default port, the fragment and tracking parameters,
    sort the query. ``None`` for anything that is not an http(s) URL."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    if parts.username or parts.password:
        userinfo = parts.username or ""
        if parts.password:
            userinfo += ":" + parts.password
        host = userinfo + "@" + host
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not TRACKING_PARAMS.match(k))
    return urlunsplit((scheme, host, parts.path or "/", urlencode(query), ""))


def dedup_keys(canonical: str | None, guid: str | None, guid_is_permalink: bool) -> tuple[str, ...]:
    """The keys under which an item is the same story as another source's item."""
    keys: list[str] = []
    if canonical:
        keys.append("link:" + canonical)
    if guid and guid_is_permalink and _URL.match(guid):
        c = canonical_link(guid)
        if c and "link:" + c not in keys:
            keys.append("link:" + c)
    if guid and _looks_global(guid):
        # the guid is published as the item's id (see normalise.published_id): two sources with
        # the same one must be one item, or the combined feed would carry the id twice
        keys.append("id:" + guid)
    return tuple(keys)


def _looks_global(guid: str) -> bool:
    """Ids designed to be globally unique (tag:, urn:, and http(s) URLs even when the feed says
    they are not permalinks) mean the same story wherever seen."""
    g = guid.lower()
    return g.startswith(("tag:", "urn:", "http://", "https://"))


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


def decide(items: Sequence[Item], snapshot: Snapshot, rank: Mapping[str, int], run: int) -> list[Decision]:
    """Decide what to do with each incoming item of one source.

    ``rank`` gives each source's position in the config (lower wins ties within a run); ``run`` is
    the current refresh run.

    Within a source an entry is identified by its key (guid, else link, else a hash) alone: a
    repeat of a key inside ``items`` counts once (the first occurrence in document order is kept),
    but two entries with different keys are two items even when they share a link (a podcast
    whose every episode links to its home page, a linkblog with one page per day).

    Dedup keys match across sources only. A dedup key that several distinct entries of this batch
    share names a page, not a story, so it is dropped from those items: it neither matches another
    source's item nor is stored for others to match.
    """
    owners: dict[str, set[str]] = {}
    for item in items:
        for k in item.dedup_keys:
            owners.setdefault(k, set()).add(item.key)
    ambiguous = {k for k, keys in owners.items() if len(keys) > 1}
    decisions: list[Decision] = []
    seen_keys: set[str] = set()
    for item in items:
        if item.key in seen_keys:
            continue
        seen_keys.add(item.key)
        if ambiguous and any(k in ambiguous for k in item.dedup_keys):
            item = replace(item, dedup_keys=tuple(k for k in item.dedup_keys if k not in ambiguous))
        known = snapshot.own.get(item.key)
        if known is not None:
            if known.source != item.source:
                decisions.append(Decision(Action.UNCHANGED, item, known))   # our alias of another's item
            elif known.content_hash == item.content_hash:
                decisions.append(Decision(Action.UNCHANGED, item, known))
            else:
                decisions.append(Decision(Action.UPDATE, item, known))
            continue
        other = next((snapshot.by_dedup_key[k] for k in item.dedup_keys
                      if k in snapshot.by_dedup_key and snapshot.by_dedup_key[k].source != item.source), None)
        if other is None:
            decisions.append(Decision(Action.NEW, item))
        elif other.run == run and rank.get(item.source, 1 << 30) < rank.get(other.source, 1 << 30):
            decisions.append(Decision(Action.TAKEOVER, item, other))
        else:
            decisions.append(Decision(Action.DUPLICATE, item, other))
    return decisions
