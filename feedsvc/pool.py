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
from collections.abc import Iterable, Sequence
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from feedsvc.errors import ParseError
from feedsvc.model import Item, Origin, ParsedFeed, RawEntry

if TYPE_CHECKING:
    from feedsvc.normalise import SourceContext
    from feedsvc.outline import Outline

log = logging.getLogger(__name__)

POOL_MIN_SOURCES = 16            # a round with fewer remote sources parses in-process only
POOL_AFTER_SECONDS = 1.0         # worker processes start once the in-process parse thread has
                                 # worked this long (CPU seconds) in a round: starting one costs
                                 # ~0.3 s of CPU, more than a round that parses a few dozen
                                 # changed feeds saves. (Tried 0.1 s, so that a mutated round
                                 # of 1000 feeds uses the worker: a median 0.13 s, 0.06 s and
                                 # -0.02 s faster in three series of 12-16 alternating pairs of
                                 # ~1.9 s rounds; not kept, for ~25 MB more in such a round)
INLINE_SHARE = 0.3               # then this process parses up to this share of the jobs (when its
                                 # parse thread is idle and the worker has a job queued): it also
                                 # fetches, hashes and stores every feed, and a parse thread
                                 # holding the GIL delays the fetch threads. Measured, cold round
                                 # of 1000 feeds: 0.0 → 44 s, 0.3 → 35 s, 0.5 → 46 s


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
    bytes (``error`` says why).

    Entries seen before (``job.known``) are not normalised again, and where the document can be
    outlined (``outline.py``) not even parsed again: a changed feed costs its new entries."""
    from feedsvc.parse import parse_document

    shape = _outline(job)
    try:
        if shape is not None and job.known:
            out = _parse_new_entries(job, shape)
            if out is not None:
                return out
        parsed = parse_document(job.source, job.content, job.url, job.headers,
                                max_entries=job.max_entries, max_bytes=job.max_bytes)
    except ParseError as exc:
        return ParseOutput(error=exc.message)
    ctx = _context(job, parsed)
    if shape is not None and len(shape.spans) == len(parsed.entries):
        fps = span_fingerprints(shape, ctx, parsed.entries, range(len(parsed.entries)), job.now)
    else:
        fps = entry_fingerprints(parsed.entries, ctx, job.now)
    out = _normalise_fresh(job, ctx, parsed, list(zip(fps, parsed.entries)),
                           tuple((fp, job.known[fp]) for fp in fps if fp is not None and fp in job.known),
                           full=parsed.entries)
    assert out is not None        # given every entry, it never gives up
    return out


def _outline(job: ParseJob) -> Outline | None:
    from feedsvc.outline import outline
    from feedsvc.parse import unwrap

    try:
        shape = outline(unwrap(job.source, job.content, job.url, job.max_bytes))
    except ParseError:
        return None
    return shape if shape is not None and 0 < len(shape.spans) <= job.max_entries else None


def _context(job: ParseJob, parsed: ParsedFeed) -> SourceContext:
    from feedsvc.normalise import SourceContext

    origin = Origin(title=parsed.title, link=job.feed_url, id=parsed.id or parsed.link or job.feed_url,
                    home=parsed.link)
    base = job.url
    if not job.url.startswith(("http:", "https:")):   # a file: feed resolves against its own home page
        base = parsed.link or job.site_url
    return SourceContext(name=job.source, origin=origin, base_url=base, site_url=job.site_url)


def _parse_new_entries(job: ParseJob, shape: Outline) -> ParseOutput | None:
    """Parse only the entries not seen before: the feed-level elements alone first (they make the
    context every fingerprint depends on), then the document without the known entries. None
    when that cannot stand in for parsing the whole document."""
    from feedsvc.parse import parse_document

    def parse(content: bytes) -> ParsedFeed:
        return parse_document(job.source, content, job.url, job.headers,
                              max_entries=job.max_entries, max_bytes=job.max_bytes)

    n = len(shape.spans)
    try:
        feed = parse(shape.without(set(range(n))))
    except ParseError:   # e.g. a feed with no entries left is an error for a bozo document
        return None
    ctx = _context(job, feed)
    fps = span_fingerprints(shape, ctx, None, range(n), job.now)
    known = {i for i, fp in enumerate(fps) if fp is not None and fp in job.known}
    if not known:
        return None
    new = [i for i in range(n) if i not in known]
    try:     # every entry known (a feed that only touched a date of its own): the skeleton is it
        parsed = parse(shape.without(known)) if new else feed
    except ParseError:
        return None
    if len(parsed.entries) != len(new) or (parsed.title, parsed.link, parsed.id) != (feed.title, feed.link, feed.id):
        return None
    new_fps = span_fingerprints(shape, ctx, parsed.entries, new, job.now)
    return _normalise_fresh(job, ctx, parsed, list(zip(new_fps, parsed.entries)),
                            tuple((fps[i], job.known[fps[i]]) for i in sorted(known)),  # type: ignore[index]
                            full=None)


def _normalise_fresh(job: ParseJob, ctx: SourceContext, parsed: ParsedFeed,
                     entries: list[tuple[str | None, RawEntry]], skipped: tuple[tuple[str, Seen], ...],
                     full: Sequence[RawEntry] | None) -> ParseOutput | None:
    """Normalise the entries not known (fingerprint None or not in ``job.known``); the known ones
    are reported as ``skipped``. ``full``: every entry of the document, normalised instead when a
    new entry touches a skipped one's keys (None: the caller parses the whole document then)."""
    from feedsvc.normalise import normalise_all

    fresh = [(fp, e) for fp, e in entries if fp is None or fp not in job.known]
    items = normalise_all([e for _, e in fresh], ctx, job.now)
    if skipped:
        # decide looks at the whole batch (a repeated entry key, a dedup key shared by two
        # entries): when a new item touches a skipped entry's keys, normalise everything
        old_keys = {seen.key for _, seen in skipped}
        old_dkeys = {k for _, seen in skipped for k in seen.dedup_keys}
        if any(i.key in old_keys or not old_dkeys.isdisjoint(i.dedup_keys) for i in items) \
                or len(old_keys) < len(skipped):
            if full is None:
                return None
            fresh = entries
            items = normalise_all(full, ctx, job.now)
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


