"""Parsing on every core: feed bytes in, normalised items out, as plain records.

Parsing and normalising a feed is pure CPU work (expat, nh3) and holds the GIL, so the fetch
threads of one process would take turns on one core. ``ParsePool`` parses in one thread of this
process until the round has shown it is a big one (a second of parsing), then in worker
processes (spawned then, so a round where nothing or little changed never starts one), while
this process goes on fetching and storing. Jobs and results are frozen records (bytes, strings,
``Item``s): nothing but the job crosses the process boundary.

``parse_and_normalise`` is the job itself, pure: the same function runs inline or in a worker.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Sequence
import logging
from concurrent.futures import BrokenExecutor, Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from feedsvc.errors import ParseError
from feedsvc.model import Item, Origin, RawEntry

if TYPE_CHECKING:
    from feedsvc.normalise import SourceContext

log = logging.getLogger(__name__)

POOL_MIN_SOURCES = 16            # a round with fewer remote sources parses in-process only
POOL_AFTER_SECONDS = 1.0         # worker processes start once the in-process parse thread has
                                 # worked this long in a round: starting one costs ~0.3 s of CPU,
                                 # more than a round that parses a few dozen feeds saves
INLINE_SHARE = 0.0               # then this process parses this share of the jobs: it also
                                 # fetches, hashes and stores every feed (~40% of a feed's cost),
                                 # and a parse thread holding the GIL delays every fetch thread
                                 # (measured: 0.2 was 10-15% slower than 0)


@dataclass(frozen=True, slots=True)
class Seen:
    """What the store remembers of an entry normalised before."""
    key: str                     # its entry key
    dedup_keys: tuple[str, ...]  # its dedup keys (before decide drops the ambiguous ones)


@dataclass(frozen=True, slots=True)
class ParseJob:
    """One fetched feed to parse and normalise."""
    source: str                  # source name
    content: bytes               # the body as fetched
    url: str                     # the URL finally fetched (base for relative links)
    feed_url: str                # the configured URL (the items' origin link)
    site_url: str                # config site.url (base of a file: feed without a home page)
    now: datetime                # the round's clock
    headers: dict[str, str] = field(default_factory=dict)
    max_entries: int = 500
    max_bytes: int = 10 * 1024 * 1024
    # entries normalised before, by fingerprint (see ``entry_fingerprints``): their entry key and
    # dedup keys. An entry whose fingerprint is here is not normalised again (it would give the
    # same Item), so a feed that gained one entry costs one entry's sanitising, not fifty.
    known: dict[str, Seen] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ParseOutput:
    """A parsed and normalised feed, or the reason it is not one."""
    items: tuple[Item, ...] = ()
    title: str | None = None
    link: str | None = None      # the feed's home page
    warning: str | None = None   # a recoverable parse problem
    ttl_seconds: int | None = None
    error: str | None = None     # ParseError message: the bytes yield no feed
    fingerprints: tuple[str, ...] = ()   # of ``items``, one each
    skipped: tuple[tuple[str, Seen], ...] = ()   # known entries not normalised again: (fp, seen)


def parse_and_normalise(job: ParseJob) -> ParseOutput:
    """Parse (fast path, else feedparser) and normalise one feed. Pure; raises nothing for bad
    bytes (``error`` says why)."""
    from feedsvc.normalise import SourceContext, normalise_all
    from feedsvc.parse import parse_document

    try:
        parsed = parse_document(job.source, job.content, job.url, job.headers,
                                max_entries=job.max_entries, max_bytes=job.max_bytes)
    except ParseError as exc:
        return ParseOutput(error=exc.message)
    origin = Origin(title=parsed.title, link=job.feed_url, id=parsed.id or parsed.link or job.feed_url,
                    home=parsed.link)
    base = job.url
    if not job.url.startswith(("http:", "https:")):   # a file: feed resolves against its own home page
        base = parsed.link or job.site_url
    ctx = SourceContext(name=job.source, origin=origin, base_url=base, site_url=job.site_url)
    fps = entry_fingerprints(parsed.entries, ctx, job.now)
    fresh = [(fp, e) for fp, e in zip(fps, parsed.entries) if fp is None or fp not in job.known]
    skipped = tuple((fp, job.known[fp]) for fp in fps if fp is not None and fp in job.known)
    items = normalise_all([e for _, e in fresh], ctx, job.now)
    if skipped:
        # decide looks at the whole batch (a repeated entry key, a dedup key shared by two
        # entries): when a new item touches a skipped entry's keys, normalise everything
        old_keys = {seen.key for _, seen in skipped}
        old_dkeys = {k for _, seen in skipped for k in seen.dedup_keys}
        if any(i.key in old_keys or not old_dkeys.isdisjoint(i.dedup_keys) for i in items) \
                or len(old_keys) < len(skipped):
            fresh = list(zip(fps, parsed.entries))
            items = normalise_all(parsed.entries, ctx, job.now)
            skipped = ()
    return ParseOutput(items=tuple(items), title=parsed.title, link=parsed.link,
                       warning=parsed.warning, ttl_seconds=parsed.ttl_seconds,
                       fingerprints=tuple(fp or "" for fp, _ in fresh), skipped=skipped)


FINGERPRINT_VERSION = "1"        # bump when normalise's output for the same input changes


def entry_fingerprints(entries: Sequence[RawEntry], ctx: SourceContext, now: datetime) -> list[str | None]:
    """A hash of everything ``normalise`` reads for each entry (the raw entry, the source context,
    the feedsvc version): equal fingerprints give equal Items. None for an entry whose result
    also depends on ``now`` (a date in the future, dropped until it is not)."""
    from feedsvc import __version__
    from feedsvc.normalise import FUTURE_SLACK

    base = hashlib.sha256(repr((FINGERPRINT_VERSION, __version__, ctx)).encode("utf-8", "surrogatepass"))
    limit = now + FUTURE_SLACK
    out: list[str | None] = []
    for e in entries:
        if any(d is not None and (d.tzinfo is None or d > limit) for d in (e.published, e.updated)):
            out.append(None)
            continue
        h = base.copy()
        h.update(repr(e).encode("utf-8", "surrogatepass"))
        out.append(h.hexdigest()[:32])
    return out


def _worker_init(parent: int) -> None:
    """In a new worker: leave with the parent (a parent killed with SIGKILL cannot stop its
    workers, and an orphan would wait for jobs forever), and import the parse path while the
    first fetches are still in flight."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    import feedsvc.fastparse  # noqa: F401
    import feedsvc.normalise  # noqa: F401


