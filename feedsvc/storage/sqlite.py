"""The embedded store: SQLite in WAL mode, one file (``state_dir/feedsvc.db``). The only module
with SQL for SQLite; it implements ``protocol.Storage``.

Tables
  source   per-source state (validators, errors, back-off, permanent URL, next due time)
  item     one row per story: its owner source and entry key, published id, the Item as JSON,
           the dates (first_seen, date it is ordered by, updated), its link and article page
  alias    entry keys of other sources that carried the same story (its copies), with their links
  dkey     match keys (canonical links, global ids, fingerprints) → the item that holds them
  seen     fingerprints of the entries of each source's last parsed fetch → entry key, match keys
  file     local article files: size and mtime, so an unchanged rescan reads nothing
  publish  what the last publish rendered (one row)
  meta     schema version, the refresh-run counter, the item generation

Every refresh of a source is one transaction (``write``: BEGIN IMMEDIATE … COMMIT), so a crash at
any instant leaves the store as it was before or after that source, and SQLite's single writer
means a source's snapshot cannot go stale before its decisions are written. Each thread has its
own connection; the threads of one process queue on one lock for writing (SQLite's own busy
handler polls with sleeps of up to 100 ms), other processes meet the busy handler.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from feedsvc.errors import StoreError
from feedsvc.items.decide import Action, ItemRef, Known, Snapshot
from feedsvc.model import Copy, Seen, SourceState, StoredItem
from feedsvc.storage.codec import item_from_json, item_to_json
from feedsvc.storage.locks import FileLock, SourceLocks
from feedsvc.storage.protocol import Counts, FileRecord, PublishRecord, SourceUpdate

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS source (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, url TEXT, etag TEXT, last_modified TEXT,
    body_hash TEXT, last_attempt REAL, last_success REAL, last_error TEXT, error_since REAL,
    failures INTEGER NOT NULL DEFAULT 0, warning TEXT, retry_after REAL,
    gone INTEGER NOT NULL DEFAULT 0, moved_to TEXT, moved_count INTEGER NOT NULL DEFAULT 0,
    moved_candidate TEXT, feed_title TEXT, feed_link TEXT, ttl_seconds INTEGER, next_due REAL
);
CREATE TABLE IF NOT EXISTS item (
    pk INTEGER PRIMARY KEY, source TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL,
    data TEXT NOT NULL, content_hash TEXT NOT NULL, date REAL NOT NULL, updated REAL NOT NULL,
    first_seen REAL NOT NULL, run INTEGER NOT NULL, present INTEGER NOT NULL DEFAULT 1,
    link TEXT, page TEXT,
    UNIQUE (source, key)
);
CREATE INDEX IF NOT EXISTS item_order ON item (date DESC, id);
CREATE INDEX IF NOT EXISTS item_gone ON item (present, date);
CREATE TABLE IF NOT EXISTS alias (
    source TEXT NOT NULL, key TEXT NOT NULL,
    item_pk INTEGER NOT NULL REFERENCES item (pk) ON DELETE CASCADE, link TEXT,
    PRIMARY KEY (source, key)
);
CREATE INDEX IF NOT EXISTS alias_item ON alias (item_pk);
CREATE TABLE IF NOT EXISTS dkey (
    dkey TEXT PRIMARY KEY, item_pk INTEGER NOT NULL REFERENCES item (pk) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS dkey_item ON dkey (item_pk);
CREATE TABLE IF NOT EXISTS seen (
    source TEXT NOT NULL, fp TEXT NOT NULL, key TEXT NOT NULL, dkeys TEXT NOT NULL,
    PRIMARY KEY (source, fp)
);
CREATE TABLE IF NOT EXISTS purge_due (source TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS file (
    source TEXT NOT NULL, relpath TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    key TEXT, PRIMARY KEY (source, relpath)
);
CREATE TABLE IF NOT EXISTS publish (
    id INTEGER PRIMARY KEY CHECK (id = 1), fingerprint TEXT NOT NULL, selection TEXT NOT NULL,
    files TEXT NOT NULL, items INTEGER NOT NULL, at REAL
);
"""

