"""The round engine: runs the stages for a set of sources, then publishes. Concurrency lives here.

    fetch (HTTP / files) → [parse → normalise] → decide → store (one transaction) → publish

``feedsvc refresh`` (``Engine.refresh``), the daemon's ticks (``Engine.run_round``) and a forced
refresh beside a running daemon all go through ``Engine.run_round``: the same fetch threads, the
same parse-worker policy (``ParsePool``), one read of every source's state at the round's start,
the states of unchanged sources written in one transaction at its end, and the heap trimmed
before the publish. Each source is refreshed while the store says it holds it
(``Storage.claim``), each publish while it holds the publisher lock, so the daemon and the CLI
can run at once. The engine decides nothing itself: ``items.source_state.decide_source`` gives a
source's next state, ``items.decide`` (``decide`` + ``resolve``) what to write of its items.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from feedsvc import __version__
from feedsvc.app import memory
from feedsvc.app.workers import POOL_MIN_SOURCES, ParsePool, default_workers
from feedsvc.clock import Clock, utcnow
from feedsvc.config import Config, Source
from feedsvc.errors import FeedsvcError, FetchError, LockTimeout, ParseError, SourceError, StoreError
from feedsvc.items.backlog import first_seen_order, hold_back
from feedsvc.items.health import classify, count_items, tally
from feedsvc.items.source_state import (
    MAX_JITTER,
    Failed,
    Fetched,
    NotModified,
    Outcome,
    Policy,
    cache_hint,
    decide_source,
    may_fetch,
    restarted,
)
from feedsvc.model import Seen, SourceOutcome, SourceState
from feedsvc.output.publisher import PublishResult
from feedsvc.parsing.incremental import ParseJob
from feedsvc.sources.faces import refresh_face
from feedsvc.sources.fetch import Fetcher, HttpFetcher, RequestOptions
from feedsvc.sources.politeness import MAX_PAUSE, HostGate, HostPaused, group_of, host_of, interleave

if TYPE_CHECKING:
    from feedsvc.app.metrics import Metrics
from feedsvc.app.leases import owner_is_dead, this_worker
from feedsvc.storage import Claim, SourceUpdate, Storage, open_storage

# The parse path (fastparse, feedparser, nh3) and publishing (feedgen, lxml) are imported where
# they are used: a round where nothing changed needs neither, and starts ~0.2 s sooner.

log = logging.getLogger(__name__)

SOURCE_LOCK_TIMEOUT = 120.0


@dataclass
class _Round:
    """What one round's sources share: its run number, its leases (source → token), the states
    read at its start, and the states of unchanged sources waiting for one transaction at its end."""
    run: int
    full: bool = False
    force: bool = True
    force_host: bool = False
    tokens: dict[str, str] = field(default_factory=dict)
    hints: dict[str, SourceState] = field(default_factory=dict)
    deferred: list[tuple[str | None, SourceState]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, slots=True)
class _Answer:
    """What a source's server answered, for the metrics."""
    group: str | None
    status: int | None
    size: int


@dataclass(frozen=True, slots=True)
class RefreshReport:
    outcomes: tuple[SourceOutcome, ...]
    published: PublishResult | None
    publish_error: str | None = None

    @property
    def failed(self) -> list[SourceOutcome]:
        return [o for o in self.outcomes if o.status == "error"]


