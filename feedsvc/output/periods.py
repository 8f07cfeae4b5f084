"""Archived feeds (RFC 5005 section 4): which period an item is archived in, the archive
documents of each feed and their links, and which of them a publish must write. Pure.

Every item that is not hidden is archived once, in the period of its date (UTC): ``monthly``
periods are calendar months (``2024-05``), ``weekly`` ones ISO weeks (``2024-W19``). Each feed —
the combined one (``archive/<period>.xml``) and each topic feed (``archive/<path>/<period>.xml``)
— has a document for every period that holds an item, linked oldest to newest (``prev-archive``,
``next-archive``); the subscription document links to the newest (``prev-archive``).

A document's digest is its period's items (how many, and the newest generation of a change to
one: content, date, owner, copies, hidden or not; ``with_items``), the documents before and after
it, and for the newest one also everything else the outputs depend on (the config, the feeds'
titles). A publish
writes only the documents whose digest changed or whose file is gone: a completed period is
written once and again only when an item in it changes (or a period next to it appears); a
changed curation rule reaches completed periods with ``feedsvc publish --archives`` (``rebuild``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
ARCHIVE_DIR = "archive"


@dataclass(frozen=True, slots=True)
class Period:
    """One archive period: from ``start`` to before ``end`` (UTC)."""
    name: str                    # in the file name: 2024-05, 2024-W19
    label: str                   # for people: May 2024, week 19 of 2024
    start: datetime
    end: datetime


def period_of(t: datetime, mode: str) -> Period:
    """The ``mode`` ("monthly" or "weekly") period holding ``t``."""
    t = t.astimezone(timezone.utc)
    if mode == "monthly":
        start = datetime(t.year, t.month, 1, tzinfo=timezone.utc)
        end = datetime(t.year + (t.month == 12), t.month % 12 + 1, 1, tzinfo=timezone.utc)
        return Period(f"{t.year:04d}-{t.month:02d}", f"{MONTHS[t.month - 1]} {t.year}", start, end)
    if mode == "weekly":
        day = datetime(t.year, t.month, t.day, tzinfo=timezone.utc)
        start = day - timedelta(days=day.weekday())
        year, week, _ = start.isocalendar()
        return Period(f"{year:04d}-W{week:02d}", f"week {week} of {year} (from {start.day} {MONTHS[start.month - 1]})",
                      start, start + timedelta(days=7))
    raise ValueError(f"not an archive period: {mode!r}")


def feed_dir(prefix: str) -> str:
    """Where a feed's archive documents live: ``archive/`` for the combined feed (``prefix`` ""),
    ``archive/<path>/`` for a topic feed (``prefix`` "<path>/")."""
    return f"{ARCHIVE_DIR}/{prefix}"


@dataclass(frozen=True, slots=True)
class Doc:
    """One archive document of one feed."""
    path: str                    # under output.dir: archive/2024-05.xml
    feed: str                    # the feed's prefix: "" (combined) or "<topic path>/"
    period: Period
    prev: str | None             # the path of the document before it (None: the oldest)
    next: str | None             # after it (None: the newest)
    digest: str


@dataclass(frozen=True, slots=True)
class ArchiveView:
    """What the subscription documents and index.html show of the archives."""
    newest: Mapping[str, str] = field(default_factory=dict)   # feed prefix → path of its newest document
    listing: tuple[tuple[str, str], ...] = ()   # (label, path) of the combined feed's documents, newest first


@dataclass(frozen=True, slots=True)
class ArchivePlan:
    docs: tuple[Doc, ...]        # every document that should exist
    write: tuple[Doc, ...]       # those to render and write now (digest changed, file gone, rebuild)
    remove: tuple[str, ...]      # paths recorded before that no longer name a document
    view: ArchiveView

    def periods(self) -> list[Period]:
        """The periods of the documents to write, oldest first, each once."""
        seen: dict[str, Period] = {}
        for d in self.write:
            seen.setdefault(d.period.name, d.period)
        return sorted(seen.values(), key=lambda p: p.start)


def periods_between(first: datetime, last: datetime, mode: str) -> list[Period]:
    """Every ``mode`` period from the one holding ``first`` to the one holding ``last``, oldest first."""
    out = [period_of(first, mode)]
    while out[-1].end <= last:
        out.append(period_of(out[-1].end, mode))
    return out


def with_items(periods: Sequence[Period], digests: Sequence[tuple[int, int, int]]) -> list[tuple[Period, str]]:
    """The periods that hold an item, with the digest of their items: (how many, the sum of their
    handles, the newest generation of a change to one). Every item written or moved into a period
    carries a generation newer than any before, and an item leaving it changes the count, so the
    digest changes with the period's items (``Storage.archive_digests``)."""
    return [(p, f"{n}:{total}:{rev}") for p, (n, total, rev) in zip(periods, digests) if n]


def plan_archives(periods: Sequence[tuple[Period, str]], feeds: Sequence[str], recorded: Mapping[str, str],
                  exists: Callable[[str], bool], context: str, rebuild: bool = False) -> ArchivePlan:
    """The documents of every feed (``feeds``: their prefixes) for ``periods`` (``group``'s), and
    which to write: ``recorded`` holds the digests written before, ``exists`` tells whether a
    document's file is there, ``context`` is what the newest documents also depend on."""
    docs: list[Doc] = []
    newest: dict[str, str] = {}
    for feed in feeds:
        paths = [f"{feed_dir(feed)}{p.name}.xml" for p, _ in periods]
        for n, (p, items) in enumerate(periods):
            prev = paths[n - 1] if n else None
            nxt = paths[n + 1] if n + 1 < len(paths) else None
            extra = context if nxt is None else ""
            digest = hashlib.sha256(f"{items}\n{prev}\n{nxt}\n{extra}".encode()).hexdigest()
            docs.append(Doc(paths[n], feed, p, prev, nxt, digest))
        if paths:
            newest[feed] = paths[-1]
    write = tuple(d for d in docs if rebuild or recorded.get(d.path) != d.digest or not exists(d.path))
    wanted = {d.path for d in docs}
    listing = tuple((d.period.label, d.path) for d in reversed(docs) if d.feed == "")
    return ArchivePlan(docs=tuple(docs), write=write, remove=tuple(sorted(p for p in recorded if p not in wanted)),
                       view=ArchiveView(newest=newest, listing=listing))