_STATE_FIELDS = [f.name for f in fields(SourceState) if f.name != "item_count"]
_TIME_FIELDS = {"last_attempt", "last_success", "error_since", "retry_after", "next_due"}
_STATE_SELECT = (f"SELECT {', '.join('s.' + f for f in _STATE_FIELDS)}, "
                 "(SELECT COUNT(*) FROM item i WHERE i.source = s.name) FROM source s")
_ITEM_COLS = "pk, id, data, first_seen, date, updated, source"
_KNOWN_COLS = "i.pk, i.source, i.content_hash, i.run, i.key, i.id, i.date, i.updated, i.first_seen, i.link"
LOCK_DIR = "locks"


def _ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, timezone.utc) if ts is not None else None


def _state_row(st: SourceState) -> list[Any]:
    d = {k: getattr(st, k) for k in _STATE_FIELDS}
    for k in _TIME_FIELDS:
        d[k] = _ts(d[k])
    d["gone"] = int(d["gone"])
    return [d[k] for k in _STATE_FIELDS]


def _state_from_row(row: Sequence[Any]) -> SourceState:
    d = dict(zip(_STATE_FIELDS, row))
    for k in _TIME_FIELDS:
        d[k] = _dt(d[k])
    d["gone"] = bool(d["gone"])
    d["item_count"] = row[len(_STATE_FIELDS)]
    return SourceState(**d)


def _known(row: Sequence[Any]) -> Known:
    pk, source, h, run, key, id_, date, updated, first_seen, link = row
    return Known(ItemRef(pk), source, h, run, key=key, id=id_, date=_dt(date), updated=_dt(updated),
                 first_seen=_dt(first_seen), link=link)


def _chunks(seq: Sequence[Any], n: int = 500) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _marks(n: int) -> str:
    return ",".join("?" * n)


