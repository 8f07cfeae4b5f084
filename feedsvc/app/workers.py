"""Parsing on every core: ``ParsePool`` runs ``parsing.incremental.parse_and_normalise`` in a
thread of this process for small rounds, in a worker process (a plain subprocess fed pickled jobs
through a pipe) once a round proves big.

Parsing and normalising a feed is pure CPU work (expat, nh3) and holds the GIL, so the fetch
threads of one process would take turns on one core. ``ParsePool`` parses in one thread of this
process until the round has shown it is a big one (a second of parsing), then in worker
processes (spawned then, so a round where nothing or little changed never starts one), while
this process goes on fetching and storing. Jobs and results are frozen records (bytes, strings,
``Item``s): nothing but the job crosses the process boundary.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from feedsvc.errors import WorkerGone
from feedsvc.parsing.incremental import ParseJob, ParseOutput, parse_and_normalise

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



def worker_main() -> None:
    """A parse worker process: reads jobs from stdin and writes results to stdout, each a
    length-prefixed pickle, in order, until stdin ends (the parent closed it, or died: either
    way there is no one left to parse for)."""
    import pickle
    import signal
    import sys

    import feedsvc.items.normalise  # noqa: F401
    import feedsvc.parsing.document  # noqa: F401  (the parse path, before the first job arrives)
    import feedsvc.parsing.fast  # noqa: F401

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
        self.proc = subprocess.Popen([sys.executable, "-c", "from feedsvc.app.workers import worker_main; worker_main()"],
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
