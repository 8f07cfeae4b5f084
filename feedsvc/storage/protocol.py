"""What the engine, the publisher and the CLI may ask of a store: ``Storage``, and the records
that cross it. Implementations: ``sqlite.SqliteStorage`` (the embedded default) and
``memory.MemoryStorage`` (a fake for unit tests); tests/test_storage_contract.py holds every
implementation to the same behaviour.

The methods are coarse and named for what the engine means. The store decides nothing: the pure
deciders (``items.decide``, ``items.source_state``, ``output.plan``) settle ids, dates, states
and whether to render; the store reads what they need and writes what they decided.

One source's refresh is one transaction (``write(source)``): its snapshot is read and its
decisions applied inside it, and no other writer (thread or process) changes the items it read
in between, so two sources never decide on a stale snapshot of a story they share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from feedsvc.items.decide import ItemRef, ItemWrite, Snapshot
from feedsvc.model import Seen, SourceState, StoredItem


class FileRecord(NamedTuple):
    """A local article file as the last scan saw it."""
    size: int
    mtime_ns: int
    key: str | None              # the entry key of its item; None when it was skipped (not an article)


@dataclass(frozen=True, slots=True)
class FileChanges:
    """What a scan of a local article directory changed."""
    set: Mapping[str, FileRecord] = field(default_factory=dict)   # relpath → its record now
    deleted: Sequence[str] = ()  # relpaths gone since the last scan


@dataclass(frozen=True, slots=True)
class SourceUpdate:
    """Everything one refresh of one source writes, decided before the store sees it."""
    state: SourceState           # the source's next state (``items.source_state.decide_source``)
    run: int = 0                 # the refresh run (stored on new items: see ``items.decide``)
    writes: Sequence[ItemWrite] = ()   # ``items.decide.resolve``'s output
    present: bool = False        # a feed: its items not carried by this fetch are "gone from the feed"
    kept: Sequence[tuple[ItemRef, bool]] = ()  # entries carried unchanged and not decided again:
                                               # (the item, whether the source owns it), as ``resolve`` gave them
    seen: Sequence[tuple[str, Seen]] | None = None   # the fetch's entry fingerprints (None: unchanged)
    files: FileChanges | None = None   # local articles: the scan's changes


@dataclass(frozen=True, slots=True)
class Counts:
    """What applying a ``SourceUpdate`` did, for the summary line."""
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class PublishRecord:
    """What the last publish rendered, so the next one can tell whether it may skip."""
    fingerprint: str             # digest of what the outputs depend on, store generation included
    selection: str               # digest of the items chosen for every output
    files: tuple[str, ...]       # files written (relative to output.dir)
    items: int                   # items in the combined feeds
    at: datetime | None = None   # when


@dataclass(frozen=True, slots=True)
class Moderation:
    """What an operator decided about one stored item (``feedsvc items``), and who, when, why."""
    hidden: bool = False         # left out of every output (the story: every copy of it)
    actor: str | None = None     # who hid it (or last unhid it): the OS user
    at: datetime | None = None   # when
    reason: str | None = None    # why, as they said it
    pinned_until: datetime | None = None   # kept at the top of the feeds until then
    pinned_by: str | None = None
    pinned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Listed:
    """A stored item as ``feedsvc items`` shows it."""
    ref: ItemRef                 # the store's handle on it, for ``moderate``
    stored: StoredItem
    backlog: bool = False        # held back from the front page: an older item of a new source
    moderation: Moderation | None = None


@dataclass(frozen=True, slots=True)
class Worker:
    """A process refreshing sources: its leases carry ``id``."""
    id: str                      # host:pid:random, unique per process start
    host: str
    pid: int


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker as the store knows it, for ``status``."""
    id: str
    host: str
    pid: int
    started: datetime
    heartbeat: datetime          # its last sign of life


@dataclass(frozen=True, slots=True)
class Claim:
    """Leases taken in one statement: ``names`` are held under ``token`` until released, written
    (a write carrying the token releases its source) or expired (unless renewed)."""
    token: str
    names: frozenset[str]