class SqliteStorage:
    """``protocol.Storage`` on one SQLite file. ``readonly`` opens it for reading only (status):
    a store that does not exist yet reads as empty, one of an older schema is upgraded first."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._local = threading.local()
        self._mutex = threading.Lock()
        self._write_lock = threading.Lock()
        self._conns: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._locks: SourceLocks | None = None
        self._empty = readonly and not self.path.exists()
        if not readonly:
            with self._errors("opened"):
                self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._empty:
            conn = self._conn()
            if readonly and self._schema_version(conn) < SCHEMA_VERSION:
                SqliteStorage(self.path).close()      # an upgrade is the one write status makes
            elif not readonly:
                with self._errors("opened"):
                    self._migrate(conn)

    # ---- connections -----------------------------------------------------------------------

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"the store {self.path} cannot be {what} ({exc}). If it is corrupt, move it aside "
                "(and its -wal/-shm files) and run 'feedsvc refresh' to rebuild it from the sources."
            ) from exc
        except OSError as exc:
            raise StoreError(f"the store {self.path} cannot be {what}: {exc.strerror or exc}") from exc

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._errors("opened"):
            if self._empty:
                conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                conn.executescript(SCHEMA)
            elif self.readonly:
                conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=60.0,
                                       isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout = 60000")
            else:
                conn = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA busy_timeout = 60000")
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise sqlite3.DatabaseError(f"cannot switch to WAL mode (got {mode})")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA cache_size = -1024")   # 1 MiB a connection (one per fetch thread)
        self._local.conn = conn
        with self._mutex:
            self._conns.append((threading.current_thread(), conn))
        return conn

    @property
    def db(self) -> sqlite3.Connection:
        return self._conn()

    def release_idle(self) -> None:
        """Close the connections of threads that have ended (a round's fetch threads): each held
        its page and statement caches, ~1 MB, until the store closed."""
        with self._mutex:
            done = [c for t, c in self._conns if not t.is_alive()]
            self._conns = [(t, c) for t, c in self._conns if t.is_alive()]
        for c in done:
            c.close()

    def close(self) -> None:
        with self._mutex:
            conns, self._conns = self._conns, []
            locks, self._locks = self._locks, None
        for _, c in conns:
            c.close()
        self._local = threading.local()
        if locks is not None:
            locks.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT; rolled back on any exception."""
        if self.readonly:
            raise StoreError(f"the store {self.path} is open read-only")
        db = self._conn()
        with self._write_lock:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"the store {self.path} is not writable: {exc}") from exc
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            try:
                db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                db.execute("ROLLBACK")
                raise StoreError(f"the store {self.path} could not commit: {exc}") from exc

    # ---- schema ------------------------------------------------------------------------------

    @staticmethod
    def _schema_version(conn: sqlite3.Connection) -> int:
        try:
            row = conn.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()
        except sqlite3.OperationalError:      # no meta table: a new, empty file
            return 0
        return int(row[0]) if row else 0

    def _migrate(self, conn: sqlite3.Connection) -> None:
        if self._schema_version(conn) == SCHEMA_VERSION:
            return
        with self._transaction() as db:
            version = self._schema_version(db)
            if version > SCHEMA_VERSION:
                raise StoreError(f"the store {self.path} was written by a newer feedsvc "
                                 f"(schema {version}); upgrade feedsvc")
            if version == SCHEMA_VERSION:     # another process migrated it meanwhile
                return
            if version >= 1:
                from feedsvc.storage.migrations import upgrade

                upgrade(db, version)
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    # ---- source state --------------------------------------------------------------------------

    def states(self) -> dict[str, SourceState]:
        return {st.name: st for st in map(_state_from_row, self.db.execute(_STATE_SELECT))}

    def state(self, name: str, kind: str = "feed", url: str | None = None) -> SourceState:
        row = self.db.execute(_STATE_SELECT + " WHERE s.name = ?", (name,)).fetchone()
        return _state_from_row(row) if row is not None else SourceState(name=name, kind=kind, url=url)

    def save_states(self, states: Sequence[SourceState]) -> None:
        if not states:
            return
        cols = ", ".join(_STATE_FIELDS)
        sets = ", ".join(f"{k} = excluded.{k}" for k in _STATE_FIELDS if k != "name")
        with self._transaction() as db:
            db.executemany(
                f"INSERT INTO source ({cols}) VALUES ({_marks(len(_STATE_FIELDS))}) "
                f"ON CONFLICT (name) DO UPDATE SET {sets} "
                "WHERE source.last_attempt IS NULL OR excluded.last_attempt >= source.last_attempt",
                [_state_row(st) for st in states])

    def feed_meta(self) -> dict[str, tuple[str | None, str | None]]:
        return {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT name, feed_title, feed_link FROM source")}

    def local_sources(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT name FROM source WHERE kind = 'local'")}

    def seen(self, source: str) -> dict[str, Seen]:
        return {fp: Seen(key, tuple(json.loads(dk)))
                for fp, key, dk in self.db.execute("SELECT fp, key, dkeys FROM seen WHERE source = ?", (source,))}

    def files(self, source: str) -> dict[str, FileRecord]:
        return {r[0]: FileRecord(r[1], r[2], r[3]) for r in self.db.execute(
            "SELECT relpath, size, mtime_ns, key FROM file WHERE source = ?", (source,))}

    # ---- one source's refresh ----------------------------------------------------------------

    @contextmanager
    def write(self, source: str) -> Iterator[_Transaction]:
        with self._transaction() as db:
            yield _Transaction(db, source)

    @contextmanager
    def claim(self, source: str, timeout: float) -> Iterator[bool]:
        with self._mutex:
            if self._locks is None:
                self._locks = SourceLocks(self.path.parent)
            locks = self._locks
        waited = locks.acquire(source, timeout=timeout)
        try:
            yield waited
        finally:
            locks.release(source)

    def next_run(self) -> int:
        with self._transaction() as db:
            row = db.execute("SELECT v FROM meta WHERE k = 'run'").fetchone()
            run = int(row[0]) + 1 if row else 1
            db.execute("INSERT OR REPLACE INTO meta VALUES ('run', ?)", (str(run),))
        return run

    # ---- items ---------------------------------------------------------------------------------

    def generation(self) -> int:
        row = self.db.execute("SELECT v FROM meta WHERE k = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def count_items(self, source: str | None = None) -> int:
        if source is None:
            return int(self.db.execute("SELECT COUNT(*) FROM item").fetchone()[0])
        return int(self.db.execute("SELECT COUNT(*) FROM item WHERE source = ?", (source,)).fetchone()[0])

    def newest(self, limit: int) -> list[StoredItem]:
        return self._stored(self.db.execute(
            f"SELECT {_ITEM_COLS} FROM item ORDER BY date DESC, id LIMIT ?", (limit,)).fetchall())

    def items_of(self, source: str) -> list[StoredItem]:
        return self._stored(self.db.execute(
            f"SELECT {_ITEM_COLS} FROM item WHERE source = ? ORDER BY date DESC, id", (source,)).fetchall())

    def pages(self, sources: Sequence[str]) -> list[StoredItem]:
        if not sources:
            return []
        return self._stored(self.db.execute(
            f"SELECT {_ITEM_COLS} FROM item WHERE source IN ({_marks(len(sources))}) AND page IS NOT NULL "
            "ORDER BY date DESC, id", list(sources)).fetchall())

    def _stored(self, rows: Sequence[tuple[Any, ...]]) -> list[StoredItem]:
        also: dict[int, dict[str, str | None]] = {}
        for chunk in _chunks([r[0] for r in rows]):
            for pk, src, link in self.db.execute(
                    f"SELECT item_pk, source, link FROM alias WHERE item_pk IN ({_marks(len(chunk))}) "
                    "ORDER BY source, link IS NULL, link", chunk):
                also.setdefault(pk, {}).setdefault(src, link)   # one copy per source
        out = []
        for pk, id_, data, first_seen, date, updated, source in rows:
            item = item_from_json(data)
            if item.id != id_ or item.source != source:
                item = replace(item, id=id_, source=source)
            copies = tuple(Copy(s, link) for s, link in also.get(pk, {}).items() if s != source)
            out.append(StoredItem(item=item, first_seen=_dt(first_seen) or _EPOCH, date=_dt(date) or _EPOCH,
                                  updated=_dt(updated) or _EPOCH,
                                  also_in=tuple(c.source for c in copies), copies=copies))
        return out

    def purge(self, now: datetime, max_age: float, per_source: int) -> int:
        with self._transaction() as db:
            cutoff = now.timestamp() - max_age
            n = db.execute("DELETE FROM item WHERE present = 0 AND date < ?", (cutoff,)).rowcount
            # the per-source limit: every source the first time and when the limit changed; else
            # only the sources written since the last purge (``apply`` lists them)
            row = db.execute("SELECT v FROM meta WHERE k = 'purge_limit'").fetchone()
            if row is None or row[0] != str(per_source):
                over = [r[0] for r in db.execute(
                    "SELECT source FROM item GROUP BY source HAVING COUNT(*) > ?", (per_source,))]
                db.execute("INSERT OR REPLACE INTO meta VALUES ('purge_limit', ?)", (str(per_source),))
            else:
                over = [src for (src,) in db.execute("SELECT source FROM purge_due").fetchall()
                        if db.execute("SELECT COUNT(*) FROM item WHERE source = ?", (src,)).fetchone()[0] > per_source]
            for src in over:
                n += db.execute(
                    "DELETE FROM item WHERE present = 0 AND pk IN (SELECT pk FROM item WHERE source = ? "
                    "ORDER BY date DESC, id LIMIT -1 OFFSET ?)", (src, per_source)).rowcount
            db.execute("DELETE FROM purge_due")
            if n:
                _bump(db)
        return n

    # ---- publishing ------------------------------------------------------------------------------

    @contextmanager
    def publisher(self, timeout: float) -> Iterator[None]:
        lock = FileLock(self.path.parent / LOCK_DIR / "publish.lock")
        lock.acquire(timeout=timeout)
        try:
            yield
        finally:
            lock.release()

    def last_publish(self) -> PublishRecord | None:
        row = self.db.execute("SELECT fingerprint, selection, files, items, at FROM publish WHERE id = 1").fetchone()
        if row is None:
            return None
        return PublishRecord(fingerprint=row[0], selection=row[1], files=tuple(json.loads(row[2])),
                             items=int(row[3]), at=_dt(row[4]))

    def record_publish(self, record: PublishRecord) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO publish (id, fingerprint, selection, files, items, at) "
                       "VALUES (1, ?, ?, ?, ?, ?)",
                       (record.fingerprint, record.selection, json.dumps(list(record.files)), record.items,
                        _ts(record.at)))


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _bump(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO meta VALUES ('generation', '1') "
               "ON CONFLICT (k) DO UPDATE SET v = CAST(v AS INTEGER) + 1")


class _Transaction:
    """``protocol.SourceTransaction`` on the connection of an open write transaction."""

    def __init__(self, db: sqlite3.Connection, source: str) -> None:
        self.db = db
        self.source = source

    def resolve(self, keys: Sequence[str]) -> dict[str, tuple[ItemRef, bool]]:
        out: dict[str, tuple[ItemRef, bool]] = {}
        keys = list(dict.fromkeys(keys))
        for chunk in _chunks(keys):
            for key, pk in self.db.execute(
                    f"SELECT key, item_pk FROM alias WHERE source = ? AND key IN ({_marks(len(chunk))})",
                    [self.source, *chunk]):
                out[key] = (ItemRef(pk), False)
            for key, pk in self.db.execute(
                    f"SELECT key, pk FROM item WHERE source = ? AND key IN ({_marks(len(chunk))})",
                    [self.source, *chunk]):
                out[key] = (ItemRef(pk), True)
        return out

    def snapshot(self, own_keys: Sequence[str], match_keys: Sequence[str]) -> Snapshot:
        own: dict[str, Known] = {}
        by_key: dict[str, Known] = {}
        for chunk in _chunks(own_keys):
            for row in self.db.execute(
                    f"SELECT i.key, {_KNOWN_COLS} FROM item i WHERE i.source = ? AND i.key IN ({_marks(len(chunk))})",
                    [self.source, *chunk]):
                own[row[0]] = _known(row[1:])
            for row in self.db.execute(
                    f"SELECT a.key, {_KNOWN_COLS} FROM alias a JOIN item i ON i.pk = a.item_pk "
                    f"WHERE a.source = ? AND a.key IN ({_marks(len(chunk))})", [self.source, *chunk]):
                own.setdefault(row[0], _known(row[1:]))
        for chunk in _chunks(match_keys):
            for row in self.db.execute(
                    f"SELECT d.dkey, {_KNOWN_COLS} FROM dkey d JOIN item i ON i.pk = d.item_pk "
                    f"WHERE d.dkey IN ({_marks(len(chunk))})", chunk):
                by_key[row[0]] = _known(row[1:])
        return Snapshot(own=own, by_dedup_key=by_key)

    def apply(self, update: SourceUpdate) -> Counts:
        db, source = self.db, self.source
        new = updated = unchanged = duplicates = 0
        changed = False
        carried: list[int] = [int(ref) for ref, own in update.kept if own]
        unchanged += len(update.kept)
        for w in update.writes:
            item = w.item
            if w.action is Action.NEW:
                assert w.date and w.updated and w.first_seen
                cur = db.execute(
                    "INSERT INTO item (source, key, id, data, content_hash, date, updated, first_seen, run, "
                    "present, link, page) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                    (source, item.key, item.id, item_to_json(item), item.content_hash, w.date.timestamp(),
                     w.updated.timestamp(), w.first_seen.timestamp(), update.run, item.link, item.page))
                pk = int(cur.lastrowid or 0)
                _add_dkeys(db, pk, item.dedup_keys)
                new += 1
                carried.append(pk)
                changed = True
            elif w.action is Action.UPDATE:
                assert w.target is not None and w.date and w.updated
                db.execute("UPDATE item SET key = ?, data = ?, content_hash = ?, updated = ?, date = ?, present = 1, "
                           "link = ?, page = ? WHERE pk = ?",
                           (item.key, item_to_json(item), item.content_hash, w.updated.timestamp(),
                            w.date.timestamp(), item.link, item.page, w.target))
                db.execute("DELETE FROM dkey WHERE item_pk = ?", (w.target,))
                _add_dkeys(db, w.target, item.dedup_keys)
                updated += 1
                carried.append(w.target)
                changed = True
            elif w.action is Action.UNCHANGED:
                unchanged += 1
                if w.own and w.target is not None:
                    carried.append(w.target)
            elif w.action is Action.DUPLICATE:
                assert w.target is not None
                db.execute("INSERT OR REPLACE INTO alias (source, key, item_pk, link) VALUES (?, ?, ?, ?)",
                           (source, item.key, w.target, item.link))
                _add_dkeys(db, w.target, item.dedup_keys)
                duplicates += 1
                changed = True
            elif w.action is Action.TAKEOVER:
                assert w.target is not None and w.date and w.updated and w.demoted
                db.execute("DELETE FROM alias WHERE source = ? AND key = ?", (source, item.key))
                db.execute("UPDATE item SET source = ?, key = ?, id = ?, data = ?, content_hash = ?, "
                           "date = ?, updated = ?, present = 1, link = ?, page = ? WHERE pk = ?",
                           (source, item.key, item.id, item_to_json(item), item.content_hash,
                            w.date.timestamp(), w.updated.timestamp(), item.link, item.page, w.target))
                d = w.demoted
                db.execute("INSERT OR REPLACE INTO alias (source, key, item_pk, link) VALUES (?, ?, ?, ?)",
                           (d.source, d.key, w.target, d.link))
                _add_dkeys(db, w.target, item.dedup_keys)
                new += 1
                carried.append(w.target)
                changed = True
        if update.present:
            # only the rows whose flag changes: an UPDATE rewrites a whole row, JSON and all
            keep = set(carried)
            now_present = {pk for pk, p in db.execute("SELECT pk, present FROM item WHERE source = ?", (source,)) if p}
            for flag, pks in ((0, sorted(now_present - keep)), (1, sorted(keep - now_present))):
                for chunk in _chunks(pks):
                    db.execute(f"UPDATE item SET present = {flag} WHERE pk IN ({_marks(len(chunk))})", chunk)
        if update.writes:
            # its items may now exceed the per-source limit (more of them, or fewer still in the feed)
            db.execute("INSERT OR IGNORE INTO purge_due (source) VALUES (?)", (source,))
        if changed:
            _bump(db)
        if update.seen is not None:
            _set_seen(db, source, update.seen)
        if update.files is not None:
            db.executemany("INSERT OR REPLACE INTO file (source, relpath, size, mtime_ns, key) VALUES (?, ?, ?, ?, ?)",
                           [(source, rel, f.size, f.mtime_ns, f.key) for rel, f in update.files.set.items()])
            db.executemany("DELETE FROM file WHERE source = ? AND relpath = ?",
                           [(source, rel) for rel in update.files.deleted])
        db.execute(f"INSERT OR REPLACE INTO source ({', '.join(_STATE_FIELDS)}) VALUES ({_marks(len(_STATE_FIELDS))})",
                   _state_row(update.state))
        return Counts(new=new, updated=updated, unchanged=unchanged, duplicates=duplicates)

    def remove(self, keys: Sequence[str]) -> int:
        removed = 0
        for key in keys:
            removed += self.db.execute("DELETE FROM item WHERE source = ? AND key = ?", (self.source, key)).rowcount
            self.db.execute("DELETE FROM alias WHERE source = ? AND key = ?", (self.source, key))
        if removed:
            _bump(self.db)
            self.db.execute("INSERT OR IGNORE INTO purge_due (source) VALUES (?)", (self.source,))
        return removed


def _add_dkeys(db: sqlite3.Connection, pk: int, keys: Sequence[str]) -> None:
    db.executemany("INSERT OR IGNORE INTO dkey (dkey, item_pk) VALUES (?, ?)", [(k, pk) for k in keys])


def _set_seen(db: sqlite3.Connection, source: str, rows: Sequence[tuple[str, Seen]]) -> None:
    """Make ``rows`` the source's fingerprints, writing only the difference (a fingerprint always
    stands for the same entry key and match keys, so a kept one needs no write)."""
    new = dict(rows)
    old = {fp for (fp,) in db.execute("SELECT fp FROM seen WHERE source = ?", (source,))}
    db.executemany("DELETE FROM seen WHERE source = ? AND fp = ?", [(source, fp) for fp in old - new.keys()])
    db.executemany("INSERT OR REPLACE INTO seen (source, fp, key, dkeys) VALUES (?, ?, ?, ?)",
                   [(source, fp, s.key, json.dumps(s.dedup_keys)) for fp, s in new.items() if fp not in old])
