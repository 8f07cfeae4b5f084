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

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from feedsvc.config import Config, Filters, Rule, Source, Topic
from feedsvc.items.normalise import plain_text
from feedsvc.model import Person, StoredItem

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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


@dataclass(frozen=True, slots=True)
class Hidden:
    """Why curation leaves a stored item out of the feeds (``trace``)."""
    reason: str                  # "filters", "max_age", "max_items", "unsubscribed" or "repeat"
    text: str                    # for people: which rule or limit, e.g. "it matches the drop rule …"
    key: str | None = None       # the config key that decided: filters.drop[0], sources[2].max_items


# the reasons counted as "hidden by curation" (status, refresh); "unsubscribed" and "repeat" are not
CURATION_REASONS = ("filters", "max_items", "max_age")


def _rule(r: Rule) -> str:
    return f"{r.field} ~ {r.pattern.pattern!r}"


def failing_rule(stored: StoredItem, sets: Sequence[tuple[str, str, Filters]]) -> Hidden | None:
    """The first rule that hides ``stored`` (a ``keep`` rule it fails, else a ``drop`` rule it
    matches) among ``sets`` of (config key, who, rules); None when it passes them all."""
    for key, who, f in sets:
        for j, r in enumerate(f.keep):
            if not matches(r, stored):
                return Hidden("filters", f"it does not match {who} keep rule {key}.keep[{j}] ({_rule(r)})",
                              f"{key}.keep[{j}]")
    for key, who, f in sets:
        for j, r in enumerate(f.drop):
            if matches(r, stored):
                return Hidden("filters", f"it matches {who} drop rule {key}.drop[{j}] ({_rule(r)})",
                              f"{key}.drop[{j}]")
    return None


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g}d" if seconds >= 86400 else f"{seconds / 3600:g}h"


def trace(items: Iterable[StoredItem], config: Config, now: datetime,
          limits: bool = True) -> Iterator[tuple[StoredItem, Hidden | None]]:
    """Each of ``items`` (newest first) as curation sees it: the item with its source's overrides,
    and None when it is published, else why not. ``curate`` keeps the Nones; ``feedsvc publish
    --explain``, ``status`` and ``refresh`` tell people about the rest."""
    sources = {s.name: s for s in config.sources}
    index = {s.name: i for i, s in enumerate(config.sources)}
    counts: dict[str, int] = {}
    ids: set[str] = set()
    for stored in items:
        if stored.item.id in ids:
            # two stored items under one published id are one story: the newest is shown, so no
            # feed repeats an id (store.apply no longer creates such pairs; a store written by
            # an earlier feedsvc may hold them)
            yield stored, Hidden("repeat", "another stored item has the same published id; the newest is shown")
            continue
        src = sources.get(stored.item.source)     # None: a source since removed from the config
        if src is None and not any(name in sources for name in stored.also_in):
            # unsubscribed: hidden (kept; re-adding shows it)
            yield stored, Hidden("unsubscribed", f"its source {stored.item.source!r} is not in the config "
                                                 "(putting it back publishes it again)")
            continue
        stored = with_overrides(stored, src)
        own = src.filters if src else Filters()
        if not passes(stored, config.filters, own):
            key = f"sources[{index[src.name]}]" if src else ""
            yield stored, (failing_rule(stored, (("filters", "the global", config.filters),
                                                 (key, f"{src.name}'s" if src else "", own)))
                           or Hidden("filters", "it does not pass the filters"))
            continue
        if limits and src is not None and src.max_age and stored.date < now - timedelta(seconds=src.max_age):
            yield stored, Hidden("max_age", f"it is older than {src.name}'s max_age ({_days(src.max_age)})",
                                 f"sources[{index[src.name]}].max_age")
            continue
        if limits and src is not None and src.max_items:
            n = counts.get(src.name, 0)
            if n >= src.max_items:
                yield stored, Hidden("max_items", f"{src.name} already has {n} newer item{'s' if n != 1 else ''} "
                                                  f"in the feeds (max_items: {src.max_items})",
                                 f"sources[{index[src.name]}].max_items")
                continue
            counts[src.name] = n + 1
        ids.add(stored.item.id)
        yield stored, None


def curate(items: Iterable[StoredItem], config: Config, now: datetime, limits: bool = True) -> list[StoredItem]:
    """Overrides, filters and per-source limits applied to ``items`` (newest first, kept in order).
    ``limits=False`` (an archive period: every published item of it): without ``max_age`` and
    ``max_items``, which keep the subscription documents short and would change with time."""
    return [stored for stored, hidden in trace(items, config, now, limits) if hidden is None]


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
    hidden: tuple[tuple[StoredItem, Hidden], ...] = ()   # items read that curation hides, and why
    latest: dict[str, datetime] = field(default_factory=dict)   # source → its newest published item's date
    read: int = 0                # how many stored items the selection was chosen from

    def full(self, config: Config) -> bool:
        return (len(self.combined) >= config.output.max_items
                and all(len(self.topics.get(t.path, ())) >= t.max_items for t in config.outputs))

    def hidden_by_source(self) -> dict[str, dict[str, int]]:
        """Per source, how many of the items read curation hides: by filters, max_items, max_age."""
        out: dict[str, dict[str, int]] = {}
        seen: set[tuple[str, str]] = set()
        for stored, why in self.hidden:
            mark = (stored.item.source, stored.item.id)
            if why.reason in CURATION_REASONS and mark not in seen:   # a pinned item is read twice
                seen.add(mark)
                by = out.setdefault(stored.item.source, {})
                by[why.reason] = by.get(why.reason, 0) + 1
        return out


def select(items: Sequence[StoredItem], config: Config, now: datetime) -> Curated:
    """The published selection from ``items`` (newest first)."""
    pool: list[StoredItem] = []
    hidden: list[tuple[StoredItem, Hidden]] = []
    latest: dict[str, datetime] = {}
    for stored, why in trace(items, config, now):
        if why is None:
            pool.append(stored)
            if stored.date > latest.get(stored.item.source, EPOCH):
                latest[stored.item.source] = stored.date
        else:
            hidden.append((stored, why))
    topics = {}
    for t in config.outputs:
        topics[t.path] = [s for s in pool if selects(t, s)][:t.max_items]
    return Curated(combined=pool[:config.output.max_items], topics=topics, hidden=tuple(hidden),
                   latest=latest, read=len(items))


def gather(newest: Callable[[int], list[StoredItem]], config: Config, now: datetime,
           pinned: Sequence[StoredItem] = ()) -> Curated:
    """The published selection, reading the store through ``newest(limit)`` (the newest ``limit``
    stored items a front page may show) no further than needed: without curation
    ``output.max_items`` (more only when items of sources removed from the config are in the way);
    with it, a growing prefix until every feed is full or the store is exhausted. ``pinned``
    items (``feedsvc items pin``) come first, newest first, in every feed that selects them."""
    limit = max([config.output.max_items, *(t.max_items for t in config.outputs)])
    if config.curated:
        limit *= 2
    while True:
        items = newest(limit)
        result = select([*pinned, *items], config, now)
        if len(items) < limit or result.full(config):
            return result
        limit *= 4
