"""One refresh: runs the stages for the chosen sources. Concurrency lives here.

    fetch (HTTP / files) → parse → normalise → decide → store (one transaction) → publish

``refresh`` (the CLI's ``feedsvc refresh``) and the daemon's scheduled jobs both go through
``refresh_source`` and ``publish``. Each source is fetched and stored under its own file lock,
each publish under the publish lock (see locks.py), so the daemon and the CLI can run at once.
"""

from __future__ import annotations

import hashlib
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from feedsvc import __version__

from feedsvc.app import memory
from feedsvc.config import Config, Source
from feedsvc.errors import FeedsvcError, ParseError, SourceError, StoreError
from feedsvc.sources.fetch import Fetcher, HttpFetcher
from feedsvc.storage.locks import LockTimeout, SourceLocks, publish_lock
from feedsvc.model import FetchResult, Item, Origin, SourceOutcome, SourceState
from feedsvc.app.workers import POOL_MIN_SOURCES, ParsePool, default_workers
from feedsvc.model import Seen
from feedsvc.parsing.incremental import ParseJob
from feedsvc.storage.sqlite import Store

# The parse path (fastparse, feedparser, nh3) and publishing (feedgen, lxml) are imported where
# they are used: a round where nothing changed needs neither, and starts ~0.2 s sooner.

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
MOVED_AFTER = 3                  # successes through the same permanent redirect before adopting it
MAX_BACKOFF = 24 * 3600.0
MAX_TTL = 24 * 3600.0
SOURCE_LOCK_TIMEOUT = 120.0
PUBLISH_LOCK_TIMEOUT = 120.0


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def store_path(config: Config) -> Path:
    return config.state_dir / "feedsvc.db"


class Runtime:
    """What the stages share during a refresh: config, fetcher, clock, a Store per thread."""

    def __init__(self, config: Config, fetcher: Fetcher | None = None, clock: Clock = utcnow,
                 parse_workers: int | None = None) -> None:
        """``parse_workers``: worker processes for parsing in ``refresh`` (None: one fewer than
        the cores when the round has POOL_MIN_SOURCES remote sources or more, else none)."""
        self.config = config
        self.clock = clock
        self.parse_workers = parse_workers
        self.pool = ParsePool(0)
        self.fetcher: Fetcher = fetcher or HttpFetcher(
            user_agent=f"feedsvc/{__version__} (+{config.site.url})",
            base_dir=config.path.parent,
            connect_timeout=config.fetch.connect_timeout,
            timeout=config.fetch.timeout,
            max_bytes=config.fetch.max_bytes)
        self._local = threading.local()
        self._stores: list[tuple[threading.Thread, Store]] = []   # each thread's own
        self._migrated = False
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._deferred: list[SourceState] | None = None   # see ``save_unchanged``
        self._prefetched: dict[str, SourceState] = {}      # see ``prefetch_states``
        self.locks = SourceLocks(config.state_dir)
        self.rank = {s.name: i for i, s in enumerate(config.sources)}
        self.priority = {s.name: s.priority for s in config.sources}
        self.run = self.store().next_run()

    def store(self) -> Store:
        st = getattr(self._local, "store", None)
        if st is None:
            with self._lock:        # the first Store (made by __init__) creates the schema
                migrate = not self._migrated
                self._migrated = True
            st = Store(store_path(self.config), write_lock=self._write_lock, migrate=migrate)
            self._local.store = st
            with self._lock:
                self._stores.append((threading.current_thread(), st))
        return st

    def close_finished_stores(self) -> None:
        """Close the Stores of threads that have ended (a round's fetch threads): each held a
        connection with its page and statement caches, ~1 MB, until the Runtime closed."""
        with self._lock:
            done = [st for t, st in self._stores if not t.is_alive()]
            self._stores = [(t, st) for t, st in self._stores if t.is_alive()]
        for st in done:
            st.close()

    def save_unchanged(self, store: Store, state: SourceState) -> None:
        """Save the state of a source that did not change (a 304, the same bytes, no file
        changed). Inside ``refresh`` these wait for one transaction at the end of the round (a
        write transaction per source was most of a warm round's cost); losing them to a crash
        only makes those sources due again."""
        with self._lock:
            if self._deferred is not None:
                self._deferred.append(state)
                return
        with store.transaction():
            store.save_state(state)

    def prefetch_states(self, names: Iterable[str]) -> None:
        """Read every source's state in one query, for ``refresh_source`` to use instead of a
        query of its own per source (two turns of the interpreter lock each, with eight fetch
        threads waiting on it). A state is used only if its source's lock was free when taken:
        had another process held it, it wrote a newer state, which is read again. (If another
        process refreshed the source and let go before this round reached it, the state is from
        the round's start: at worst a 200 instead of a 304, found to hold nothing new.)"""
        try:
            states = self.store().states()
        except (StoreError, sqlite3.DatabaseError):
            states = {}          # each source reads its own, and reports what is wrong there
        self._prefetched = {n: states[n] for n in names if n in states}

    def prefetched(self, name: str) -> SourceState | None:
        return self._prefetched.pop(name, None)   # one dict operation: atomic, no lock needed

    def drop_prefetched(self) -> None:
        self._prefetched = {}

    def defer_unchanged(self) -> None:
        with self._lock:
            self._deferred = []

    def flush_unchanged(self) -> None:
        with self._lock:
            states, self._deferred = self._deferred, None
        if states:
            store = self.store()
            with store.transaction():
                store.save_states_unless_newer(states)

    def close(self) -> None:
        self.pool.close()
        with self._lock:
            for _, st in self._stores:
                st.close()
            self._stores.clear()
        self.drop_prefetched()
        self.locks.close()
        self.fetcher.close()