class SourceTransaction(Protocol):
    """One source's write transaction (see ``Storage.write``)."""

    def resolve(self, keys: Sequence[str]) -> dict[str, tuple[ItemRef, bool]]:
        """Entry keys of this source → (the item, whether the source owns it rather than a copy)."""
        ...

    def snapshot(self, own_keys: Sequence[str], match_keys: Sequence[str]) -> Snapshot:
        """What the store holds under these entry keys of this source (own items and copies) and
        under these match keys (any source's items): ``items.decide.lookups`` says which."""
        ...

    def remove(self, keys: Sequence[str]) -> int:
        """Delete this source's items (and copies) with these entry keys: deleted articles.
        Returns how many items."""
        ...

    def apply(self, update: SourceUpdate) -> Counts:
        """Write ``update`` (in this transaction)."""
        ...


class Storage(Protocol):
    """A store of items, source states and publish bookkeeping. Safe to share between the
    threads of one process; processes coordinate through the store (locks, transactions)."""

    shared: bool                 # several workers may use it at once (PostgreSQL)

    # ---- source state ----------------------------------------------------------------------

    def states(self, names: Sequence[str] | None = None) -> dict[str, SourceState]:
        """Every source's state the store knows (or those of ``names``), with its item count."""
        ...

    def leased(self) -> dict[str, str]:
        """Source name → the worker holding its lease (live or expired), for every leased source."""
        ...

    def state(self, name: str, kind: str = "feed", url: str | None = None) -> SourceState:
        """One source's state (a fresh one, of this kind and URL, when the store has none)."""
        ...

    def save_states(self, states: Sequence[SourceState], token: str | None = None) -> None:
        """Save these states in one transaction, each unless the store holds a later attempt for
        its source (another process refreshed it after these were taken): a deferred write never
        rolls a source's state back. Their leases under ``token`` are released."""
        ...

    def seen(self, source: str) -> dict[str, Seen]:
        """The entry fingerprints of the source's last parsed fetch."""
        ...

    def files(self, source: str) -> dict[str, FileRecord]:
        """The local article files of the source's last scan."""
        ...

    def register(self, sources: Sequence[tuple[str, str, str | None]]) -> None:
        """Make sure these sources (name, kind, url) have a row to claim (new ones due at once)."""
        ...

    def claim(self, worker: Worker, names: Sequence[str], now: datetime, lease: float,
              due_only: bool = False, limit: int | None = None, take_from: str | None = None) -> Claim:
        """Lease those of ``names`` no live lease holds, for ``lease`` seconds, in one statement
        (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: inside ``BEGIN IMMEDIATE``). ``due_only``:
        only sources due by ``next_due`` and not gone or backing off (the daemon's tick), at most
        ``limit``. ``take_from``: also sources leased by that owner (a dead process of this host)."""
        ...

    def renew(self, tokens: Sequence[str], now: datetime, lease: float) -> None:
        """Extend every lease held under these tokens (while their refreshes run)."""
        ...

    def release(self, tokens: Sequence[str]) -> None:
        """Drop every lease still held under these tokens."""
        ...

    def host_pauses(self) -> dict[str, tuple[datetime, str | None]]:
        """Host groups paused (after a 429 / 503): group → (until, why)."""
        ...

    def pause_host(self, group: str, until: datetime, reason: str) -> None:
        """Pause a host group until ``until`` (a later pause wins)."""
        ...

    def reserve_start(self, group: str, now: datetime, spacing: float) -> float:
        """Take the group's next start, ``spacing`` after the last one taken by any worker:
        the seconds to wait before it (a shared store's politeness)."""
        ...

    def heartbeat(self, worker: Worker, now: datetime) -> None:
        """Record that ``worker`` is alive (``status`` lists the live workers)."""
        ...

    def forget_worker(self, worker: Worker) -> None:
        ...

    def workers(self) -> list[WorkerInfo]:
        ...

    def peek(self, source: str, own_keys: Sequence[str], match_keys: Sequence[str]) -> Snapshot:
        """What a write of ``source`` would see, read without a transaction (a dry run)."""
        ...

    def write(self, source: str, token: str | None = None) -> AbstractContextManager[SourceTransaction]:
        """One transaction for one source's refresh: committed when the block ends, rolled back
        if it raises. With ``token``, refused (``LeaseLost``) unless the source's lease still has
        it; the write then releases the lease."""
        ...

    def next_run(self) -> int:
        """A new refresh-run number (sources of one run compete by config order for a story)."""
        ...

    # ---- items, for publishing and status ---------------------------------------------------

    def newest(self, limit: int) -> list[StoredItem]:
        """The newest ``limit`` items a front page may show (neither hidden nor a new source's
        backlog), newest first, ties broken by id."""
        ...

    def pinned(self, now: datetime) -> list[StoredItem]:
        """The items pinned until after ``now`` and not hidden, newest first."""
        ...

    def archive_span(self) -> tuple[datetime, datetime] | None:
        """The dates of the oldest and the newest item not hidden (backlog included); None: none."""
        ...

    def archive_digests(self, spans: Sequence[tuple[datetime, datetime]]) -> list[tuple[int, int, int]]:
        """For each span (from, before): the items not hidden dated in it (backlog included), as
        (how many, the sum of their handles, the newest generation of a change to one of them or
        to its copies, or to its moderation): what an archive period's digest is made of."""
        ...

    def between(self, start: datetime, end: datetime) -> list[StoredItem]:
        """The items not hidden (backlog included) dated from ``start`` to before ``end``, newest
        first, ties broken by id: one archive period."""
        ...

    def listing(self, source: str | None = None, hidden: bool = False) -> list[Listed]:
        """The stored items (of ``source``, or all) that are not hidden, newest first; with
        ``hidden``, the hidden ones instead."""
        ...

    def find(self, ids: Sequence[str], links: Sequence[str], keys: Sequence[str]) -> list[Listed]:
        """The stories with one of these published ids, own or copies' links, or match keys."""
        ...

    def moderate(self, ref: ItemRef, action: str, actor: str, at: datetime, reason: str | None = None,
                 until: datetime | None = None) -> bool:
        """Record an operator's ``action`` on a story: "hide", "unhide", "pin" (``until``) or
        "unpin", with who, when and why; the story's row follows it through updates, guid changes,
        takeovers and copies. False when the item is gone."""
        ...

    def backlog(self) -> dict[str, int]:
        """Per source, how many of its items are held back from the front page."""
        ...

    def archives(self) -> dict[str, str]:
        """The archive documents the last publishes wrote: path (under output.dir) → digest."""
        ...

    def record_archives(self, written: Mapping[str, str], removed: Sequence[str]) -> None:
        """Remember the digests of archive documents written, forget those removed."""
        ...

    def items_of(self, source: str) -> list[StoredItem]:
        ...

    def pages(self, sources: Sequence[str]) -> list[StoredItem]:
        """The items of these sources that carry a local article page, newest first."""
        ...

    def count_items(self, source: str | None = None) -> int:
        ...

    def feed_meta(self) -> dict[str, tuple[str | None, str | None]]:
        """Every source's feed title and home page (what publishing shows of it)."""
        ...

    def local_sources(self) -> set[str]:
        """Names of the local-article sources the store has state for (configured or not)."""
        ...

    def generation(self) -> int:
        """A number that changes whenever the stored items change."""
        ...

    def purge(self, now: datetime, max_age: float, per_source: int) -> int:
        """Forget items gone from their feed that are older than ``max_age`` seconds or beyond
        the newest ``per_source`` of their source. Returns how many."""
        ...

    # ---- publishing ----------------------------------------------------------------------------

    def publisher(self, timeout: float) -> AbstractContextManager[None]:
        """Hold the right to publish: one publisher at a time. Raises ``LockTimeout``."""
        ...

    def last_publish(self) -> PublishRecord | None:
        ...

    def record_publish(self, record: PublishRecord) -> None:
        ...

    # ---- lifecycle -----------------------------------------------------------------------------

    def ping(self) -> None:
        """Answer a query on a connection of its own (a health check); ``StoreError`` if it cannot."""
        ...

    def release_idle(self) -> None:
        """Let go of what threads that have ended held (their connections)."""
        ...

    def close(self) -> None:
        ...

