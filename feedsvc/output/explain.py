"""Why a stored item is, or is not, in the published feeds (``feedsvc publish --explain ID|URL``).
Pure: the item as the store lists it, the newest stored items down to it, the config in; the
sentences out.

The answer follows the order in which publishing decides, so the first reason given is the one
that counts:

1. hidden by moderation (``feedsvc items hide``): in no output;
2. a new source's backlog: archived, never on the front page;
3. curation (``curate.trace``, the same code the publish runs): its source is not in the config,
   or a global or per-source ``keep``/``drop`` rule (which one, with its pattern), or its
   source's ``max_age`` or ``max_items``;
4. ``output.max_items``: it passes every rule but newer items fill the combined feed;

then what is true of a published item: its place in the combined feed, ``index.html``
(``output.page_items``), a pin, the topic feeds that carry it (and why the others do not), its
archive document. A link that names another source's copy of a story says whose story it is and
why that source's copy won (``priority``, else the copy seen first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from feedsvc.config import Config, Topic
from feedsvc.items.keys import canonical_link
from feedsvc.model import StoredItem
from feedsvc.output.curate import Hidden, failing_rule, selects, trace
from feedsvc.output.periods import period_of
from feedsvc.storage.protocol import Listed


@dataclass(frozen=True, slots=True)
class Explanation:
    published: bool              # in the combined feed
    lines: tuple[str, ...]       # for people: the verdict first, then the details


def _iso(dt: datetime | None) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds") if dt else "-"


def _same(a: StoredItem, b: StoredItem) -> bool:
    return a.item.id == b.item.id and a.item.source == b.item.source and a.item.key == b.item.key


def _priority(config: Config, name: str) -> int:
    return next((s.priority for s in config.sources if s.name == name), 0)


def _copy_line(ref: str, stored: StoredItem, config: Config) -> str | None:
    """When ``ref`` is the link of another source's copy of the story: whose story it is, and why."""
    wanted = canonical_link(ref)
    if not wanted or wanted == stored.item.canonical_link:
        return None
    for c in stored.copies:
        if c.link and canonical_link(c.link) == wanted and c.source != stored.item.source:
            owner, other = stored.item.source, c.source
            p_owner, p_other = _priority(config, owner), _priority(config, other)
            why = (f"{owner}'s priority {p_owner} is higher than {other}'s {p_other}" if p_owner > p_other
                   else f"both have priority {p_owner} and {owner}'s copy was seen first" if p_owner == p_other
                   else f"{owner}'s copy came first; {other}'s higher priority ({p_other}) takes the story "
                        f"over when {other} is next fetched")
            return (f"duplicate: {ref} is {other}'s copy of this story, which is published once, as "
                    f"{owner}'s ({why})")
    return None


def _topic_miss(i: int, topic: Topic, stored: StoredItem) -> str:
    """Why topic feed ``topic`` (``outputs[i]``) does not carry ``stored``."""
    if topic.sources and not ({stored.item.source, *stored.also_in} & set(topic.sources)):
        return f"not from one of its sources ({', '.join(topic.sources)})"
    wanted = {c.casefold() for c in topic.categories}
    if wanted and not any(c.casefold() in wanted for c in stored.item.categories):
        return f"none of its categories ({', '.join(topic.categories)})"
    rule = failing_rule(stored, ((f"outputs[{i}]", "its", topic.filters),))
    if rule is not None:
        return rule.text
    return f"newer items fill it (max_items: {topic.max_items})"


def explain(ref: str, listed: Listed, window: Sequence[StoredItem], pinned: Sequence[StoredItem],
            config: Config, now: datetime) -> Explanation:
    """Why ``listed`` (found by ``ref``, an id or a link) is or is not published. ``window``: the
    newest stored items a front page may show, newest first, down to the item at least (all of
    them when it is not among them); ``pinned``: the pinned ones (they come first)."""
    stored, mod = listed.stored, listed.moderation
    item = stored.item
    head = f"{item.id} “{item.title}” ({item.source}, dated {_iso(stored.date)})"
    notes: list[str] = []
    copy = _copy_line(ref, stored, config)
    if copy:
        notes.append(copy)
    elif stored.also_in:
        notes.append(f"also carried by {', '.join(stored.also_in)}: merged into this story (published once)")
    archive = config.output.archive
    where = f"archive/{period_of(stored.date, archive).name}.xml" if archive != "off" else None

    def answer(published: bool, verdict: str, *more: str) -> Explanation:
        return Explanation(published, (head, verdict, *(f"  {n}" for n in (*more, *notes))))

    if mod is not None and mod.hidden:
        by = f"by {mod.actor} at {_iso(mod.at)}" + (f": {mod.reason}" if mod.reason else "")
        return answer(False, f"not published: hidden by moderation ({by})",
                      f"in no output; 'feedsvc items unhide {item.id}' brings it back")
    if listed.backlog:
        return answer(False, f"not published: held back as {item.source}'s backlog (older items of its first "
                             "fetch beyond new_source_items, or of a bulk guid change)",
                      f"archived in {where}, never on the front page" if where
                      else "archived only, and output.archive is off: in no output")

    why: Hidden | None = None
    found = False
    position = 0
    pool: list[StoredItem] = []
    mine: StoredItem = stored
    for s, hidden in trace([*pinned, *window], config, now):
        if not found and _same(s, stored):
            found, why, position, mine = True, hidden, len(pool), s
        if hidden is None:
            pool.append(s)
    if not found:
        return answer(False, "not published: it is not among the items a front page may show")
    if why is not None:
        more = []
        if why.reason in ("max_age", "max_items") and where:
            more.append(f"archived in {where} (the archives hold every item the rules let through)")
        if why.key:
            more.append(f"decided by {why.key} in {config.path.name}")
        return answer(False, f"not published: {why.text}", *more)
    feeds = ", ".join(config.output.feed_files)
    if position >= config.output.max_items:
        return answer(False, f"not published: it passes every rule, but is number {position + 1} in the "
                             f"combined feed, below the newest output.max_items ({config.output.max_items})",
                      *([f"archived in {where}"] if where else []))
    more = []
    if mod is not None and mod.pinned_until and mod.pinned_until > now:
        more.append(f"pinned until {_iso(mod.pinned_until)} by {mod.pinned_by}: first in every feed that selects it")
    page = config.output.page_items
    more.append("on index.html" if position < page else f"not on index.html (it shows the newest {page}: "
                                                         "output.page_items)")
    for i, t in enumerate(config.outputs):
        carried = [s for s in pool if selects(t, s)][:t.max_items]
        if any(_same(s, stored) for s in carried):
            more.append(f"in topic feed {t.path}/ ({t.title})")
        else:
            more.append(f"not in topic feed {t.path}/: {_topic_miss(i, t, mine)}")
    if where:
        more.append(f"archived in {where}")
    return answer(True, f"published: {feeds}, number {position + 1} of {min(len(pool), config.output.max_items)}",
                  *more)