# ---- policy (pure) --------------------------------------------------------------------------

def backoff_seconds(interval: float, failures: int, rand: random.Random | None = None) -> float:
    """Delay before retrying a failing source: interval × 2^(failures-1), ±10 % jitter, ≤ 24 h."""
    base = min(MAX_BACKOFF, interval * (2 ** max(0, failures - 1)))
    jitter = (rand or random).uniform(0.9, 1.1)
    return min(MAX_BACKOFF, base * jitter)


def effective_interval(source: Source, state: SourceState) -> float:
    """The source's interval, raised to the feed's own <ttl>/sy:updatePeriod (capped at 24 h)."""
    ttl = float(state.ttl_seconds or 0)
    return max(source.interval, min(ttl, MAX_TTL))


def is_due(source: Source, state: SourceState, now: datetime) -> bool:
    """Whether the daemon should fetch this source now (forced refreshes ignore this)."""
    if state.gone:
        return False
    if state.retry_after is not None and now < state.retry_after:
        return False
    return True


# ---- one source ----------------------------------------------------------------------------

def refresh_source(rt: Runtime, source: Source, full: bool = False, force: bool = True,
                   run: int | None = None) -> SourceOutcome:
    """Fetch, parse, normalise and store one source; never raises for a source's own failure.

    ``force`` ignores back-off and 410 Gone (the CLI); the daemon passes False. ``run`` is the
    refresh run this belongs to (sources of one run compete by config order for a shared story);
    default: the runtime's current run."""
    started = time.monotonic()
    run = rt.run if run is None else run
    hint = rt.prefetched(source.name)
    try:
        waited = rt.locks.acquire(source.name, timeout=SOURCE_LOCK_TIMEOUT)
    except LockTimeout as exc:
        return SourceOutcome(source.name, "error", error=str(exc), seconds=time.monotonic() - started)
    try:
        store = rt.store()
        if hint is None or waited:
            state = store.state(source.name, source.kind, source.url)
        else:
            state = hint
        if state.url != source.url or state.kind != source.kind:
            # the config points this name somewhere else now: start its fetch state afresh
            state = SourceState(name=source.name, kind=source.kind, url=source.url)
        now = rt.clock()
        if not force and not is_due(source, state, now):
            return SourceOutcome(source.name, "skipped", seconds=time.monotonic() - started)
        try:
            if source.kind == "local":
                outcome = _refresh_local(rt, store, source, state, now, run)
            else:
                outcome = _refresh_feed(rt, store, source, state, now, full, run)
        except SourceError as exc:
            outcome = _record_failure(rt, store, source, state, now, exc)
        return replace(outcome, seconds=time.monotonic() - started)
    except StoreError as exc:
        return SourceOutcome(source.name, "error", error=str(exc), seconds=time.monotonic() - started)
    finally:
        rt.locks.release(source.name)


