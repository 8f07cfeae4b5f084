"""``feedsvc run``: the scheduled daemon. APScheduler drives a tick; the engine does the rounds.

- Every ``TICK`` seconds the tick claims, in one statement, the sources the store says are due
  (``next_due`` passed, not gone, not backing off, not leased by any worker) and hands them to
  ``Engine.run_round`` in a thread of their own: the same round as ``feedsvc refresh`` (parse
  workers for a big round, one state read, deferred writes of unchanged sources, memory
  trimmed). Each source's write sets its next due time (its interval, raised to the feed's
  <ttl>, plus jitter; or the end of its back-off) and releases its lease. The schedule lives in
  the store, so it survives restarts and moves with a source between workers; any number of
  ``feedsvc run`` processes on one store share the work: each pulls at most ``BATCH`` due
  sources per tick and keeps at most two batches in flight, so workers started together split
  the sources instead of the first one claiming them all.
- A round that changed items asks for a publish; requests are coalesced into one publish job
  shortly after, so a burst of sources causes one write; a request made while a publish runs
  is served right after it. While sources are still in flight, publishes are spaced by
  ``PUBLISH_SPACING`` times the last one's duration, so rendering stays a small share of the
  CPU, and by ``PUBLISH_SPACING_MAX`` while a whole batch or more is (a first round: a render in
  the middle of it adds its memory to the round's); once this worker's rounds end, the pending
  publish runs ``PUBLISH_DELAY`` after.
- SIGTERM/SIGINT: stop scheduling, give in-flight rounds up to ``STOP_GRACE`` seconds, exit 0 (the
  store's transactions and the atomic output writes make abandoning a round safe).
- SIGHUP: re-read the config; apply it if valid (a new engine: sources added/removed/rescheduled,
  site and output settings; the old engine is closed once its rounds end), else log why and keep
  the old one.
- systemd: ``READY=1``, ``STATUS=``, ``WATCHDOG=1`` (only while the tick runs), ``STOPPING=1``
  when ``NOTIFY_SOCKET`` is set.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from feedsvc.app import memory
from feedsvc.app.engine import Engine
from feedsvc.app.leases import owner_is_dead
from feedsvc.config import Config, Source, load_config
from feedsvc.errors import ConfigError, FeedsvcError, LockTimeout
from feedsvc.model import SourceOutcome
from feedsvc.storage import Claim

if TYPE_CHECKING:
    from feedsvc.app.metrics import Metrics, MetricsServer
    from feedsvc.app.serve import StaticServer  # imported in run(), only when serving

log = logging.getLogger("feedsvc.daemon")

STOP_GRACE = 8.0                 # seconds in-flight rounds get after SIGTERM (systemd allows 10+)
PUBLISH_DELAY = 1.0              # coalescing window for publish requests
PUBLISH_SPACING = 10.0           # while sources are in flight: publishes at most ~1/10 of the time
PUBLISH_SPACING_MAX = 30.0       # … and with a backlog in flight, every 30 s
TICK = 0.5                       # seconds between claims of the sources due
HEARTBEAT = 5.0                  # seconds between a worker's signs of life in the store
BATCH = 64                       # sources claimed at most per tick: a worker pulls work as it has
                                 # room (two batches in flight), so workers that start together
                                 # share the sources instead of the first claiming them all
LIVE_AFTER = 30.0                # a worker silent this long is not counted among the live ones
WATCHDOG_STALE = 30.0            # no WATCHDOG=1 once the tick has not run for this long


class Notifier:
    """The systemd notify protocol over $NOTIFY_SOCKET; does nothing when it is not set."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self.sock: socket.socket | None = None
        if self.address:
            addr = "\0" + self.address[1:] if self.address.startswith("@") else self.address
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self.sock.connect(addr)
            except OSError as exc:
                log.warning("cannot reach NOTIFY_SOCKET %s: %s", self.address, exc)
                self.sock = None

    @property
    def enabled(self) -> bool:
        return self.sock is not None

    def notify(self, message: str) -> None:
        if self.sock is None:
            return
        try:
            self.sock.send(message.encode("utf-8"))
        except OSError as exc:
            log.debug("notify failed: %s", exc)

    def watchdog_interval(self) -> float | None:
        """Half the watchdog timeout systemd asked for, or None."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not self.enabled or not usec or not usec.isdigit():
            return None
        if pid and pid.isdigit() and int(pid) != os.getpid():
            return None
        return max(0.5, int(usec) / 1e6 / 2)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _describe(o: SourceOutcome) -> str:
    if o.status == "error":
        return f"{o.name}: error: {o.error} ({o.seconds:.2f}s)"
    if o.status == "not-modified":
        return f"{o.name}: not modified ({o.seconds:.2f}s)"
    extra = f", {o.duplicates} duplicates" if o.duplicates else ""
    return (f"{o.name}: ok, {o.new} new, {o.updated} updated, {o.unchanged} unchanged{extra} "
            f"({o.seconds:.2f}s)")


class Daemon:
    def __init__(self, config: Config, config_path: Path, serve: tuple[str, int] | None = None,
                 notifier: Notifier | None = None,
                 engine_factory: Callable[[Config], Engine] = Engine,
                 metrics: tuple[str, int] | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.make_engine = engine_factory
        self.engine = engine_factory(config)
        self.clock = self.engine.clock
        self.notifier = notifier or Notifier()
        self.serve_addr = serve
        self.server: StaticServer | None = None
        self.stop_event = threading.Event()
        self.reload_event = threading.Event()
        self._lock = threading.Lock()
        self._publish_pending = False            # a publish job is scheduled
        self._publishing = False                 # a publish job is running
        self._publish_again = False              # asked for while one was running
        self._publish_at = 0.0                   # monotonic time the pending publish runs at
        self._publish_took = 0.0                 # seconds the last publish took
        self._publish_ended = -PUBLISH_SPACING_MAX   # monotonic time it ended
        self._inflight = 0                       # sources claimed by this worker, not yet done
        self._last: dict[str, SourceOutcome] = {}
        self._rounds: list[threading.Thread] = []
        self._last_tick = time.monotonic()
        self._last_beat = -HEARTBEAT             # heartbeat at the first tick
        self._live = 1                           # live workers on the store (this one included)
        self._registered = False                 # the config's sources have rows to claim
        self._down, self._down_for, self._retry_at = False, 0.0, 0.0
        self._ticked = False                     # the first tick has run (/readyz)
        self.metrics_addr = metrics
        self.metrics: Metrics | None = None
        self.metrics_server: MetricsServer | None = None
        self._ping: tuple[float, bool, str] = (0.0, False, "")
        self._published_at: datetime | None = None
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=timezone.utc)

    # ---- the schedule: due sources claimed from the store --------------------------------------

    def tick(self) -> list[Source]:
        """Claim the sources due now (per the store, not leased by any worker) and start a round
        of them; returns them. Every ``HEARTBEAT`` seconds also say this worker is alive, count
        the live workers (with several, each claims its share) and free the leases of workers of
        this host that were killed."""
        self._last_tick = time.monotonic()
        if self.stop_event.is_set() or time.monotonic() < self._retry_at:
            return []
        engine, config = self.engine, self.config
        now = self.clock()
        try:
            if not self._registered:
                engine.register(config.sources)
                self._registered = True
            if time.monotonic() - self._last_beat >= HEARTBEAT:
                self._beat(engine, now)
            names = [s.name for s in config.sources]
            batch = max(BATCH, config.fetch.workers * 8)
            with self._lock:
                room = 2 * batch - self._inflight
            if room <= 0:
                return []
            limit = min(batch, room)
            if self._live > 1:
                limit = min(limit, max(config.fetch.workers, -(-len(names) // self._live)))
            claim = engine.storage.claim(engine.worker, names, now, engine.lease, due_only=True, limit=limit)
        except FeedsvcError as exc:
            self._store_down(exc)
            return []
        self._store_up()
        self._ticked = True
        if not claim.names:
            return []
        due = [s for s in config.sources if s.name in claim.names]
        t = threading.Thread(target=self._round, args=(engine, due, claim), name="round", daemon=True)
        with self._lock:
            self._rounds = [r for r in self._rounds if r.is_alive()] + [t]
            self._inflight += len(due)
        t.start()
        return due

    def _beat(self, engine: Engine, now: datetime) -> None:
        self._last_beat = time.monotonic()
        engine.storage.heartbeat(engine.worker, now)
        live = [w for w in engine.storage.workers() if (now - w.heartbeat).total_seconds() < LIVE_AFTER]
        self._live = max(1, len(live))
        held: dict[str, list[str]] = {}
        for name, owner in engine.storage.leased().items():
            if owner != engine.worker.id:
                held.setdefault(owner, []).append(name)
        for owner, names in held.items():
            if owner_is_dead(owner, engine.worker.host):
                taken = engine.storage.claim(engine.worker, names, now, engine.lease, take_from=owner)
                engine.storage.release([taken.token])
                log.info("freed %d source%s held by %s, a worker of this host that is gone",
                         len(taken.names), "s" if len(taken.names) != 1 else "", owner)

    def _store_down(self, exc: FeedsvcError) -> None:
        """The store is unreachable (a database restart, the network): say so once, then retry
        with back-off (1, 2, 4 … 30 s) without losing anything; the watchdog keeps being fed."""
        self._down_for = min(30.0, max(1.0, self._down_for * 2))
        self._retry_at = time.monotonic() + self._down_for
        if not self._down:
            log.error("the store is unreachable, retrying: %s", exc)
            self._down = True
        else:
            log.debug("the store is still unreachable: %s", exc)

    def _store_up(self) -> None:
        if self._down:
            log.info("the store is reachable again")
        self._down, self._down_for, self._retry_at = False, 0.0, 0.0

    def _round(self, engine: Engine, due: list[Source], claim: Claim) -> None:
        try:
            engine.run_round(due, force=False, on_done=self._done, claim=claim)
        except Exception as exc:   # the store unreachable mid-round, or a bug: its leases expire
            log.error("round failed: %s", exc)
            log.debug("traceback", exc_info=True)
        finally:
            with self._lock:
                self._inflight -= len(due)
                idle = self._inflight == 0
            if idle:
                self._publish_sooner()

    def _done(self, outcome: SourceOutcome) -> None:
        name = outcome.name
        if outcome.status != "skipped":
            previous = self._last.get(name)
            level = logging.INFO
            if outcome.status == "error":
                # each failure is logged once per state change, not once per retry
                level = logging.DEBUG if previous is not None and previous.error == outcome.error else logging.WARNING
            elif previous is not None and previous.status == "error":
                log.info("%s: recovered", name)
            log.log(level, "%s", _describe(outcome))
            self._last[name] = outcome
        if outcome.changed or (self.config.report.dir is not None and outcome.status == "error"):
            self.request_publish()          # a new error is news for the operator's report too

    # ---- health and metrics (--metrics) -------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        """(ok, why): the scheduler ticked within two ticks and the store answered a query."""
        age = time.monotonic() - self._last_tick
        if age > 2 * TICK + 1.0:
            return False, f"the scheduler has not ticked for {age:.1f}s"
        last, ok, why = self._ping
        if time.monotonic() - last > 1.0:        # at most one query a second, whoever asks
            try:
                self.engine.storage.ping()
                ok, why = True, "ok"
            except FeedsvcError as exc:
                ok, why = False, f"the store does not answer: {exc}"
            self._ping = (time.monotonic(), ok, why)
        return ok, why

    def _start_metrics(self) -> None:
        from feedsvc.app.metrics import Metrics, MetricsServer

        assert self.metrics_addr is not None
        self.metrics = Metrics(lambda: self.engine.storage)
        self.engine.metrics = self.metrics
        self.metrics_server = MetricsServer(self.metrics, *self.metrics_addr, health=self.health,
                                            ready=lambda: self._ticked)
        self.metrics_server.start()
        log.info("metrics at http://%s:%d/metrics (and /healthz, /readyz)", self.metrics_addr[0],
                 self.metrics_server.port)

    def request_publish(self) -> None:
        """Publish within PUBLISH_DELAY seconds (later while sources are in flight, see the module
        docstring). Requests are coalesced: one job is scheduled at a time, and a request made
        while a publish runs is kept and served once it ends (the scheduler would skip a second
        instance, and the request would be lost)."""
        with self._lock:
            if self.stop_event.is_set():
                return
            if self._publishing:
                self._publish_again = True
                return
            if self._publish_pending:
                return
            self._publish_pending = True
            now = time.monotonic()
            at = now + PUBLISH_DELAY
            if self._inflight >= BATCH:        # a backlog (a first round): every PUBLISH_SPACING_MAX
                at = max(at, self._publish_ended + PUBLISH_SPACING_MAX)
            elif self._inflight > 0:
                spacing = min(PUBLISH_SPACING_MAX, max(PUBLISH_DELAY, PUBLISH_SPACING * self._publish_took))
                at = max(at, self._publish_ended + spacing)
            self._publish_at = at
        self._schedule_publish(at - now)

    def _schedule_publish(self, delay: float) -> None:
        when = datetime.now(timezone.utc) + timedelta(seconds=delay)
        self.scheduler.add_job(self._publish_job, "date", run_date=when, id="publish",
                               replace_existing=True)

    def _publish_sooner(self) -> None:
        """This worker's rounds have ended: a publish held back while they ran goes out now."""
        with self._lock:
            now = time.monotonic()
            if not self._publish_pending or self.stop_event.is_set() or self._publish_at <= now + PUBLISH_DELAY:
                return
            self._publish_at = now + PUBLISH_DELAY
        self._schedule_publish(PUBLISH_DELAY)

    def _publish_job(self) -> None:
        with self._lock:
            self._publish_pending, self._publishing = False, True
        started = time.monotonic()
        try:
            self._publish_once()
        finally:
            with self._lock:
                self._publishing, again = False, self._publish_again
                self._publish_again = False
                self._publish_ended = time.monotonic()
                self._publish_took = self._publish_ended - started
            if again:
                self.request_publish()

    def _publish_once(self) -> None:
        started = time.monotonic()
        memory.trim()       # what the rounds in flight freed, back before the render allocates its own
        try:
            result = self.engine.publish(wait=False)
        except LockTimeout:
            # another worker (or a forced refresh) is publishing: try again shortly, so what this
            # worker stored is published even if that publish read the store before it
            log.debug("another process is publishing; trying again shortly")
            with self._lock:
                self._publish_again = True
            return
        except FeedsvcError as exc:
            log.error("publish failed: %s (the previous files stay in place)", exc)
            return
        self._published_at = self.clock()
        if result.written:
            log.info("published %d items (%s) in %.2fs", result.items, ", ".join(result.written[:5]) +
                     (" …" if len(result.written) > 5 else ""), time.monotonic() - started)
        self._status()

    def _status(self) -> None:
        outcomes = list(self._last.values())
        failing = sum(1 for o in outcomes if o.status == "error")
        last = (f"last publish {self._published_at.strftime('%H:%M:%S')} UTC" if self._published_at
                else "no publish yet")
        self.notifier.notify(f"STATUS={len(self.config.sources)} sources, {failing} failing; {last}")

    # ---- config reload -------------------------------------------------------------------------

    def reload(self) -> None:
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload: config not applied, still running on the previous one: %s", exc)
            return
        old = {s.name: s for s in self.config.sources}
        fresh = {s.name: s for s in new.sources}
        old_engine = self.engine
        with self._lock:
            self.config = new
            self.engine = self.make_engine(new)     # new fetch limits, site, output
            self.engine.metrics = self.metrics
            self._registered = False                # new sources get their rows at the next tick
            for name in old.keys() - fresh.keys():
                log.info("reload: source %s removed", name)
            for name, src in fresh.items():
                if name not in old:
                    log.info("reload: source %s added", name)
                elif src != old[name]:
                    log.info("reload: source %s changed", name)
        # the old engine's rounds finish on it; then it is closed
        threading.Thread(target=self._retire, args=(old_engine,), name="retire", daemon=True).start()
        log.info("reload: config applied (%d sources)", len(new.sources))
        self.request_publish()

    @staticmethod
    def _retire(engine: Engine) -> None:
        engine.wait_idle(timeout=24 * 3600)
        engine.close()

    # ---- main loop ---------------------------------------------------------------------------------

    def _signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self.reload_event.set()
        else:
            self.stop_event.set()

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._signal)
        if self.serve_addr is not None:
            from feedsvc.app.serve import StaticServer

            self.server = StaticServer(self.config.output.dir, *self.serve_addr)
            self.server.start()
            log.info("serving %s at %s", self.config.output.dir, self.server.url)
            from feedsvc.app.serve import self_link_warning

            warning = self_link_warning(self.config.site.url, self.server.url)
            if warning:
                log.warning("%s", warning)
        if self.metrics_addr is not None:
            self._start_metrics()
        self.scheduler.add_job(self.tick, IntervalTrigger(seconds=TICK), id="tick",
                               next_run_time=datetime.now(timezone.utc))
        self.scheduler.start()
        self.request_publish()   # outputs exist from the start, even before the first change
        log.info("started: %d sources, output %s", len(self.config.sources), self.config.output.dir)
        self.notifier.notify("READY=1")
        self._status()
        watchdog = self.notifier.watchdog_interval()
        while not self.stop_event.is_set():
            self.stop_event.wait(timeout=watchdog or 1.0)
            if self.reload_event.is_set():
                self.reload_event.clear()
                self.notifier.notify("RELOADING=1")
                self.reload()
                self.notifier.notify("READY=1")
            if watchdog and self.scheduler.running and time.monotonic() - self._last_tick < WATCHDOG_STALE:
                self.notifier.notify("WATCHDOG=1")
        return self._shutdown()

    def _shutdown(self) -> int:
        log.info("stopping")
        self.notifier.notify("STOPPING=1")
        self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + STOP_GRACE
        with self._lock:
            rounds = list(self._rounds)
        for t in rounds:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        if self.server is not None:
            self.server.stop()
        if self.metrics_server is not None:
            self.metrics_server.stop()
        with self._lock:
            abandoned = sum(1 for t in self._rounds if t.is_alive())
        if abandoned:
            # in-flight fetches are abandoned: uncommitted transactions roll back, outputs are
            # replaced atomically, so nothing is half-written
            log.info("stopped (abandoned %d round%s in flight: their sources' leases expire)", abandoned,
                     "s" if abandoned > 1 else "")
            logging.shutdown()
            os._exit(0)
        try:
            self.engine.storage.forget_worker(self.engine.worker)
        except FeedsvcError:
            pass
        self.engine.close()
        self.notifier.close()
        log.info("stopped")
        return 0