class Engine:
    """What the stages share: config, store, fetcher, parse pool, clock and random source."""

    def __init__(self, config: Config, storage: Storage | None = None, fetcher: Fetcher | None = None,
                 clock: Clock = utcnow, rand: random.Random | None = None,
                 parse_workers: int | None = None) -> None:
        """``parse_workers``: worker processes for parsing (None: one fewer than the cores when a
        round has POOL_MIN_SOURCES remote sources or more, else none)."""
        self.config = config
        self.clock = clock
        self.rand = rand or random.Random()
        self.parse_workers = parse_workers
        self.storage: Storage = storage if storage is not None else open_storage(config)
        self.pool = ParsePool(0)
        self.fetcher: Fetcher = fetcher or HttpFetcher(
            user_agent=config.fetch.user_agent or f"feedsvc/{__version__} (+{config.site.url})",
            base_dir=config.path.parent,
            connect_timeout=config.fetch.connect_timeout,
            timeout=config.fetch.timeout,
            max_bytes=config.fetch.max_bytes,
            clock=clock)
        self.rank = {s.name: i for i, s in enumerate(config.sources)}
        self.priority = {s.name: s.priority for s in config.sources}
        self.worker = this_worker()
        self.lease = config.lease
        self.gate = HostGate(config, clock, reserve=self._reserve if self.storage.shared else None)
        self._slots = threading.BoundedSemaphore(max(1, config.fetch.workers))
        self._mutex = threading.Lock()
        self._fetchers: ThreadPoolExecutor | None = None   # shared by the rounds in flight
        self._rounds = 0                  # rounds in flight (the daemon's may overlap)
        self._big = False                 # a round in flight had POOL_MIN_SOURCES remote sources
        self._idle = threading.Condition(self._mutex)
        self._held: dict[str, int] = {}   # lease tokens held by rounds in flight → how many rounds
        self._registered: set[str] = set()
        self._renewer: threading.Thread | None = None
        self._closing = threading.Event()
        self.metrics: Metrics | None = None      # the daemon's, with --metrics

    # ---- host groups --------------------------------------------------------------------------

    def _reserve(self, group: str, spacing: float) -> float:
        return self.storage.reserve_start(group, self.clock(), spacing)

    def _load_pauses(self) -> None:
        """The host pauses every process shares (the store's), at a round's start."""
        try:
            for group, (until, _why) in self.storage.host_pauses().items():
                self.gate.pause(group, until)
        except StoreError as exc:
            log.warning("could not read the paused hosts: %s", exc)

    def _pause_host(self, source: Source, url: str, exc: FetchError, until: datetime) -> None:
        """A 429, or a 503 with Retry-After, pauses every source of the host's group."""
        group = group_of(host_of(url))
        until = min(until, self.clock() + timedelta(seconds=MAX_PAUSE))
        self.gate.pause(group, until)
        try:
            self.storage.pause_host(group, until, f"HTTP {exc.status} from {source.name}")
        except StoreError as err:
            log.warning("could not record the pause of host %s: %s", group, err)
        log.warning("host %s paused until %s (HTTP %s from %s)", group, until.isoformat(timespec="seconds"),
                    exc.status, source.name)

    # ---- leases ----------------------------------------------------------------------------------

    def register(self, sources: Iterable[Source]) -> None:
        """Give the store a row to claim for each source it does not know yet."""
        new = [(s.name, s.kind, s.shown_url) for s in sources if s.name not in self._registered]
        if new:
            self.storage.register(new)
            self._registered.update(n for n, _, _ in new)

    def _hold(self, token: str) -> None:
        with self._mutex:
            self._held[token] = self._held.get(token, 0) + 1
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(target=self._renew_loop, name="lease-renewer", daemon=True)
                self._renewer.start()

    def _renew_loop(self) -> None:
        """Renew every held lease a third of the way through it, while any is held."""
        while not self._closing.wait(self.lease / 3):
            with self._mutex:
                tokens = list(self._held)
            if not tokens:
                with self._mutex:
                    if not self._held:
                        self._renewer = None
                        return
                continue
            try:
                self.storage.renew(tokens, self.clock(), self.lease)
            except StoreError as exc:
                log.warning("could not renew leases: %s", exc)

    def _let_go(self, tokens: Iterable[str]) -> None:
        done = []
        with self._mutex:
            for t in tokens:
                if t in self._held:
                    self._held[t] -= 1
                    if self._held[t] <= 0:
                        del self._held[t]
                        done.append(t)
        if done:
            try:
                self.storage.release(done)
            except StoreError as exc:
                log.warning("could not release leases (they expire on their own): %s", exc)

    def _claim_one(self, rnd: _Round, source: Source) -> str:
        """Wait until ``source``'s lease is free (another worker refreshing it finishes) and
        take it. Raises LockTimeout after SOURCE_LOCK_TIMEOUT seconds."""
        deadline = time.monotonic() + SOURCE_LOCK_TIMEOUT
        pause = 0.05
        while True:
            owner = None
            try:
                claim = self.storage.claim(self.worker, [source.name], self.clock(), self.lease)
                if source.name not in claim.names:
                    owner = self.storage.state(source.name).lease_owner
                    if owner_is_dead(owner, self.worker.host):
                        claim = self.storage.claim(self.worker, [source.name], self.clock(), self.lease,
                                                   take_from=owner)
            except StoreError:
                raise
            if source.name in claim.names:
                self._hold(claim.token)
                with rnd.lock:
                    rnd.tokens[source.name] = claim.token
                return claim.token
            if time.monotonic() >= deadline:
                raise LockTimeout(f"source {source.name} is being refreshed by another worker ({owner})")
            time.sleep(pause)
            pause = min(0.5, pause * 2)

    # ---- rounds --------------------------------------------------------------------------------

    def run_round(self, sources: Iterable[Source], full: bool = False, force: bool = True,
                  on_done: Callable[[SourceOutcome], None] | None = None,
                  claim: Claim | None = None, force_host: bool = False) -> list[SourceOutcome]:
        """Refresh these sources concurrently (``fetch.workers`` at a time across every round in
        flight). ``force`` ignores back-off and 410 Gone (the CLI); the daemon passes False, and
        the ``claim`` its tick took (else the round claims its sources in one statement; a source
        another worker holds is waited for)."""
        chosen = list(sources)
        if not chosen:
            return []
        self.register(chosen)
        rnd = _Round(run=self.storage.next_run(), full=full, force=force, force_host=force_host)
        self._load_pauses()
        if claim is None:
            claim = self.storage.claim(self.worker, [s.name for s in chosen], self.clock(), self.lease)
        self._hold(claim.token)
        rnd.tokens = {n: claim.token for n in claim.names}
        self._begin(sum(1 for s in chosen if s.kind == "feed"))
        started = time.monotonic()
        outcomes: dict[str, SourceOutcome] = {}
        try:
            try:
                states = self.storage.states(sorted(claim.names))
            except StoreError:
                states = {}         # each source reads its own, and reports what is wrong there
            rnd.hints = {n: st for n, st in states.items() if n in claim.names}
            order = interleave(chosen, lambda s: group_of(host_of(s.url or "")))   # type: ignore[attr-defined]
            pool = self._fetch_pool()
            futures = {pool.submit(self._guarded, rnd, s): s for s in order}
            for fut in as_completed(futures):
                outcome = fut.result()
                outcomes[outcome.name] = outcome
                if on_done:
                    on_done(outcome)
        finally:
            rnd.hints = {}
            self._flush(rnd)
            self._let_go(set(rnd.tokens.values()) | {claim.token})
            self._end()
            if self.metrics is not None:
                self.metrics.round.observe(time.monotonic() - started)
        return [outcomes[s.name] for s in chosen]

    def refresh_one(self, source: Source, full: bool = False, force: bool = True,
                    run: int | None = None) -> SourceOutcome:
        """One source outside a round (its state read and written at once)."""
        self.register([source])
        rnd = _Round(run=run if run is not None else self.storage.next_run(), full=full, force=force)
        try:
            return self._refresh_source(rnd, source)
        finally:
            self._flush(rnd)
            self._let_go(set(rnd.tokens.values()))

    def refresh(self, sources: Iterable[Source], full: bool = False,
                on_done: Callable[[SourceOutcome], None] | None = None, force_host: bool = False) -> RefreshReport:
        """``feedsvc refresh``: a forced round (back-off ignored; a paused host only with
        ``force_host``), then a publish."""
        outcomes = tuple(self.run_round(sources, full=full, force=True, on_done=on_done, force_host=force_host))
        try:
            return RefreshReport(outcomes, self.publish())
        except FeedsvcError as exc:
            log.error("publish failed: %s", exc)
            return RefreshReport(outcomes, None, str(exc))

    def publish(self, force: bool = False, wait: bool = True) -> PublishResult:
        """Publish under the store's publisher lock; ``wait=False``: raise ``LockTimeout`` at once
        when another process holds it (the daemon tries again later)."""
        from feedsvc.output.publisher import PUBLISH_LOCK_TIMEOUT, publish

        started = time.monotonic()
        result = publish(self.storage, self.config, self.clock, force=force,
                         lock_timeout=PUBLISH_LOCK_TIMEOUT if wait else 0.0)
        if self.metrics is not None:
            self.metrics.publish.observe(time.monotonic() - started)
        if self.config.report.dir is not None:
            from feedsvc.app.report import write_report

            write_report(self.config, self.storage, self.clock())
        return result

    def _begin(self, remote: int) -> None:
        with self._mutex:
            self._rounds += 1
            wanted = (self.parse_workers if self.parse_workers is not None
                      else default_workers() if remote >= POOL_MIN_SOURCES else 0)
            self.pool.workers = max(self.pool.workers, wanted) if self._rounds > 1 else wanted
            self._big = self._big or remote >= POOL_MIN_SOURCES

    def _fetch_pool(self) -> ThreadPoolExecutor:
        """The fetch threads (``fetch.workers``), shared by the rounds in flight (the daemon's
        overlapping batches) and kept between small rounds (its steady state, a few sources due a
        tick): the rounds reuse the threads, and with them each thread's store connection and
        HTTP session with its keep-alive connections, instead of opening new ones per round."""
        with self._mutex:
            if self._fetchers is None:
                self._fetchers = ThreadPoolExecutor(max_workers=max(1, self.config.fetch.workers),
                                                    thread_name_prefix="fetch")
            return self._fetchers

    def _end(self) -> None:
        with self._mutex:
            self._rounds -= 1
            last = self._rounds == 0
            big, self._big = (self._big, False) if last else (False, self._big)
            fetchers = None
            if last:
                if big:        # a big round's threads end, and their connections are closed below
                    fetchers, self._fetchers = self._fetchers, None
                self._idle.notify_all()
        if fetchers is not None:
            fetchers.shutdown(wait=True)      # every task is done: the threads just exit
        # the connections and sessions of threads that ended: a big round's fetch threads, and the
        # daemon's round threads (each opened a store connection for its claim, states and writes)
        self.storage.release_idle()
        self.fetcher.release_idle()
        if last and big:
            self.pool.end_round()
            memory.trim()       # what the round freed, back before the publish allocates its own

    def _flush(self, rnd: _Round) -> None:
        with rnd.lock:
            deferred, rnd.deferred = rnd.deferred, []
        by_token: dict[str | None, list[SourceState]] = {}
        for token, state in deferred:
            by_token.setdefault(token, []).append(state)
        for token, states in by_token.items():
            try:
                self.storage.save_states(states, token)
            except StoreError as exc:
                log.error("could not save the state of unchanged sources: %s", exc)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no round is in flight; False on timeout."""
        with self._mutex:
            return self._idle.wait_for(lambda: self._rounds == 0, timeout=timeout)

    def close(self) -> None:
        self._closing.set()
        with self._mutex:
            fetchers, self._fetchers = self._fetchers, None
            idle = self._rounds == 0
        if fetchers is not None:
            # idle threads just exit (so none still holds its connection when the store closes);
            # with rounds still in flight (a stop), their store writes are abandoned safely
            fetchers.shutdown(wait=idle, cancel_futures=True)
        self.pool.close()
        self.storage.close()
        self.fetcher.close()

    # ---- one source --------------------------------------------------------------------------

    def _guarded(self, rnd: _Round, source: Source) -> SourceOutcome:
        with self._slots:
            try:
                outcome = self._refresh_source(rnd, source)
            except Exception as exc:  # a bug in one source must not stop the others
                log.error("%s: internal error: %s", source.name, exc)
                log.debug("traceback", exc_info=True)
                outcome = SourceOutcome(source.name, "error", error=f"internal error: {exc}")
        if self.metrics is not None:
            self.metrics.outcome(outcome)
        return outcome

    def _refresh_source(self, rnd: _Round, source: Source) -> SourceOutcome:
        """Fetch, parse, normalise and store one source; never raises for its own failure."""
        started = time.monotonic()
        hint = rnd.hints.pop(source.name, None)
        try:
            with rnd.lock:
                token = rnd.tokens.get(source.name)
            if token is None:          # another worker holds it: wait, then read what it wrote
                token = self._claim_one(rnd, source)
                hint = None
            state = self.storage.state(source.name, source.kind, source.shown_url) if hint is None else hint
            state = restarted(state, source.shown_url, source.kind)
            now = self.clock()
            if not rnd.force and not may_fetch(state, now):
                return SourceOutcome(source.name, "skipped", seconds=time.monotonic() - started,
                                     next_due=None if state.gone else state.retry_after)
            try:
                if source.kind == "local":
                    outcome = self._refresh_local(rnd, source, state, now, token)
                else:
                    outcome = self._refresh_feed(rnd, source, state, now, token)
            except SourceError as exc:
                outcome = self._record_failure(rnd, source, state, now, exc, token)
            if isinstance(source.face, str) and outcome.status != "skipped":   # a URL face: its copy kept fresh
                outcome = replace(outcome, face_changed=refresh_face(
                    source, self.config.state_dir, self.fetcher, now, self.gate, rnd.force, rnd.force_host))
            return replace(outcome, seconds=time.monotonic() - started)
        except (LockTimeout, StoreError) as exc:
            return SourceOutcome(source.name, "error", error=str(exc), seconds=time.monotonic() - started)

    def running(self, state: SourceState) -> bool:
        """Whether a source's new items could flood a front page others are on (a
        source refreshed before, or a planet that has published)."""
        return state.last_success is not None or self.storage.last_publish() is not None

    def _policy(self, source: Source) -> Policy:
        return Policy(interval=source.interval, jitter=self.config.jitter)

    def _next(self, source: Source, old: SourceState, outcome: Outcome, now: datetime) -> SourceState:
        new = decide_source(old, outcome, now, self._policy(source), self.rand)
        if new.moved_to and new.moved_to != old.moved_to:
            log.info("%s: feed moved permanently to %s", source.name, new.moved_to)
        return new

    def _unchanged(self, rnd: _Round, state: SourceState, token: str | None) -> None:
        """A source that did not change: its state waits for the round's last transaction (a
        write transaction per source was most of a warm round's cost; losing them to a crash only
        makes those sources due again)."""
        with rnd.lock:
            rnd.deferred.append((token, state))

    def _refresh_feed(self, rnd: _Round, source: Source, state: SourceState, now: datetime,
                      token: str | None) -> SourceOutcome:
        assert source.url is not None
        url = state.moved_to or source.url
        etag = None if rnd.full else state.etag
        modified = None if rnd.full else state.last_modified
        options = RequestOptions(headers=source.headers, auth=source.auth, proxy=source.proxy, verify=source.verify)
        try:
            with self.gate.slot(source.name, url, force_host=rnd.force_host):
                result = self.fetcher.fetch(source.name, url, etag, modified, options)
        except HostPaused as exc:
            # not fetched: due again when the pause ends, spread so the group does not resume at once
            spread = min(MAX_JITTER, 0.1 * max(0.0, (exc.until - now).total_seconds()))
            later = exc.until + timedelta(seconds=self.rand.uniform(0, spread) if spread else 0.0)
            self._unchanged(rnd, replace(state, next_due=later), token)
            return SourceOutcome(source.name, "skipped", error=exc.message, unchanged=state.item_count, next_due=later)
        cache = cache_hint(result.headers, now)
        answer = _Answer(group_of(host_of(url)) or None, result.status if url.startswith("http") else None,
                         len(result.content))
        if result.not_modified:
            ok = self._next(source, state, NotModified(result.etag, result.last_modified, result.permanent_url,
                                                       cache=cache), now)
            self._unchanged(rnd, ok, token)
            return SourceOutcome(source.name, "not-modified", unchanged=state.item_count, warning=state.warning,
                                 next_due=ok.next_due, group=answer.group,
                                 http_status=answer.status, bytes=answer.size)
        body_hash = hashlib.sha256(result.content).hexdigest()[:32]
        if not rnd.full and body_hash == state.body_hash:
            ok = self._next(source, state, NotModified(result.etag, result.last_modified, result.permanent_url,
                                                       same_body=True, cache=cache), now)
            self._unchanged(rnd, ok, token)
            return SourceOutcome(source.name, "not-modified", unchanged=state.item_count, warning=state.warning,
                                 next_due=ok.next_due, group=answer.group,
                                 http_status=answer.status, bytes=answer.size)
        from feedsvc.items.decide import decide, lookups, resolve  # only a changed feed needs them

        job = ParseJob(
            source=source.name, content=result.content, url=result.url, feed_url=source.shown_url or source.url,
            site_url=self.config.site.url, now=now, headers=result.headers,
            max_entries=self.config.fetch.max_entries, max_bytes=self.config.fetch.max_bytes,
            known={} if rnd.full else self.storage.seen(source.name))
        for _attempt in range(2):
            parsed = self.pool.run(job)
            if parsed.error is not None:
                raise ParseError(source.name, parsed.error, result.url, body=result.content[:16384])
            items = list(parsed.items)
            ok = self._next(source, state, Fetched(
                body_hash=body_hash, etag=result.etag, last_modified=result.last_modified,
                permanent_url=result.permanent_url, title=parsed.title, link=parsed.link,
                ttl_seconds=parsed.ttl_seconds, warning=parsed.warning, cache=cache), now)
            with self.storage.write(source.name, token) as tx:
                skipped = {seen.key for _, seen in parsed.skipped}
                kept = tx.resolve(list(skipped))
                if len(kept) < len(skipped):
                    # a skipped entry's item is gone from the store (purged): normalise them all
                    job = replace(job, known={})
                    continue
                own_keys, match = lookups(items)
                snap = tx.snapshot(own_keys, match)
                items, ok = first_seen_order(items, snap, ok, whole=not skipped)      # dates meaning nothing
                writes = resolve(decide(items, snap, self.rank, rnd.run, self.priority), snap, now, rnd.run)
                ok = count_items(ok, tally(writes), now)
                writes = hold_back(writes, state, self.config.new_items(source), now, self.running(state), len(kept))
                seen = [(fp, Seen(i.key, i.dedup_keys)) for fp, i in zip(parsed.fingerprints, items) if fp]
                counts = tx.apply(SourceUpdate(state=ok, run=rnd.run, writes=writes, present=True,
                                               kept=list(kept.values()), seen=seen + list(parsed.skipped)))
            break
        if parsed.warning:
            log.info("%s: feed parsed with a problem: %s", source.name, parsed.warning)
        return SourceOutcome(source.name, "ok", new=counts.new, updated=counts.updated,
                             unchanged=counts.unchanged, duplicates=counts.duplicates,
                             warning=parsed.warning, next_due=ok.next_due, group=answer.group,
                             http_status=answer.status, bytes=answer.size)

    def _refresh_local(self, rnd: _Round, source: Source, state: SourceState, now: datetime,
                       token: str | None) -> SourceOutcome:
        from feedsvc.app.local import refresh_local

        return refresh_local(self, rnd, source, state, now, token)

    def _record_failure(self, rnd: _Round, source: Source, state: SourceState, now: datetime,
                        exc: SourceError, token: str | None) -> SourceOutcome:
        status = getattr(exc, "status", None)
        cls = classify("parse" if isinstance(exc, ParseError) else "fetch", exc.message, status, exc.body)
        failed = self._next(source, state, Failed(exc.message, status, getattr(exc, "retry_after", None), cls), now)
        if (isinstance(exc, FetchError) and failed.retry_after is not None
                and (exc.status == 429 or (exc.status == 503 and exc.retry_after is not None))):
            # the host said how long (Retry-After); a 429 without it: the source's back-off
            until = now + timedelta(seconds=exc.retry_after) if exc.retry_after is not None else failed.retry_after
            self._pause_host(source, exc.url or source.url or "", exc, until)
        log.debug("%s: %s (failure %d)", source.name, exc.message, failed.failures)
        with self.storage.write(source.name, token) as tx:
            tx.apply(SourceUpdate(state=failed, run=rnd.run))
        return SourceOutcome(source.name, "error", error=exc.message, unchanged=state.item_count,
                             next_due=failed.next_due, http_status=status,
                             group=group_of(host_of(source.url)) or None if source.url else None)


# ---- the functions the CLI and the tests call ---------------------------------------------------

def select_sources(config: Config, names: Sequence[str] | None) -> list[Source]:
    """The sources named (in config order), or all. Raises KeyError naming an unknown one."""
    if not names:
        return list(config.sources)
    known = set(config.source_names)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KeyError(", ".join(unknown))
    wanted = set(names)
    return [s for s in config.sources if s.name in wanted]


def refresh(engine: Engine, sources: Iterable[Source], full: bool = False,
            on_done: Callable[[SourceOutcome], None] | None = None) -> RefreshReport:
    return engine.refresh(sources, full=full, on_done=on_done)


def refresh_source(engine: Engine, source: Source, full: bool = False, force: bool = True,
                   run: int | None = None) -> SourceOutcome:
    return engine.refresh_one(source, full=full, force=force, run=run)


def publish(engine: Engine, force: bool = False) -> PublishResult:
    return engine.publish(force=force)