def _refresh_feed(rt: Runtime, store: Store, source: Source, state: SourceState, now: datetime,
                  full: bool, run: int) -> SourceOutcome:
    assert source.url is not None
    url = state.moved_to or source.url
    etag = None if full else state.etag
    modified = None if full else state.last_modified
    result = rt.fetcher.fetch(source.name, url, etag, modified)
    base_state = _moved(replace(state, last_attempt=now), result, source.url)
    if result.not_modified:
        ok = replace(base_state, last_success=now, last_error=None, error_since=None, failures=0,
                     gone=False, retry_after=None,
                     etag=result.etag or state.etag, last_modified=result.last_modified or state.last_modified)
        rt.save_unchanged(store, ok)
        return SourceOutcome(source.name, "not-modified", unchanged=state.item_count, warning=state.warning)
    body_hash = hashlib.sha256(result.content).hexdigest()[:32]
    new_validators = dict(etag=result.etag, last_modified=result.last_modified)
    if not full and body_hash == state.body_hash:
        ok = replace(base_state, last_success=now, last_error=None, error_since=None, failures=0,
                     gone=False, retry_after=None, **new_validators)
        rt.save_unchanged(store, ok)
        return SourceOutcome(source.name, "not-modified", unchanged=state.item_count, warning=state.warning)
    from feedsvc.items.decide import decide       # only a changed feed needs it (and nh3 behind it)

    job = ParseJob(
        source=source.name, content=result.content, url=result.url, feed_url=source.url,
        site_url=rt.config.site.url, now=now, headers=result.headers,
        max_entries=rt.config.fetch.max_entries, max_bytes=rt.config.fetch.max_bytes,
        known={} if full else store.seen(source.name))
    for _attempt in range(2):
        parsed = rt.pool.run(job)
        if parsed.error is not None:
            raise ParseError(source.name, parsed.error, result.url)
        items = list(parsed.items)
        ok = replace(base_state, last_success=now, last_error=None, error_since=None, failures=0,
                     gone=False, retry_after=None, body_hash=body_hash, warning=parsed.warning,
                     feed_title=parsed.title, feed_link=parsed.link, ttl_seconds=parsed.ttl_seconds,
                     **new_validators)
        with store.transaction():
            kept = store.resolve_keys(source.name, [seen.key for _, seen in parsed.skipped])
            if len(kept) < len({seen.key for _, seen in parsed.skipped}):
                # a skipped entry's item is gone from the store (purged): normalise them all
                job = replace(job, known={})
                continue
            snap = store.snapshot(source.name, items)
            decisions = decide(items, snap, rt.rank, run, rt.priority)
            counts = store.apply(source.name, decisions, now, run, present=True, kept=kept)
            store.set_seen(source.name, [(fp, Seen(i.key, i.dedup_keys))
                                         for fp, i in zip(parsed.fingerprints, items) if fp]
                           + list(parsed.skipped))
            store.save_state(ok)
        break
    if parsed.warning:
        log.info("%s: feed parsed with a problem: %s", source.name, parsed.warning)
    return SourceOutcome(source.name, "ok", new=counts["new"], updated=counts["updated"],
                         unchanged=counts["unchanged"], duplicates=counts["duplicates"],
                         warning=parsed.warning)