def span_fingerprints(shape: Outline, ctx: SourceContext, entries: Sequence[RawEntry] | None,
                      which: Iterable[int], now: datetime) -> list[str | None]:
    """Fingerprints of the outlined entries ``which`` from their bytes (and the source context,
    the document's feed-level context and the feedsvc version): the same bytes in the same
    context parse and normalise to the same Item. ``entries``: their parsed records, one per
    index, to give None for one dated in the future (normalised again until it is not)."""
    from feedsvc import __version__
    from feedsvc.normalise import FUTURE_SLACK

    base = hashlib.sha256(repr(("span", FINGERPRINT_VERSION, __version__, ctx)).encode("utf-8", "surrogatepass"))
    base.update(shape.context)
    limit = now + FUTURE_SLACK
    out: list[str | None] = []
    for n, i in enumerate(which):
        e = entries[n] if entries is not None else None
        if e is not None and any(d is not None and (d.tzinfo is None or d > limit) for d in (e.published, e.updated)):
            out.append(None)
            continue
        h = base.copy()
        h.update(shape.entry(i))
        out.append(h.hexdigest()[:32])
    return out


def worker_main() -> None:
    """A parse worker process: reads jobs from stdin and writes results to stdout, each a
    length-prefixed pickle, in order, until stdin ends (the parent closed it, or died: either
    way there is no one left to parse for)."""
    import pickle
    import signal
    import sys

    import feedsvc.fastparse  # noqa: F401  (the parse path, before the first job arrives)
    import feedsvc.normalise  # noqa: F401

    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle
    rd, wr = sys.stdin.buffer, sys.stdout.buffer
    try:
        wr.write(_READY)        # imports done: the parent sends jobs from now on
        wr.flush()
        while True:
            head = rd.read(8)
            if len(head) < 8:
                return
            job = pickle.loads(rd.read(int.from_bytes(head, "big")))
            try:
                result: ParseOutput | JobFailed = parse_and_normalise(job)
            except Exception as exc:  # a bug on one feed fails that feed, not the worker
                result = JobFailed(f"{type(exc).__name__}: {exc}")
            out = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
            wr.write(len(out).to_bytes(8, "big") + out)
            wr.flush()
    except BrokenPipeError:   # the parent is gone
        os._exit(0)


