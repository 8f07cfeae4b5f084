"""Curation at publish time: per-source overrides, keep/drop filters, age and count limits, and
the selection of topic feeds (``outputs:``). Pure: stored items and the config in, lists out.

Rules apply to the items already in the store each time the outputs are rendered, so a dropped
item is hidden, not deleted: loosening a rule and running ``feedsvc publish`` brings it back.

For each stored item, newest first:

1. overrides of its source: ``author`` when the feed named none, ``categories`` added;
2. the global ``filters`` and its source's ``keep``/``drop``: published when it matches every
   ``keep`` rule (if any) and no ``drop`` rule;
3. its source's ``max_age`` (older items are not published) and ``max_items`` (at most N of that
   source, the newest);

the result feeds the combined feed (its first ``output.max_items``) and every topic feed (the
items its ``sources``/``categories``/rules select, its first ``max_items``). Every step only looks
at the items before it, so a prefix of the store gives a prefix of each feed (``gather`` relies on
it to read no more of the store than needed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from feedsvc.config import Config, Filters, Rule, Source, Topic
from feedsvc.items.normalise import plain_text
from feedsvc.model import Person, StoredItem


def field_values(stored: StoredItem, field: str) -> list[str]:
    """The strings a rule on ``field`` is matched against (it matches when any one does)."""
    item = stored.item
    if field == "title":
        return [item.title]
    if field == "link":
        return [item.link or ""]
    if field == "author":
        return [v for p in item.authors for v in (p.name, p.email) if v] or [""]
    if field == "category":
        return list(item.categories) or [""]
    if field == "content":
        # the text a reader sees (tags stripped, entities decoded), content and summary
        return [plain_text(item.content, True) + "\n" + plain_text(item.summary, True)]
    raise ValueError(f"unknown field {field!r}")


def matches(rule: Rule, stored: StoredItem) -> bool:
    return any(rule.pattern.search(v) for v in field_values(stored, rule.field))


def passes(stored: StoredItem, *filters: Filters) -> bool:
    """Matches every ``keep`` rule of every filter set given and no ``drop`` rule."""
    return (all(matches(r, stored) for f in filters for r in f.keep)
            and not any(matches(r, stored) for f in filters for r in f.drop))


def with_overrides(stored: StoredItem, source: Source | None) -> StoredItem:
    """The item as its source's config presents it: a fallback author, extra categories."""
    if source is None or not (source.author or source.categories):
        return stored
    item = stored.item
    if source.author and not item.authors:
        item = replace(item, authors=(Person(name=source.author),))
    extra = [c for c in source.categories if c not in item.categories]
    if extra:
        item = replace(item, categories=item.categories + tuple(extra))
    return replace(stored, item=item)


def curate(items: Iterable[StoredItem], config: Config, now: datetime) -> list[StoredItem]:
    """Overrides, filters and per-source limits applied to ``items`` (newest first, kept in order)."""
    sources = {s.name: s for s in config.sources}
    counts: dict[str, int] = {}
    ids: set[str] = set()
    out: list[StoredItem] = []
    for stored in items:
        if stored.item.id in ids:
            # two stored items under one published id are one story: the newest is shown, so no
            # feed repeats an id (store.apply no longer creates such pairs; a store written by
            # an earlier feedsvc may hold them)
            continue
        src = sources.get(stored.item.source)     # None: a source since removed from the config
        if src is None and not any(name in sources for name in stored.also_in):
            continue                              # unsubscribed: hidden (kept; re-adding shows it)
        stored = with_overrides(stored, src)
        if not passes(stored, config.filters, src.filters if src else Filters()):
            continue
        if src is not None and src.max_age and stored.date < now - timedelta(seconds=src.max_age):
            continue
        if src is not None and src.max_items:
            n = counts.get(src.name, 0)
            if n >= src.max_items:
                continue
            counts[src.name] = n + 1
        ids.add(stored.item.id)
        out.append(stored)
    return out


def selects(topic: Topic, stored: StoredItem) -> bool:
    """Whether a topic feed carries this (curated) item: one of its sources (the one that won the
    story, or one that also carried it), one of its categories (case-insensitive), and its rules."""
    if topic.sources and not ({stored.item.source, *stored.also_in} & set(topic.sources)):
        return False
    if topic.categories:
        wanted = {c.casefold() for c in topic.categories}
        if not any(c.casefold() in wanted for c in stored.item.categories):
            return False
    return passes(stored, topic.filters)


@dataclass(frozen=True, slots=True)
class Curated:
    """What gets published: the combined feed's items and each topic feed's, newest first."""
    combined: list[StoredItem]
    topics: dict[str, list[StoredItem]]   # topic path → its items

    def full(self, config: Config) -> bool:
        return (len(self.combined) >= config.output.max_items
                and all(len(self.topics.get(t.path, ())) >= t.max_items for t in config.outputs))


def select(items: Sequence[StoredItem], config: Config, now: datetime) -> Curated:
    """The published selection from ``items`` (newest first)."""
    pool = curate(items, config, now)
    topics = {}
    for t in config.outputs:
        topics[t.path] = [s for s in pool if selects(t, s)][:t.max_items]
    return Curated(combined=pool[:config.output.max_items], topics=topics)


def gather(newest: Callable[[int], list[StoredItem]], config: Config, now: datetime) -> Curated:
    """The published selection, reading the store through ``newest(limit)`` (the newest ``limit``
    stored items) no further than needed: without curation ``output.max_items`` (more only when
    items of sources removed from the config are in the way); with it, a growing prefix until
    every feed is full or the store is exhausted."""
    limit = max([config.output.max_items, *(t.max_items for t in config.outputs)])
    if config.curated:
        limit *= 2
    while True:
        items = newest(limit)
        result = select(items, config, now)
        if len(items) < limit or result.full(config):
            return result
        limit *= 4