def _moved(state: SourceState, result: FetchResult, configured: str) -> SourceState:
    """Track permanent redirects: adopt the new URL after MOVED_AFTER successes through it."""
    if result.permanent_url and result.permanent_url != (state.moved_to or configured):
        if state.moved_candidate == result.permanent_url:
            count = state.moved_count + 1
        else:
            count = 1
        if count >= MOVED_AFTER:
            log.info("%s: feed moved permanently to %s", state.name, result.permanent_url)
            return replace(state, moved_to=result.permanent_url, moved_candidate=None, moved_count=0)
        return replace(state, moved_candidate=result.permanent_url, moved_count=count)
    if not result.permanent_url and state.moved_candidate:
        return replace(state, moved_candidate=None, moved_count=0)
    return state


def _refresh_local(rt: Runtime, store: Store, source: Source, state: SourceState,
                   now: datetime, run: int) -> SourceOutcome:
    from feedsvc.sources import articles
    from feedsvc.items.decide import decide
    from feedsvc.items.normalise import Cleaners, SourceContext, normalise

    assert source.path is not None
    try:
        scan = articles.scan(source.path)
    except OSError as exc:
        raise SourceError(source.name, f"cannot read directory {source.path}: {exc.strerror or exc}") from None
    known = store.files(source.name)
    current = {f.relpath: f for f in scan.files}
    changed = [f for f in scan.files if known.get(f.relpath, (None, None, None))[:2] != (f.size, f.mtime_ns)]
    deleted = [rel for rel in known if rel not in current]
    warnings = list(scan.problems)
    origin = Origin(title=source.title or rt.config.site.title, link=rt.config.site.url, id=rt.config.site.id,
                    home=rt.config.site.url)
    ctx = SourceContext(name=source.name, origin=origin, base_url=rt.config.site.url,
                        site_url=rt.config.site.url)
    items: list[Item] = []
    cleaners = Cleaners()
    file_keys: dict[str, str | None] = {}
    for f in changed:
        try:
            data = articles.read_file(source.path, f.relpath)
            parsed = articles.parse_article(source.name, f.relpath, data)
        except articles.ArticleSkipped as exc:
            warnings.append(f"{f.relpath}: skipped, {exc}")
            file_keys[f.relpath] = None
            continue
        except OSError as exc:
            warnings.append(f"{f.relpath}: unreadable, {exc.strerror or exc}")
            continue
        warnings.extend(f"{f.relpath}: {w}" for w in parsed.warnings)
        item = normalise(parsed.entry, ctx, now, cleaners)
        items.append(item)
        file_keys[f.relpath] = item.key
    for w in warnings:
        log.warning("%s: %s", source.name, w)
    # files skipped on an earlier scan and untouched since are still skipped: keep saying so in
    # the source's warning (status, summary line), without logging the same WARNING every run
    still = [f"{rel}: still skipped (not a readable article)" for rel in sorted(current)
             if rel in known and rel not in file_keys and known[rel][2] is None
             and known[rel][:2] == (current[rel].size, current[rel].mtime_ns)]
    for w in still:
        log.info("%s: %s", source.name, w)
    warning = "; ".join(warnings + still)[:1000] or None
    ok = replace(state, last_attempt=now, last_success=now, last_error=None, error_since=None,
                 failures=0, warning=warning, feed_title=origin.title, feed_link=origin.home)
    if not changed and not deleted:
        rt.save_unchanged(store, ok)
        return SourceOutcome(source.name, "not-modified", unchanged=len(current), warning=warning)
    with store.transaction():
        old_keys = {rel: known[rel][2] for rel in deleted if known[rel][2]}
        # a changed file whose id changed drops its old item
        for f in changed:
            prev = known.get(f.relpath)
            if prev and prev[2] and prev[2] != file_keys.get(f.relpath):
                old_keys[f.relpath] = prev[2]
        live = {i.key for i in items} | {known[r][2] for r in current if r in known and r not in file_keys}
        removed = store.delete_items(source.name, [k for k in old_keys.values() if k not in live])
        snap = store.snapshot(source.name, items)
        decisions = decide(items, snap, rt.rank, run, rt.priority)
        counts = store.apply(source.name, decisions, now, run, present=False)
        for f in changed:
            if f.relpath in file_keys:
                store.set_file(source.name, f.relpath, f.size, f.mtime_ns, file_keys[f.relpath])
        for rel in deleted:
            store.delete_file(source.name, rel)
        store.save_state(ok)
    return SourceOutcome(source.name, "ok", new=counts["new"], updated=counts["updated"] + removed,
                         unchanged=len(current) - len(changed) + counts["unchanged"],
                         duplicates=counts["duplicates"], warning=warning)