_READY = bytes(8)                # a worker's first message: an empty one, once it can parse


@dataclass(frozen=True, slots=True)
class JobFailed:
    """What a worker sends back for a job that raised (a bug): the parent raises it there."""
    message: str


class WorkerGone(Exception):
    """The worker process ended before answering (killed, out of memory)."""


class _Worker:
    """One parse worker process: a plain subprocess fed through its stdin and read through its
    stdout. (Not ``ProcessPoolExecutor``: besides the worker it starts multiprocessing's resource
    tracker, a third process holding ~9 MB for the rest of this process's life, for semaphores a
    single worker fed through one pipe does not need.) Jobs are answered in the order sent."""

    def __init__(self) -> None:
        import subprocess
        import sys

        import feedsvc

        env = dict(os.environ)
        src = os.path.dirname(os.path.dirname(os.path.abspath(feedsvc.__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen([sys.executable, "-c", "from feedsvc.pool import worker_main; worker_main()"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self._pending: list[Future[ParseOutput]] = []
        self.ready = threading.Event()       # the worker has imported the parse path (0.1-0.3 s)
        self._dead = False                   # the reader saw the worker's output end
        self._lock = threading.Lock()        # guards both (held briefly, never while blocked)
        self._send = threading.Lock()        # one job written at a time, in the order queued
        self._reader = threading.Thread(target=self._read, name="parse-worker-reader", daemon=True)
        self._reader.start()

    def submit(self, job: ParseJob) -> Future[ParseOutput]:
        import pickle

        data = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        fut: Future[ParseOutput] = Future()
        # writing blocks while the worker is busy, so only the send lock is held meanwhile: the
        # reader must stay free to take results (else the worker blocks on a full stdout pipe)
        with self._send:
            stdin = self.proc.stdin
            if stdin is None or stdin.closed or self.proc.poll() is not None:
                raise WorkerGone("the parse worker has stopped")
            with self._lock:
                if self._dead:              # else no one would ever answer this future
                    raise WorkerGone("the parse worker has stopped")
                self._pending.append(fut)
            try:
                stdin.write(len(data).to_bytes(8, "big") + data)
                stdin.flush()
            except (OSError, ValueError):
                pass                        # the worker is gone: the reader fails every pending job
        return fut

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _read(self) -> None:
        import pickle

        out = self.proc.stdout
        assert out is not None
        if out.read(8) != _READY:       # it ended before it could parse
            self._fail_pending()
            return
        self.ready.set()
        while True:
            head = out.read(8)
            body = out.read(int.from_bytes(head, "big")) if len(head) == 8 else b""
            try:
                result = pickle.loads(body) if body else None
            except Exception:  # a torn message: the worker died mid-write
                result = None
            if result is None:
                self._fail_pending()
                return
            with self._lock:
                fut = self._pending.pop(0)
            if isinstance(result, JobFailed):
                fut.set_exception(RuntimeError(f"in the parse worker: {result.message}"))
            else:
                fut.set_result(result)

    def _fail_pending(self) -> None:
        """The worker's output ended: every job sent and not answered fails, and so does any
        job sent from now on."""
        with self._lock:
            failed, self._pending, self._dead = self._pending, [], True
        for f in failed:
            f.set_exception(WorkerGone("the parse worker process ended"))

    def close(self) -> None:
        """Ask the worker to stop (end of its input) and wait for it; kill it if it hangs."""
        import subprocess

        with self._send:
            try:
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
            except OSError:
                pass
            if not self.ready.is_set() and not self._pending:
                self.proc.kill()            # still importing, never used: no need to wait
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


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
        self._procs: list[_Worker] = []
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
        except WorkerGone:
            # a worker died (killed, out of memory): parse here, and from now on only here
            log.warning("parse worker process died; parsing in-process from now on")
            with self._lock:
                self._broken = True
            return parse_and_normalise(job)

    def _parse_timed(self, job: ParseJob) -> ParseOutput:
        # CPU time of this thread, not wall time: in a busy round the parse thread also waits
        # for the GIL behind the fetch threads, which says nothing about how much parsing is left
        started = time.thread_time()
        try:
            return parse_and_normalise(job)
        finally:
            with self._lock:
                self._inline_seconds += time.thread_time() - started

    def _inline_done(self, _fut: Future[ParseOutput]) -> None:
        with self._lock:
            self._busy -= 1
            self._done_inline += 1

    def _worker_done(self, _fut: Future[ParseOutput] | None) -> None:
        with self._lock:
            self._queued -= 1

    def _submit(self, job: ParseJob) -> Future[ParseOutput] | None:
        worker: _Worker | None = None
        with self._lock:
            if self._closed or self._broken:
                return None
            # until the round proves big, parse here; then mostly in the workers, since this
            # process also fetches, hashes and stores every feed
            if not self._procs and self._inline_seconds >= self.after_seconds:
                try:
                    self._procs = [_Worker() for _ in range(self.workers)]
                except OSError as exc:
                    log.warning("cannot start a parse worker (%s); parsing in-process", exc)
                    self._broken = True
                    return None
                self._inline_at_start = self._done_inline
            # a worker gets jobs once it has started (0.1-0.3 s): a job sent sooner would wait for
            # it, and so would its fetch thread (after_seconds=0, every job to the workers, waits)
            ready = [w for w in self._procs if w.ready.is_set()]
            use_thread = not self._procs or (not ready and self.after_seconds > 0) or (
                self._busy == 0 and self._queued >= self.workers
                and self._done_inline - self._inline_at_start < INLINE_SHARE * self.in_workers)
            if use_thread:
                if self._thread is None:
                    self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse")
                self._busy += 1
                fut = self._thread.submit(self._parse_timed, job)
                fut.add_done_callback(self._inline_done)
                return fut
            self.in_workers += 1
            self._queued += 1
            worker = min(ready or self._procs, key=lambda w: w.pending)
        # outside the lock: the send blocks while the worker is busy, and the worker's answers
        # run _worker_done, which takes the lock
        try:
            fut = worker.submit(job)
        except WorkerGone:
            self._worker_done(None)
            raise_gone: Future[ParseOutput] = Future()
            raise_gone.set_exception(WorkerGone("the parse worker has stopped"))
            return raise_gone
        fut.add_done_callback(self._worker_done)
        return fut

    def end_round(self) -> None:
        """Stop the worker processes and the parse thread between rounds (they hold ~30 MB, and
        the publish that follows a round needs that memory more); the next round starts afresh."""
        with self._lock:
            procs, self._procs = self._procs, []
            thread, self._thread = self._thread, None
            self._busy = self._queued = self._done_inline = self._inline_at_start = 0
            self._inline_seconds = 0.0
        for w in procs:
            w.close()
        if thread is not None:
            thread.shutdown(wait=True, cancel_futures=True)

    @property
    def started(self) -> bool:
        return bool(self._procs)

    @property
    def worker_pids(self) -> list[int]:
        """The worker processes now running (for tests and benchmarks)."""
        return [w.proc.pid for w in self._procs if w.proc.poll() is None]

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.end_round()
