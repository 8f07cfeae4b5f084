"""``MemoryStorage``: the storage contract in dictionaries, for unit tests of the engine and the
publisher that need no file. One lock serialises its writers (a source's transaction holds it),
as SQLite's single writer does; it shares nothing between processes.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from feedsvc.errors import LeaseLost, LockTimeout
from feedsvc.items.decide import Action, ItemRef, Known, Snapshot
from feedsvc.model import Copy, Item, Seen, SourceState, StoredItem
from feedsvc.storage.protocol import (
    Claim,
    Counts,
    FileRecord,
    Listed,
    Moderation,
    PublishRecord,
    SourceUpdate,
    Worker,
    WorkerInfo,
)


@dataclass
class _Row:
    source: str
    key: str
    item: Item
    date: datetime
    updated: datetime
    first_seen: datetime
    run: int
    present: bool = True
    backlog: bool = False        # held back from the front page
    rev: int = 0                 # the generation of its last change


class MemoryStorage:
    shared = False
    def __init__(self) -> None:
        self._lock = threading.RLock()          # the single writer
        self._rows: dict[int, _Row] = {}
        self._own: dict[tuple[str, str], int] = {}
        self._alias: dict[tuple[str, str], tuple[int, str | None]] = {}
        self._dkeys: dict[str, int] = {}
        self._states: dict[str, SourceState] = {}
        self._seen: dict[str, dict[str, Seen]] = {}
        self._files: dict[str, dict[str, FileRecord]] = {}
        self._publish: PublishRecord | None = None
        self._purge_due: set[str] = set()
        self._purge_limit: int | None = None
        self._next = 1
        self._run = 0
        self._generation = 0
        self._leases: dict[str, tuple[str, str, datetime]] = {}   # name → (owner, token, until)
        self._workers: dict[str, WorkerInfo] = {}
        self._pauses: dict[str, tuple[datetime, str | None]] = {}
        self._starts: dict[str, float] = {}
        self._publisher = threading.Lock()
        self._mods: dict[int, Moderation] = {}
        self._archives: dict[str, str] = {}

    # ---- source state ----------------------------------------------------------------------

    def states(self, names: Sequence[str] | None = None) -> dict[str, SourceState]:
        with self._lock:
            wanted = self._states.keys() if names is None else set(names)
            return {n: self._counted(st) for n, st in self._states.items() if n in wanted}

    def leased(self) -> dict[str, str]:
        with self._lock:
            return {n: owner for n, (owner, _, _) in self._leases.items()}

    def state(self, name: str, kind: str = "feed", url: str | None = None) -> SourceState:
        with self._lock:
            st = self._states.get(name)
            return self._counted(st) if st else SourceState(name=name, kind=kind, url=url)

    def _counted(self, st: SourceState) -> SourceState:
        owner, _, until = self._leases.get(st.name, (None, None, None))
        return replace(st, item_count=sum(1 for r in self._rows.values() if r.source == st.name),
                       lease_owner=owner, lease_until=until)

    def save_states(self, states: Sequence[SourceState], token: str | None = None) -> None:
        with self._lock:
            for st in states:
                old = self._states.get(st.name)
                if (old is None or old.last_attempt is None or st.last_attempt is None
                        or st.last_attempt >= old.last_attempt):
                    self._states[st.name] = replace(st, item_count=0, lease_owner=None, lease_until=None)
                if token is not None and self._leases.get(st.name, ("", "", None))[1] == token:
                    del self._leases[st.name]

    # ---- claims ------------------------------------------------------------------------------

    def register(self, sources: Sequence[tuple[str, str, str | None]]) -> None:
        with self._lock:
            for name, kind, url in sources:
                self._states.setdefault(name, SourceState(name=name, kind=kind, url=url))

    def claim(self, worker: Worker, names: Sequence[str], now: datetime, lease: float,
              due_only: bool = False, limit: int | None = None, take_from: str | None = None) -> Claim:
        token = uuid.uuid4().hex
        got: set[str] = set()
        with self._lock:
            candidates = []
            for name in names:
                st = self._states.get(name)
                if st is None:
                    continue
                held = self._leases.get(name)
                if held is not None and held[2] >= now and held[0] != take_from:
                    continue
                if due_only and (st.gone or (st.next_due is not None and st.next_due > now)
                                 or (st.retry_after is not None and st.retry_after > now)):
                    continue
                candidates.append(st)
            candidates.sort(key=lambda st: (st.next_due is not None, st.next_due or now))
            for st in candidates[:limit]:
                self._leases[st.name] = (worker.id, token, now + timedelta(seconds=lease))
                got.add(st.name)
        return Claim(token=token, names=frozenset(got))

    def renew(self, tokens: Sequence[str], now: datetime, lease: float) -> None:
        with self._lock:
            for name, (owner, token, _) in list(self._leases.items()):
                if token in tokens:
                    self._leases[name] = (owner, token, now + timedelta(seconds=lease))

    def release(self, tokens: Sequence[str]) -> None:
        with self._lock:
            for name in [n for n, (_, t, _) in self._leases.items() if t in tokens]:
                del self._leases[name]

    def host_pauses(self) -> dict[str, tuple[datetime, str | None]]:
        with self._lock:
            return dict(self._pauses)

    def pause_host(self, group: str, until: datetime, reason: str) -> None:
        with self._lock:
            old = self._pauses.get(group)
            if old is None or old[0] < until:
                self._pauses[group] = (until, reason)

    def reserve_start(self, group: str, now: datetime, spacing: float) -> float:
        with self._lock:
            t = now.timestamp()
            start = max(self._starts.get(group, 0.0), t)
            self._starts[group] = start + spacing
            return start - t

    def heartbeat(self, worker: Worker, now: datetime) -> None:
        with self._lock:
            old = self._workers.get(worker.id)
            self._workers[worker.id] = WorkerInfo(worker.id, worker.host, worker.pid,
                                                  old.started if old else now, now)

    def forget_worker(self, worker: Worker) -> None:
        with self._lock:
            self._workers.pop(worker.id, None)

    def workers(self) -> list[WorkerInfo]:
        with self._lock:
            return sorted(self._workers.values(), key=lambda w: (w.host, w.pid))

    def seen(self, source: str) -> dict[str, Seen]:
        with self._lock:
            return dict(self._seen.get(source, {}))

    def files(self, source: str) -> dict[str, FileRecord]:
        with self._lock:
            return dict(self._files.get(source, {}))

    def peek(self, source: str, own_keys: Sequence[str], match_keys: Sequence[str]) -> Snapshot:
        with self._lock:
            return _Transaction(self, source, None).snapshot(own_keys, match_keys)

    @contextmanager
    def write(self, source: str, token: str | None = None) -> Iterator[_Transaction]:
        with self._lock:
            if token is not None and self._leases.get(source, ("", "", None))[1] != token:
                raise LeaseLost(f"source {source}: its lease expired and another worker took it")
            saved = self._copy()
            try:
                yield _Transaction(self, source, token)
            except BaseException:
                self._restore(saved)
                raise

    def _copy(self) -> tuple[Any, ...]:
        return ({k: replace(v) for k, v in self._rows.items()}, dict(self._own), dict(self._alias),
                dict(self._dkeys), dict(self._states), {k: dict(v) for k, v in self._seen.items()},
                {k: dict(v) for k, v in self._files.items()}, set(self._purge_due), self._next, self._generation,
                dict(self._mods))

    def _restore(self, saved: tuple[Any, ...]) -> None:
        (self._rows, self._own, self._alias, self._dkeys, self._states, self._seen, self._files,
         self._purge_due, self._next, self._generation, self._mods) = saved

    def next_run(self) -> int:
        with self._lock:
            self._run += 1
            return self._run

    # ---- items -------------------------------------------------------------------------------

    def generation(self) -> int:
        return self._generation

    def count_items(self, source: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self._rows.values() if source is None or r.source == source)

    def _sorted(self, refs: Sequence[int]) -> list[int]:
        return sorted(refs, key=lambda ref: (-self._rows[ref].date.timestamp(), self._rows[ref].item.id))

    def _hidden(self, ref: int) -> bool:
        mod = self._mods.get(ref)
        return mod is not None and mod.hidden

    def newest(self, limit: int) -> list[StoredItem]:
        with self._lock:
            return self._stored(self._sorted([k for k, r in self._rows.items()
                                              if not r.backlog and not self._hidden(k)])[:limit])

    def pinned(self, now: datetime) -> list[StoredItem]:
        with self._lock:
            return self._stored(self._sorted([k for k, m in self._mods.items() if k in self._rows and not m.hidden
                                              and m.pinned_until is not None and m.pinned_until > now]))

    def archive_span(self) -> tuple[datetime, datetime] | None:
        with self._lock:
            dates = [r.date for k, r in self._rows.items() if not self._hidden(k)]
            return (min(dates), max(dates)) if dates else None

    def archive_digests(self, spans: Sequence[tuple[datetime, datetime]]) -> list[tuple[int, int, int]]:
        with self._lock:
            out = []
            for a, b in spans:
                refs = [k for k, r in self._rows.items() if a <= r.date < b and not self._hidden(k)]
                out.append((len(refs), sum(refs), max((self._rows[k].rev for k in refs), default=0)))
            return out

    def between(self, start: datetime, end: datetime) -> list[StoredItem]:
        with self._lock:
            return self._stored(self._sorted([k for k, r in self._rows.items()
                                              if start <= r.date < end and not self._hidden(k)]))

    def backlog(self) -> dict[str, int]:
        with self._lock:
            out: dict[str, int] = {}
            for k, r in self._rows.items():
                if r.backlog and not self._hidden(k):
                    out[r.source] = out.get(r.source, 0) + 1
            return out

    def listing(self, source: str | None = None, hidden: bool = False) -> list[Listed]:
        with self._lock:
            return self._listed(self._sorted([k for k, r in self._rows.items() if self._hidden(k) == hidden
                                              and (source is None or r.source == source)]))

    def find(self, ids: Sequence[str], links: Sequence[str], keys: Sequence[str]) -> list[Listed]:
        with self._lock:
            refs = {k for k, r in self._rows.items() if r.item.id in ids or (r.item.link and r.item.link in links)}
            refs |= {t for (_s, _k), (t, link) in self._alias.items() if link and link in links}
            refs |= {self._dkeys[k] for k in keys if k in self._dkeys}
            return self._listed(self._sorted(list(refs)))

    def _listed(self, refs: Sequence[int]) -> list[Listed]:
        return [Listed(ref=ItemRef(ref), stored=s, backlog=self._rows[ref].backlog, moderation=self._mods.get(ref))
                for ref, s in zip(refs, self._stored(refs))]

    def moderate(self, ref: ItemRef, action: str, actor: str, at: datetime, reason: str | None = None,
                 until: datetime | None = None) -> bool:
        if action not in ("hide", "unhide", "pin", "unpin"):
            raise ValueError(f"unknown moderation action {action!r}")
        with self._lock:
            if ref not in self._rows:
                return False
            mod = self._mods.get(ref, Moderation())
            if action in ("hide", "unhide"):
                mod = replace(mod, hidden=action == "hide", actor=actor, at=at, reason=reason)
            else:
                pin = until if action == "pin" else None
                mod = replace(mod, pinned_until=pin, pinned_by=actor if pin else None, pinned_at=at if pin else None)
            self._mods[ref] = mod
            self._bump([ref] if action in ("hide", "unhide") else [])
            return True

    def _bump(self, touched: Sequence[int]) -> None:
        self._generation += 1
        for ref in touched:
            if ref in self._rows:
                self._rows[ref].rev = self._generation

    def archives(self) -> dict[str, str]:
        with self._lock:
            return dict(self._archives)

    def record_archives(self, written: Mapping[str, str], removed: Sequence[str]) -> None:
        with self._lock:
            self._archives.update(written)
            for path in removed:
                self._archives.pop(path, None)

    def items_of(self, source: str) -> list[StoredItem]:
        with self._lock:
            return self._stored(self._sorted([k for k, r in self._rows.items() if r.source == source]))

    def pages(self, sources: Sequence[str]) -> list[StoredItem]:
        with self._lock:
            wanted = set(sources)
            return self._stored(self._sorted([k for k, r in self._rows.items()
                                              if r.source in wanted and r.item.page is not None
                                              and not self._hidden(k)]))

    def _stored(self, refs: Sequence[int]) -> list[StoredItem]:
        out = []
        for ref in refs:
            r = self._rows[ref]
            copies: dict[str, str | None] = {}
            for (src, _key), (target, link) in sorted(self._alias.items(),
                                                      key=lambda kv: (kv[0][0], kv[1][1] is None, kv[1][1] or "")):
                if target == ref and src != r.source:
                    copies.setdefault(src, link)
            cs = tuple(Copy(s, link) for s, link in copies.items())
            out.append(StoredItem(item=replace(r.item, source=r.source, key=r.key), first_seen=r.first_seen,
                                  date=r.date, updated=r.updated, also_in=tuple(c.source for c in cs), copies=cs))
        return out

    def feed_meta(self) -> dict[str, tuple[str | None, str | None]]:
        with self._lock:
            return {n: (st.feed_title, st.feed_link) for n, st in self._states.items()}

    def local_sources(self) -> set[str]:
        with self._lock:
            return {n for n, st in self._states.items() if st.kind == "local"}

    def purge(self, now: datetime, max_age: float, per_source: int) -> int:
        with self._lock:
            cutoff = now.timestamp() - max_age
            gone = [k for k, r in self._rows.items() if not r.present and r.date.timestamp() < cutoff]
            if self._purge_limit != per_source:
                due = {r.source for r in self._rows.values()}
                self._purge_limit = per_source
            else:
                due = set(self._purge_due)
            for src in due:
                refs = self._sorted([k for k, r in self._rows.items() if r.source == src])
                gone.extend(k for k in refs[per_source:] if not self._rows[k].present)
            for k in set(gone):
                self._delete(k)
            self._purge_due.clear()
            if gone:
                self._generation += 1
            return len(set(gone))

    def _delete(self, ref: int) -> None:
        r = self._rows.pop(ref)
        self._mods.pop(ref, None)
        self._own.pop((r.source, r.key), None)
        for alias in [a for a, (t, _) in self._alias.items() if t == ref]:
            del self._alias[alias]
        for dkey in [d for d, t in self._dkeys.items() if t == ref]:
            del self._dkeys[dkey]

    # ---- publishing ------------------------------------------------------------------------------

    @contextmanager
    def publisher(self, timeout: float) -> Iterator[None]:
        if not self._publisher.acquire(timeout=timeout):
            raise LockTimeout("another publish is running")
        try:
            yield
        finally:
            self._publisher.release()

    def last_publish(self) -> PublishRecord | None:
        return self._publish

    def record_publish(self, record: PublishRecord) -> None:
        with self._lock:
            self._publish = record

    def release_idle(self) -> None:
        pass

    def ping(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Transaction:
    def __init__(self, store: MemoryStorage, source: str, token: str | None) -> None:
        self.s = store
        self.source = source
        self.token = token

    def _known(self, ref: int) -> Known:
        r = self.s._rows[ref]
        return Known(ItemRef(ref), r.source, r.item.content_hash, r.run, key=r.key, id=r.item.id, date=r.date,
                     updated=r.updated, first_seen=r.first_seen, link=r.item.link)

    def resolve(self, keys: Sequence[str]) -> dict[str, tuple[ItemRef, bool]]:
        out: dict[str, tuple[ItemRef, bool]] = {}
        for k in keys:
            if (self.source, k) in self.s._own:
                out[k] = (ItemRef(self.s._own[(self.source, k)]), True)
            elif (self.source, k) in self.s._alias:
                out[k] = (ItemRef(self.s._alias[(self.source, k)][0]), False)
        return out

    def snapshot(self, own_keys: Sequence[str], match_keys: Sequence[str]) -> Snapshot:
        own: dict[str, Known] = {}
        for k in own_keys:
            ref = self.s._own.get((self.source, k))
            if ref is None and (self.source, k) in self.s._alias:
                ref = self.s._alias[(self.source, k)][0]
            if ref is not None:
                own[k] = self._known(ref)
        by_key = {k: self._known(self.s._dkeys[k]) for k in match_keys if k in self.s._dkeys}
        return Snapshot(own=own, by_dedup_key=by_key)

    def apply(self, update: SourceUpdate) -> Counts:
        s, source = self.s, self.source
        counts = {"new": 0, "updated": 0, "unchanged": len(update.kept), "duplicates": 0}
        carried = {int(r) for r, own in update.kept if own}
        changed = False
        touched: list[int] = []
        for w in update.writes:
            item = w.item
            if w.action is Action.NEW:
                assert w.date and w.updated and w.first_seen
                ref = s._next
                s._next += 1
                s._rows[ref] = _Row(source, item.key, item, w.date, w.updated, w.first_seen, update.run,
                                    backlog=w.backlog)
                touched.append(ref)
                s._own[(source, item.key)] = ref
                self._add_keys(ref, item.dedup_keys)
                counts["new"] += 1
                carried.add(ref)
                changed = True
            elif w.action is Action.UPDATE:
                assert w.target is not None and w.date and w.updated
                r = s._rows[w.target]
                s._own.pop((r.source, r.key), None)
                s._own[(source, item.key)] = w.target
                r.key, r.item, r.date, r.updated, r.present = item.key, item, w.date, w.updated, True
                for k in [k for k, t in s._dkeys.items() if t == w.target]:
                    del s._dkeys[k]
                self._add_keys(w.target, item.dedup_keys)
                counts["updated"] += 1
                carried.add(w.target)
                touched.append(w.target)
                changed = True
            elif w.action is Action.UNCHANGED:
                counts["unchanged"] += 1
                if w.own and w.target is not None:
                    carried.add(w.target)
            elif w.action is Action.DUPLICATE:
                assert w.target is not None
                s._alias[(source, item.key)] = (w.target, item.link)
                self._add_keys(w.target, item.dedup_keys)
                counts["duplicates"] += 1
                touched.append(w.target)
                changed = True
            elif w.action is Action.TAKEOVER:
                assert w.target is not None and w.date and w.updated and w.demoted
                s._alias.pop((source, item.key), None)
                r = s._rows[w.target]
                s._own.pop((r.source, r.key), None)
                s._own[(source, item.key)] = w.target
                r.source, r.key, r.item, r.date, r.updated, r.present = source, item.key, item, w.date, w.updated, True
                d = w.demoted
                s._alias[(d.source, d.key)] = (w.target, d.link)
                self._add_keys(w.target, item.dedup_keys)
                counts["new"] += 1
                carried.add(w.target)
                touched.append(w.target)
                changed = True
        if update.present:
            for ref, r in s._rows.items():
                if r.source == source:
                    r.present = ref in carried
        if update.writes:
            s._purge_due.add(source)
        if changed:
            s._bump(touched)
        if update.seen is not None:
            s._seen[source] = dict(update.seen)
        if update.files is not None:
            files = s._files.setdefault(source, {})
            files.update(update.files.set)
            for rel in update.files.deleted:
                files.pop(rel, None)
        s._states[source] = replace(update.state, item_count=0, lease_owner=None, lease_until=None)
        if self.token is not None:
            s._leases.pop(source, None)
        return Counts(new=counts["new"], updated=counts["updated"], unchanged=counts["unchanged"],
                      duplicates=counts["duplicates"])

    def remove(self, keys: Sequence[str]) -> int:
        s, removed = self.s, 0
        touched: list[int] = []
        for key in keys:
            ref = s._own.get((self.source, key))
            if ref is not None:
                s._delete(ref)
                removed += 1
            alias = s._alias.pop((self.source, key), None)
            if alias is not None:
                touched.append(alias[0])
        if removed or touched:
            s._bump(touched)
        if removed:
            s._purge_due.add(self.source)
        return removed

    def _add_keys(self, ref: int, keys: Sequence[str]) -> None:
        for k in keys:
            self.s._dkeys.setdefault(k, ref)