def default_workers() -> int:
    """Worker processes besides the calling process: one fewer than the usable cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(0, cores - 1)


class ParsePool:
    """Runs ``parse_and_normalise`` in this process, or in up to ``workers`` processes.

    ``workers=0``: always in the calling thread. Otherwise jobs go to one parse thread of this
    process (one thread, so its allocations stay in one malloc arena instead of spreading over
    every fetch thread's) and, once that thread has worked ``after_seconds`` in the round (a
    big round), to the worker processes. Thread-safe; ``close`` stops the workers."""

    def __init__(self, workers: int = 0, after_seconds: float = POOL_AFTER_SECONDS) -> None:
        self.workers = workers
        self.after_seconds = after_seconds
        self._busy = 0               # jobs queued or running on the parse thread
        self._done_inline = 0
        self._inline_seconds = 0.0   # time the parse thread spent on jobs this round
        self._inline_at_start = 0    # jobs done in-process when the workers started
        self._queued = 0             # jobs queued or running in the worker processes
        self._lock = threading.Lock()
        self._thread: ThreadPoolExecutor | None = None
        self._pool: Executor | None = None
        self._closed = False
        self._broken = False
        self.in_workers = 0          # jobs sent to the worker processes (for benchmarks)

    def run(self, job: ParseJob) -> ParseOutput:
        if self.workers <= 0:
            return parse_and_normalise(job)
        fut = self._submit(job)
        if fut is None:
            return parse_and_normalise(job)
        try:
            return fut.result()
        except BrokenExecutor:
            # a worker died (killed, out of memory): parse here, and from now on only here
            log.warning("parse worker process died; parsing in-process from now on")
            with self._lock:
                self._broken = True
            return parse_and_normalise(job)

    def _parse_timed(self, job: ParseJob) -> ParseOutput:
        started = time.perf_counter()
        try:
            return parse_and_normalise(job)
        finally:
            with self._lock:
                self._inline_seconds += time.perf_counter() - started

    def _inline_done(self, _fut: Future[ParseOutput]) -> None:
        with self._lock:
            self._busy -= 1
            self._done_inline += 1

    def _worker_done(self, _fut: Future[ParseOutput]) -> None:
        with self._lock:
            self._queued -= 1

    def _submit(self, job: ParseJob) -> Future[ParseOutput] | None:
        with self._lock:
            if self._closed or self._broken:
                return None
            # until the round proves big, parse here; then mostly in the workers, since this
            # process also fetches, hashes and stores every feed
            use_thread = (self._pool is None and self._inline_seconds < self.after_seconds) or (
                self._busy == 0 and self._queued >= self.workers
                and self._done_inline - self._inline_at_start < INLINE_SHARE * self.in_workers)
            if use_thread:
                if self._thread is None:
                    self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse")
                self._busy += 1
                fut = self._thread.submit(self._parse_timed, job)
                done = self._inline_done
            else:
                if self._pool is None:
                    import multiprocessing
                    from concurrent.futures import ProcessPoolExecutor

                    # spawn, not fork: the fetch threads hold locks a forked child would inherit
                    self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                                     mp_context=multiprocessing.get_context("spawn"),
                                                     initializer=_worker_init,
                                                     initargs=(os.getpid(),))
                    self._inline_at_start = self._done_inline
                self.in_workers += 1
                self._queued += 1
                fut = self._pool.submit(parse_and_normalise, job)
                done = self._worker_done
        # outside the lock: a future already done runs the callback at once, and it takes the lock
        fut.add_done_callback(done)
        return fut

    @property
    def started(self) -> bool:
        return self._pool is not None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            thread, self._thread = self._thread, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if thread is not None:
            thread.shutdown(wait=True, cancel_futures=True)
