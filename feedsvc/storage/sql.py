"""``protocol.Storage`` in SQL, once for both databases: SQLite (sqlite.py, the embedded default)
and PostgreSQL (postgres.py, shared by many workers). A ``Dialect`` holds what differs (the
placeholder, how a write transaction begins and serialises, the errors to wrap); every statement
here is written with ``?`` placeholders in SQL both engines understand (upserts with
``ON CONFLICT``, ``RETURNING``).

Tables (DDL in each backend's module)
  source   per-source state, the daemon's schedule (next_due) and the lease of the worker that
           holds it (lease_owner, lease_token, lease_until)
  item     one row per story: its owner source and entry key, published id, the Item as JSON,
           the dates (first_seen, date it is ordered by, updated), its link and article page
  alias    entry keys of other sources that carried the same story (its copies), with their links
  dkey     match keys (canonical links, global ids, fingerprints) → the item that holds them
  seen     fingerprints of the entries of each source's last parsed fetch → entry key, match keys
  file     local article files: size and mtime, so an unchanged rescan reads nothing
  publish  what the last publish rendered (one row)
  worker   the workers of a shared store and their last heartbeat
  meta     schema version, the refresh-run counter, the item generation, the purge limit
  moderation, archive   operators' decisions on stories, archive documents' digests (sql_curation.py)

A source's refresh is one transaction (``write``) that first takes the store's writer lock
(SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-level advisory lock), so a source's
snapshot cannot go stale before its decisions are written; when the write carries a lease token
it is refused (``LeaseLost``) unless the source's lease still has that token (fencing: a worker
whose lease expired cannot overwrite newer state).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from feedsvc.errors import LeaseLost, StoreError
from feedsvc.items.decide import Snapshot
from feedsvc.model import Copy, Seen, SourceState, StoredItem
from feedsvc.storage.codec import item_from_json
from feedsvc.storage.protocol import Claim, FileRecord, PublishRecord, Worker, WorkerInfo
from feedsvc.storage.rows import (
    EPOCH,
    ITEM_COLS,
    STATE_SELECT,
    UPSERT_STATE,
    Conn,
    Dialect,
    chunks,
    dt,
    marks,
    state_from_row,
    state_row,
    ts,
)
from feedsvc.storage.sql_curation import FRONT, VISIBLE, CurationSql
from feedsvc.storage.sql_tx import Db, Transaction, bump


class SqlStorage(CurationSql):
    """The statements; a backend subclass opens connections (``_connect``), creates the schema
    and holds the publisher lock. Curation, moderation and archives: sql_curation.py."""

    dialect: Dialect
    readonly: bool = False
    shared: bool = False

    def __init__(self) -> None:
        self._local = threading.local()
        self._mutex = threading.Lock()
        self._write_lock = threading.Lock()       # this process's writers queue here first
        self._conns: list[tuple[threading.Thread, Conn]] = []

    # ---- connections (the backend opens them) ---------------------------------------------------

    def _connect(self) -> Conn:
        raise NotImplementedError

    def describe(self) -> str:
        """The store, for messages (never with a password)."""
        raise NotImplementedError

    def _wrap(self, exc: BaseException, what: str) -> StoreError:
        return StoreError(f"the store {self.describe()} {what}: {exc}")

    def _conn(self) -> Conn:
        conn: Conn | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._mutex:
                self._conns.append((threading.current_thread(), conn))
        return conn

    def _drop_conn(self) -> None:
        """Forget this thread's connection (after the database went away: the next use reconnects)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with self._mutex:
                self._conns = [(t, c) for t, c in self._conns if c is not conn]
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - it is broken already
                pass

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return list(self._conn().execute(self.dialect.q(sql), params).fetchall())
        except self.dialect.errors as exc:
            self._drop_conn()
            raise self._wrap(exc, "cannot be read") from exc

    def release_idle(self) -> None:
        with self._mutex:
            done = [c for t, c in self._conns if not t.is_alive()]
            self._conns = [(t, c) for t, c in self._conns if t.is_alive()]
        for c in done:
            c.close()

    def close(self) -> None:
        with self._mutex:
            conns, self._conns = self._conns, []
        for _, c in conns:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
        self._local = threading.local()

    @contextmanager
    def _transaction(self, serialise: bool = True) -> Iterator[Db]:
        """One write transaction; rolled back on any exception. ``serialise``: it reads and
        writes items, so it takes the store's writer lock (claims and bookkeeping need not)."""
        if self.readonly:
            raise StoreError(f"the store {self.describe()} is open read-only")
        with self._write_lock:
            try:
                conn = self._conn()
                conn.execute(self.dialect.begin)
                if serialise and self.dialect.writer_lock:
                    conn.execute(self.dialect.writer_lock)
            except self.dialect.errors as exc:
                self._drop_conn()
                raise self._wrap(exc, "is not writable") from exc
            db = Db(conn, self.dialect)
            try:
                yield db
            except BaseException as exc:
                try:
                    conn.execute("ROLLBACK")
                except self.dialect.errors:
                    self._drop_conn()
                if isinstance(exc, self.dialect.errors):
                    self._drop_conn()
                    raise self._wrap(exc, "could not be written") from exc
                raise
            try:
                conn.execute("COMMIT")
            except self.dialect.errors as exc:
                try:
                    conn.execute("ROLLBACK")
                except self.dialect.errors:
                    pass
                self._drop_conn()
                raise self._wrap(exc, "could not commit") from exc

    # ---- source state ----------------------------------------------------------------------

    def states(self, names: Sequence[str] | None = None) -> dict[str, SourceState]:
        if names is None:
            return {st.name: st for st in map(state_from_row, self._read(STATE_SELECT))}
        got: dict[str, SourceState] = {}
        for chunk in chunks(list(names)):
            rows = self._read(STATE_SELECT + f" WHERE s.name IN ({marks(len(chunk))})", tuple(chunk))
            got.update((st.name, st) for st in map(state_from_row, rows))
        return got

    def leased(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._read("SELECT name, lease_owner FROM source WHERE lease_owner IS NOT NULL")}

    def state(self, name: str, kind: str = "feed", url: str | None = None) -> SourceState:
        rows = self._read(STATE_SELECT + " WHERE s.name = ?", (name,))
        return state_from_row(rows[0]) if rows else SourceState(name=name, kind=kind, url=url)

    def save_states(self, states: Sequence[SourceState], token: str | None = None) -> None:
        if not states:
            return
        with self._transaction() as db:
            db.many(UPSERT_STATE + " WHERE source.last_attempt IS NULL OR excluded.last_attempt >= source.last_attempt",
                    [state_row(st) for st in states])
            if token is not None:
                for chunk in chunks([st.name for st in states]):
                    db.run(f"UPDATE source SET lease_owner = NULL, lease_token = NULL, lease_until = NULL "
                           f"WHERE lease_token = ? AND name IN ({marks(len(chunk))})", [token, *chunk])

    def feed_meta(self) -> dict[str, tuple[str | None, str | None]]:
        return {r[0]: (r[1], r[2]) for r in self._read("SELECT name, feed_title, feed_link FROM source")}

    def local_sources(self) -> set[str]:
        return {r[0] for r in self._read("SELECT name FROM source WHERE kind = 'local'")}

    def seen(self, source: str) -> dict[str, Seen]:
        return {fp: Seen(key, tuple(json.loads(dk)))
                for fp, key, dk in self._read("SELECT fp, key, dkeys FROM seen WHERE source = ?", (source,))}

    def files(self, source: str) -> dict[str, FileRecord]:
        return {r[0]: FileRecord(r[1], r[2], r[3]) for r in self._read(
            "SELECT relpath, size, mtime_ns, key FROM file WHERE source = ?", (source,))}

    # ---- claims: leases on source rows ---------------------------------------------------------

    def register(self, sources: Sequence[tuple[str, str, str | None]]) -> None:
        if not sources:
            return
        with self._transaction(serialise=False) as db:
            db.many("INSERT INTO source (name, kind, url) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                    [list(s) for s in sources])

    def claim(self, worker: Worker, names: Sequence[str], now: datetime, lease: float,
              due_only: bool = False, limit: int | None = None, take_from: str | None = None) -> Claim:
        token = uuid.uuid4().hex
        until = ts(now + timedelta(seconds=lease))
        t = ts(now)
        got: set[str] = set()
        with self._transaction(serialise=False) as db:
            for chunk in chunks(list(names)):
                free = "(lease_until IS NULL OR lease_until < ?" + (" OR lease_owner = ?)" if take_from else ")")
                args: list[Any] = [worker.id, token, until, *chunk, t]
                if take_from:
                    args.append(take_from)
                where = f"name IN ({marks(len(chunk))}) AND {free}"
                if due_only:
                    where += " AND gone = 0 AND (next_due IS NULL OR next_due <= ?) AND (retry_after IS NULL OR retry_after <= ?)"
                    args += [t, t]
                want = None if limit is None else limit - len(got)
                if want is not None and want <= 0:
                    break
                inner = (f"SELECT name FROM source WHERE {where} ORDER BY next_due IS NOT NULL, next_due"
                         + (" LIMIT ?" if want else "")
                         + (f" {self.dialect.for_update} SKIP LOCKED" if self.dialect.for_update else ""))
                if want:
                    args.append(want)
                got.update(r[0] for r in db.all(
                    f"UPDATE source SET lease_owner = ?, lease_token = ?, lease_until = ? WHERE name IN ({inner}) "
                    "RETURNING name", args))
        return Claim(token=token, names=frozenset(got))

    def renew(self, tokens: Sequence[str], now: datetime, lease: float) -> None:
        if not tokens:
            return
        with self._transaction(serialise=False) as db:
            db.run(f"UPDATE source SET lease_until = ? WHERE lease_token IN ({marks(len(tokens))})",
                   [ts(now + timedelta(seconds=lease)), *tokens])

    def release(self, tokens: Sequence[str]) -> None:
        if not tokens:
            return
        with self._transaction(serialise=False) as db:
            db.run(f"UPDATE source SET lease_owner = NULL, lease_token = NULL, lease_until = NULL "
                   f"WHERE lease_token IN ({marks(len(tokens))})", list(tokens))

    # ---- host groups: pauses and, for a shared store, the next allowed start -----------------------

    def host_pauses(self) -> dict[str, tuple[datetime, str | None]]:
        return {r[0]: (dt(r[1]) or EPOCH, r[2]) for r in self._read(
            "SELECT grp, paused_until, reason FROM host WHERE paused_until IS NOT NULL")}

    def pause_host(self, group: str, until: datetime, reason: str) -> None:
        with self._transaction(serialise=False) as db:
            db.run("INSERT INTO host (grp, next_start, paused_until, reason) VALUES (?, 0, ?, ?) "
                   "ON CONFLICT (grp) DO UPDATE SET paused_until = CASE WHEN host.paused_until IS NULL "
                   "OR host.paused_until < excluded.paused_until THEN excluded.paused_until ELSE host.paused_until END, "
                   "reason = excluded.reason", [group, ts(until), reason])

    def reserve_start(self, group: str, now: datetime, spacing: float) -> float:
        """Take the group's next start slot: seconds to wait before starting (0: at once)."""
        t = now.timestamp()
        with self._transaction(serialise=False) as db:
            row = db.one("INSERT INTO host (grp, next_start) VALUES (?, ?) ON CONFLICT (grp) DO UPDATE SET "
                         "next_start = CASE WHEN host.next_start > ? THEN host.next_start ELSE ? END + ? "
                         "RETURNING next_start", [group, t + spacing, t, t, spacing])
        return max(0.0, float(row[0]) - spacing - t)

    def heartbeat(self, worker: Worker, now: datetime) -> None:
        with self._transaction(serialise=False) as db:
            db.run("INSERT INTO worker (id, host, pid, started, heartbeat) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat",
                   [worker.id, worker.host, worker.pid, ts(now), ts(now)])

    def forget_worker(self, worker: Worker) -> None:
        with self._transaction(serialise=False) as db:
            db.run("DELETE FROM worker WHERE id = ?", [worker.id])

    def workers(self) -> list[WorkerInfo]:
        return [WorkerInfo(id=r[0], host=r[1], pid=int(r[2]), started=dt(r[3]) or EPOCH, heartbeat=dt(r[4]) or EPOCH)
                for r in self._read("SELECT id, host, pid, started, heartbeat FROM worker ORDER BY host, pid")]

    def peek(self, source: str, own_keys: Sequence[str], match_keys: Sequence[str]) -> Snapshot:
        """What a write of ``source`` would see, read without a transaction (``sources check``)."""
        try:
            return Transaction(Db(self._conn(), self.dialect), source, None).snapshot(own_keys, match_keys)
        except self.dialect.errors as exc:
            self._drop_conn()
            raise self._wrap(exc, "cannot be read") from exc

    @contextmanager
    def write(self, source: str, token: str | None = None) -> Iterator[Transaction]:
        with self._transaction() as db:
            if token is not None:
                row = db.one(f"SELECT lease_token FROM source WHERE name = ? {self.dialect.for_update}", [source])
                if row is None or row[0] != token:
                    raise LeaseLost(f"source {source}: its lease expired and another worker took it; "
                                    "this refresh is dropped")
            yield Transaction(db, source, token)

    def next_run(self) -> int:
        with self._transaction(serialise=False) as db:
            row = db.one("SELECT v FROM meta WHERE k = 'run'")
            run = int(row[0]) + 1 if row else 1
            db.run("INSERT INTO meta (k, v) VALUES ('run', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", [str(run)])
        return run

    # ---- items ---------------------------------------------------------------------------------

    def generation(self) -> int:
        rows = self._read("SELECT v FROM meta WHERE k = 'generation'")
        return int(rows[0][0]) if rows else 0

    def count_items(self, source: str | None = None) -> int:
        if source is None:
            return int(self._read("SELECT COUNT(*) FROM item")[0][0])
        return int(self._read("SELECT COUNT(*) FROM item WHERE source = ?", (source,))[0][0])

    def newest(self, limit: int) -> list[StoredItem]:
        return self._stored(self._read(f"SELECT {ITEM_COLS} FROM item WHERE {FRONT} ORDER BY date DESC, id LIMIT ?",
                                       (limit,)))

    def items_of(self, source: str) -> list[StoredItem]:
        return self._stored(self._read(
            f"SELECT {ITEM_COLS} FROM item WHERE source = ? ORDER BY date DESC, id", (source,)))

    def pages(self, sources: Sequence[str]) -> list[StoredItem]:
        if not sources:
            return []
        return self._stored(self._read(
            f"SELECT {ITEM_COLS} FROM item WHERE source IN ({marks(len(sources))}) AND page IS NOT NULL "
            f"AND {VISIBLE} ORDER BY date DESC, id", list(sources)))

    def _stored(self, rows: Sequence[Sequence[Any]]) -> list[StoredItem]:
        also: dict[int, dict[str, str | None]] = {}
        for chunk in chunks([r[0] for r in rows]):
            for pk, src, link in self._read(
                    f"SELECT item_pk, source, link FROM alias WHERE item_pk IN ({marks(len(chunk))}) "
                    "ORDER BY source, link IS NULL, link", chunk):
                also.setdefault(pk, {}).setdefault(src, link)   # one copy per source
        out = []
        for pk, id_, data, first_seen, date, updated, source in rows:
            item = item_from_json(data)
            if item.id != id_ or item.source != source:
                item = replace(item, id=id_, source=source)
            copies = tuple(Copy(s, link) for s, link in also.get(pk, {}).items() if s != source)
            out.append(StoredItem(item=item, first_seen=dt(first_seen) or EPOCH, date=dt(date) or EPOCH,
                                  updated=dt(updated) or EPOCH,
                                  also_in=tuple(c.source for c in copies), copies=copies))
        return out

    def purge(self, now: datetime, max_age: float, per_source: int) -> int:
        with self._transaction() as db:
            n = db.run("DELETE FROM item WHERE present = 0 AND date < ?", [now.timestamp() - max_age])
            # the per-source limit: every source the first time and when the limit changed; else
            # only the sources written since the last purge (``apply`` lists them)
            row = db.one("SELECT v FROM meta WHERE k = 'purge_limit'")
            if row is None or row[0] != str(per_source):
                over = [r[0] for r in db.all("SELECT source FROM item GROUP BY source HAVING COUNT(*) > ?", [per_source])]
                db.run("INSERT INTO meta (k, v) VALUES ('purge_limit', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                       [str(per_source)])
            else:
                over = [src for (src,) in db.all("SELECT source FROM purge_due")
                        if int(db.one("SELECT COUNT(*) FROM item WHERE source = ?", [src])[0]) > per_source]
            for src in over:
                keep = {r[0] for r in db.all("SELECT pk FROM item WHERE source = ? ORDER BY date DESC, id LIMIT ?",
                                             [src, per_source])}
                drop = [r[0] for r in db.all("SELECT pk FROM item WHERE source = ? AND present = 0", [src])
                        if r[0] not in keep]
                for chunk in chunks(drop):
                    n += db.run(f"DELETE FROM item WHERE pk IN ({marks(len(chunk))})", list(chunk))
            db.run("DELETE FROM purge_due")
            if n:
                bump(db)
        return n

    # ---- publishing ------------------------------------------------------------------------------

    def last_publish(self) -> PublishRecord | None:
        rows = self._read("SELECT fingerprint, selection, files, items, at FROM publish WHERE id = 1")
        if not rows:
            return None
        row = rows[0]
        return PublishRecord(fingerprint=row[0], selection=row[1], files=tuple(json.loads(row[2])),
                             items=int(row[3]), at=dt(row[4]))

    def record_publish(self, record: PublishRecord) -> None:
        with self._transaction(serialise=False) as db:
            db.run("INSERT INTO publish (id, fingerprint, selection, files, items, at) VALUES (1, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, selection = excluded.selection, "
                   "files = excluded.files, items = excluded.items, at = excluded.at",
                   [record.fingerprint, record.selection, json.dumps(list(record.files)), record.items, ts(record.at)])