def _record_failure(rt: Runtime, store: Store, source: Source, state: SourceState, now: datetime,
                    exc: SourceError) -> SourceOutcome:
    failures = state.failures + 1
    status = getattr(exc, "status", None)
    interval = effective_interval(source, state)
    delay = backoff_seconds(interval, failures)
    retry = getattr(exc, "retry_after", None)
    if retry is not None:
        delay = max(delay, min(retry, 7 * 86400.0))
    failed = replace(state, last_attempt=now, last_error=exc.message, failures=failures,
                     error_since=state.error_since or now, gone=state.gone or status == 410,
                     retry_after=now + timedelta(seconds=delay))
    log.debug("%s: %s (failure %d)", source.name, exc.message, failures)
    with store.transaction():
        store.save_state(failed)
    return SourceOutcome(source.name, "error", error=exc.message, unchanged=state.item_count)


# ---- publishing -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PublishResult:
    written: tuple[str, ...]     # files (relative to output.dir) rewritten this time
    items: int                   # items in the combined feeds
    warnings: tuple[str, ...] = ()  # problems that did not stop the publish (a failed hub ping)


def publish(rt: Runtime, force: bool = False) -> PublishResult:
    """Render the outputs from the store and write the files that changed (under the publish lock).

    Rendering is skipped, as long as every file the last publish wrote is still there, when
    nothing it reads changed since then. Two checks, the cheap one first:

    - the store's generation, the config, the feeds' titles and links and the feedsvc version are
      the same: an unchanged round costs a few queries;
    - else the published selection itself (the items chosen for every feed, and the local
      article pages) is the same as last time, e.g. when the new items are all older than the
      newest ``output.max_items``: the round costs reading that selection, not a render.

    ``force`` renders anyway (``feedsvc publish``); unchanged bytes are still not rewritten."""
    cfg = rt.config
    lock = publish_lock(cfg.state_dir)
    lock.acquire(timeout=PUBLISH_LOCK_TIMEOUT)
    try:
        store = rt.store()
        # purge first: rendering items that are about to be dropped would make the next refresh,
        # with nothing new, rewrite the outputs without them
        with store.transaction():
            store.purge(rt.clock(), cfg.retention.max_age, cfg.retention.per_source)
        meta = store.feed_meta()
        now = rt.clock()
        context = _digest(__version__, repr(cfg), repr(sorted(meta.items())))
        fingerprint = _publish_fingerprint(cfg, context, store.generation(), now)
        last = store.get_meta("published")
        last_fp, _, last_files = (last or "").partition("\n")
        may_skip = (not force and last is not None
                    and all((cfg.output.dir / rel).is_file() for rel in last_files.split("\n") if rel))
        if may_skip and last_fp == fingerprint:
            return _not_rendered(cfg, int(store.get_meta("published_items") or 0))
        from feedsvc.output.curate import gather

        chosen = gather(store.newest, cfg, now)   # filters and limits (curate.py)
        items = chosen.combined
        local = {s.name for s in cfg.sources if s.kind == "local"} | store.local_sources()
        pages = store.pages(sorted(local))
        selection = _digest(context, repr(chosen.combined), repr(chosen.topics), repr(pages))
        if may_skip and store.get_meta("published_selection") == selection:
            with store.transaction():   # the next round with nothing new takes the cheap check
                store.set_meta("published", fingerprint + "\n" + last_files)
            return _not_rendered(cfg, len(items))
        from feedsvc.output.render import render_all, source_infos
        from feedsvc.output.write import is_feed_file, write_all

        files = render_all(cfg, items, pages, source_infos(cfg, meta), chosen.topics)
        written = write_all(cfg.output.dir, files, last_files.split("\n") if last else ())
        with store.transaction():
            store.set_meta("published", fingerprint + "\n" + "\n".join(sorted(files)))
            store.set_meta("published_items", str(len(items)))
            store.set_meta("published_selection", selection)
        warnings: list[str] = []
        if cfg.site.websub_hub:          # changed feeds (and pings still pending) go to the hub
            from feedsvc.output import websub

            changed = [cfg.site.url + w for w in written if is_feed_file(w) and w in files]
            warnings = websub.notify(cfg.site.websub_hub, changed, cfg.state_dir)
    finally:
        lock.release()
    for rel in written:
        log.debug("wrote %s", rel)
    return PublishResult(written=tuple(written), items=len(items), warnings=tuple(warnings))


