"""``feedsvc run``: the scheduled daemon. APScheduler wiring, signals, systemd notify.

- Every source is an APScheduler interval job (its own interval, raised to the feed's <ttl>),
  ``max_instances=1`` and ``coalesce=True`` (a missed run after a suspend runs once), the first
  round right at start, spread over a few seconds, later rounds with jitter.
- A job refreshes its source through ``refresh.refresh_source`` (the same code as ``feedsvc
  refresh``), honouring back-off, Retry-After and 410 Gone. A job that changed items asks for a
  publish; requests are coalesced into one publish job shortly after, so a burst of sources
  causes one write.
- SIGTERM/SIGINT: stop scheduling, give in-flight jobs up to ``STOP_GRACE`` seconds, exit 0 (the
  store's transactions and the atomic output writes make abandoning a job safe).
- SIGHUP: re-read the config; apply it if valid (sources added/removed/rescheduled, site and
  output settings), else log why and keep the old one.
- systemd: ``READY=1``, ``STATUS=``, ``WATCHDOG=1``, ``STOPPING=1`` when ``NOTIFY_SOCKET`` is set.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from feedsvc.config import Config, Source, load_config
from feedsvc.errors import ConfigError, FeedsvcError
from feedsvc.storage.locks import LockTimeout
from feedsvc.model import SourceOutcome
from feedsvc.app.engine import Runtime, effective_interval, publish, refresh_source

log = logging.getLogger("feedsvc.app.daemon")

STOP_GRACE = 8.0                 # seconds in-flight jobs get after SIGTERM (systemd allows 10+)
PUBLISH_DELAY = 1.0              # coalescing window for publish requests
FIRST_ROUND_SPREAD = 10.0        # the first round is spread over at most this many seconds


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
                 notifier: Notifier | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.rt = Runtime(config)
        self.notifier = notifier or Notifier()
        self.serve_addr = serve
        self.server = None
        self.stop_event = threading.Event()
        self.reload_event = threading.Event()
        self._lock = threading.Lock()
        self._publish_pending = False
        self._last: dict[str, SourceOutcome] = {}
        self._first_run = self.rt.run
        self._first_done: set[str] = set()
        self._published_at: datetime | None = None
        self._jobs_in_flight = 0
        workers = max(2, min(config.fetch.workers, 32))
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=timezone.utc)

    # ---- jobs --------------------------------------------------------------------------------

    def _schedule_source(self, source: Source, first: datetime | None, replace: bool = False) -> None:
        interval = effective_interval(source, self.rt.store().state(source.name, source.kind, source.url))
        jitter = min(300.0, interval * self.config.jitter)
        self.scheduler.add_job(self._job, IntervalTrigger(seconds=interval, jitter=jitter or None),
                               args=[source.name], id=f"source:{source.name}", name=source.name,
                               next_run_time=first, replace_existing=replace)

    def _job(self, name: str) -> None:
        rt = self.rt
        try:
            source = rt.config.source(name)
        except KeyError:
            return  # removed by a reload while queued
        with self._lock:
            self._jobs_in_flight += 1
            first = name not in self._first_done
            self._first_done.add(name)
        try:
            run = self._first_run if first else rt.store().next_run()
            outcome = refresh_source(rt, source, force=False, run=run)
        except Exception as exc:  # never let one source kill the scheduler thread
            log.error("%s: internal error: %s", name, exc)
            log.debug("traceback", exc_info=True)
            outcome = SourceOutcome(name, "error", error=f"internal error: {exc}")
        finally:
            with self._lock:
                self._jobs_in_flight -= 1
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
        if outcome.changed:
            self.request_publish()
        self._maybe_reschedule(source)

    def _maybe_reschedule(self, source: Source) -> None:
        job = self.scheduler.get_job(f"source:{source.name}")
        if job is None:
            return
        wanted = effective_interval(source, self.rt.store().state(source.name, source.kind, source.url))
        current = job.trigger.interval.total_seconds()
        if abs(current - wanted) > 1:
            log.info("%s: interval now %ss (the feed's own ttl)", source.name, int(wanted))
            self._schedule_source(source, job.next_run_time, replace=True)

    def request_publish(self) -> None:
        with self._lock:
            if self._publish_pending or self.stop_event.is_set():
                return
            self._publish_pending = True
        when = datetime.now(timezone.utc) + timedelta(seconds=PUBLISH_DELAY)
        self.scheduler.add_job(self._publish_job, "date", run_date=when, id="publish",
                               replace_existing=True)

    def _publish_job(self) -> None:
        with self._lock:
            self._publish_pending = False
        started = time.monotonic()
        try:
            result = publish(self.rt)
        except (FeedsvcError, LockTimeout) as exc:
            log.error("publish failed: %s (the previous files stay in place)", exc)
            return
        self._published_at = datetime.now(timezone.utc)
        if result.written:
            log.info("published %d items (%s) in %.2fs", result.items, ", ".join(result.written[:5]) +
                     (" …" if len(result.written) > 5 else ""), time.monotonic() - started)
        self._status()

    def _status(self) -> None:
        outcomes = list(self._last.values())
        failing = sum(1 for o in outcomes if o.status == "error")
        at = self._published_at.strftime("%H:%M:%S") if self._published_at else "never"
        self.notifier.notify(f"STATUS={len(self.config.sources)} sources, {failing} failing; "
                             f"last publish {at} UTC")

    # ---- config reload -------------------------------------------------------------------------

    def reload(self) -> None:
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload: config not applied, still running on the previous one: %s", exc)
            return
        old = {s.name: s for s in self.config.sources}
        fresh = {s.name: s for s in new.sources}
        self.config = new
        self.rt = Runtime(new, clock=self.rt.clock)   # new fetch limits, site, output; one store per thread
        for name in old.keys() - fresh.keys():
            try:
                self.scheduler.remove_job(f"source:{name}")
            except Exception:
                pass
            log.info("reload: source %s removed", name)
        now = datetime.now(timezone.utc)
        for name, src in fresh.items():
            if name not in old:
                self._schedule_source(src, now + timedelta(seconds=random.uniform(0, 1)))
                log.info("reload: source %s added", name)
            elif src != old[name]:
                self._schedule_source(src, now + timedelta(seconds=random.uniform(0, 1)), replace=True)
                log.info("reload: source %s changed", name)
        log.info("reload: config applied (%d sources)", len(new.sources))
        self.request_publish()

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
        now = datetime.now(timezone.utc)
        spread = min(FIRST_ROUND_SPREAD, 0.05 * len(self.config.sources))
        for src in self.config.sources:
            self._schedule_source(src, now + timedelta(seconds=random.uniform(0, spread)))
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
            if watchdog and self.scheduler.running:
                self.notifier.notify("WATCHDOG=1")
        return self._shutdown()

    def _shutdown(self) -> int:
        log.info("stopping")
        self.notifier.notify("STOPPING=1")
        self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline:
            with self._lock:
                busy = self._jobs_in_flight
            if busy == 0:
                break
            time.sleep(0.05)
        if self.server is not None:
            self.server.stop()
        with self._lock:
            abandoned = self._jobs_in_flight
        if abandoned:
            # in-flight fetches are abandoned: uncommitted transactions roll back, outputs are
            # replaced atomically, so nothing is half-written
            log.info("stopped (abandoned %d in-flight refresh%s)", abandoned, "es" if abandoned > 1 else "")
            logging.shutdown()
            os._exit(0)
        self.rt.close()
        self.notifier.close()
        log.info("stopped")
        return 0