def _not_rendered(cfg: Config, items: int) -> PublishResult:
    """The outputs are already what a render would give: nothing is written, and only the hub
    pings that failed before are retried."""
    log.debug("outputs unchanged since the last publish: not rendered")
    warnings: list[str] = []
    if cfg.site.websub_hub:
        from feedsvc.output import websub

        warnings = websub.notify(cfg.site.websub_hub, [], cfg.state_dir)
    return PublishResult(written=(), items=items, warnings=tuple(warnings))


def _publish_fingerprint(cfg: Config, context: str, generation: int, now: datetime) -> str:
    """What the rendered outputs depend on: the ``context`` (the feedsvc version, the config, the
    feeds' own titles and links), the store's items (its generation), and — only when some
    source has a max_age, which hides items as time passes — the day. The second check,
    ``selection``, digests the same context with the chosen items and pages themselves (every
    field and date: a dataclass repr is exact and stable) in place of the generation."""
    day = now.date().isoformat() if any(s.max_age for s in cfg.sources) else ""
    return _digest(context, str(generation), day)


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


# ---- a whole refresh ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RefreshReport:
    outcomes: tuple[SourceOutcome, ...]
    published: PublishResult | None
    publish_error: str | None = None

    @property
    def failed(self) -> list[SourceOutcome]:
        return [o for o in self.outcomes if o.status == "error"]


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


def refresh(rt: Runtime, sources: Iterable[Source], full: bool = False,
            on_done: Callable[[SourceOutcome], None] | None = None) -> RefreshReport:
    """Refresh the given sources concurrently (a bounded pool), then publish once."""
    chosen = list(sources)
    outcomes: dict[str, SourceOutcome] = {}
    remote = sum(1 for s in chosen if s.kind == "feed")
    if rt.parse_workers is not None:
        rt.pool.workers = rt.parse_workers
    else:
        rt.pool.workers = default_workers() if remote >= POOL_MIN_SOURCES else 0
    workers = max(1, min(rt.config.fetch.workers, len(chosen) or 1))
    rt.defer_unchanged()
    try:
        rt.prefetch_states(s.name for s in chosen)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
            futures = {pool.submit(refresh_source, rt, s, full): s for s in chosen}
            for fut in as_completed(futures):
                src = futures[fut]
                try:
                    outcome = fut.result()
                except Exception as exc:  # a bug in one source must not stop the others
                    log.error("%s: internal error: %s", src.name, exc)
                    log.debug("traceback", exc_info=True)
                    outcome = SourceOutcome(src.name, "error", error=f"internal error: {exc}")
                outcomes[src.name] = outcome
                if on_done:
                    on_done(outcome)
    finally:
        rt.drop_prefetched()
        rt.pool.end_round()
        rt.close_finished_stores()
        try:
            rt.flush_unchanged()
        except StoreError as exc:
            log.error("could not save the state of unchanged sources: %s", exc)
        memory.trim()       # what the round freed, back before the publish allocates its own
    ordered = tuple(outcomes[s.name] for s in chosen)
    try:
        published = publish(rt)
        return RefreshReport(ordered, published)
    except (FeedsvcError, LockTimeout) as exc:
        log.error("publish failed: %s", exc)
        return RefreshReport(ordered, None, str(exc))
