"""The embedded store: SQLite in WAL mode, one file (``state_dir/feedsvc.db`` by default). The
statements are sql.py's; this module opens the file (one connection per thread), creates and
upgrades the schema, and holds the publisher lock (``flock`` on ``locks/publish.lock`` beside the
file, which the kernel drops if the process dies).

Writers take turns: the threads of one process on a lock, processes on SQLite's own
(``BEGIN IMMEDIATE`` and its busy handler), so a source's snapshot cannot go stale before its
decisions are written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from feedsvc.errors import StoreError
from feedsvc.storage.locks import FileLock
from feedsvc.storage.rows import Conn, Dialect
from feedsvc.storage.sql import SqlStorage
from feedsvc.storage.version import SCHEMA_VERSION

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS source (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, url TEXT, etag TEXT, last_modified TEXT,
    body_hash TEXT, last_attempt REAL, last_success REAL, last_error TEXT, error_since REAL,
    failures INTEGER NOT NULL DEFAULT 0, warning TEXT, retry_after REAL,
    gone INTEGER NOT NULL DEFAULT 0, moved_to TEXT, moved_count INTEGER NOT NULL DEFAULT 0,
    moved_candidate TEXT, feed_title TEXT, feed_link TEXT, ttl_seconds INTEGER, cache_seconds INTEGER,
    cache_by TEXT, next_due REAL, lease_owner TEXT, lease_token TEXT, lease_until REAL,
    last_new_at REAL, fetches INTEGER NOT NULL DEFAULT 0, not_modified INTEGER NOT NULL DEFAULT 0,
    stale_200 INTEGER NOT NULL DEFAULT 0, items_seen INTEGER NOT NULL DEFAULT 0,
    undated INTEGER NOT NULL DEFAULT 0, future_dated INTEGER NOT NULL DEFAULT 0,
    redated INTEGER NOT NULL DEFAULT 0, churn TEXT, error_class TEXT, first_seen_order TEXT
);
CREATE INDEX IF NOT EXISTS source_lease ON source (lease_token);
CREATE TABLE IF NOT EXISTS item (
    pk INTEGER PRIMARY KEY, source TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL,
    data TEXT NOT NULL, content_hash TEXT NOT NULL, date REAL NOT NULL, updated REAL NOT NULL,
    first_seen REAL NOT NULL, run INTEGER NOT NULL, present INTEGER NOT NULL DEFAULT 1,
    link TEXT, page TEXT, backlog INTEGER NOT NULL DEFAULT 0, rev INTEGER NOT NULL DEFAULT 0,
    UNIQUE (source, key)
);
CREATE INDEX IF NOT EXISTS item_order ON item (date DESC, id);
CREATE INDEX IF NOT EXISTS item_gone ON item (present, date);
CREATE INDEX IF NOT EXISTS item_archive ON item (date, rev, pk);
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
CREATE TABLE IF NOT EXISTS host (
    grp TEXT PRIMARY KEY, next_start REAL NOT NULL DEFAULT 0, paused_until REAL, reason TEXT
);
CREATE TABLE IF NOT EXISTS worker (
    id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, started REAL NOT NULL, heartbeat REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS moderation (
    item_pk INTEGER PRIMARY KEY REFERENCES item (pk) ON DELETE CASCADE, hidden INTEGER NOT NULL DEFAULT 0,
    actor TEXT, at REAL, reason TEXT, pinned_until REAL, pinned_by TEXT, pinned_at REAL
);
CREATE TABLE IF NOT EXISTS archive (path TEXT PRIMARY KEY, digest TEXT NOT NULL);
"""

LOCK_DIR = "locks"
DIALECT = Dialect(param="?", begin="BEGIN IMMEDIATE", writer_lock=None, errors=(sqlite3.DatabaseError,))


class SqliteStorage(SqlStorage):
    """``protocol.Storage`` on one SQLite file. ``readonly`` opens it for reading only (status):
    a store that does not exist yet reads as empty, one of an older schema is upgraded first."""

    dialect = DIALECT

    def __init__(self, path: Path, readonly: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.readonly = readonly
        self._empty = readonly and not self.path.exists()
        try:
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self._empty:
                conn = self._conn()
                if readonly and _schema_version(conn) < SCHEMA_VERSION:
                    SqliteStorage(self.path).close()      # an upgrade is the one write status makes
                elif not readonly:
                    self._migrate(conn)
        except (sqlite3.DatabaseError, OSError) as exc:
            self.close()
            raise self._unusable(exc) from exc
        except StoreError:
            self.close()
            raise

    def describe(self) -> str:
        return str(self.path)

    def _unusable(self, exc: BaseException) -> StoreError:
        if isinstance(exc, OSError):
            return StoreError(f"the store {self.path} cannot be created: {exc.strerror or exc}")
        return StoreError(f"the store {self.path} cannot be opened ({exc}). If it is corrupt, move it aside "
                          "(and its -wal/-shm files) and run 'feedsvc refresh' to rebuild it from the sources.")

    def _connect(self) -> Conn:
        try:
            if self._empty:
                conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                conn.executescript(SCHEMA)
            elif self.readonly:
                conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=60.0,
                                       isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout = 60000")
            else:
                conn = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout = 60000")
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise sqlite3.DatabaseError(f"cannot switch to WAL mode (got {mode})")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA cache_size = -1024")   # 1 MiB a connection (one per fetch thread)
        except sqlite3.DatabaseError as exc:
            raise self._unusable(exc) from exc
        return conn

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (tests count its statements)."""
        conn = self._conn()
        assert isinstance(conn, sqlite3.Connection)
        return conn

    def _migrate(self, conn: Conn) -> None:
        if _schema_version(conn) == SCHEMA_VERSION:
            return
        with self._transaction() as db:
            version = _schema_version(db.conn)
            if version > SCHEMA_VERSION:
                raise StoreError(f"the store {self.path} was written by a newer feedsvc "
                                 f"(schema {version}); upgrade feedsvc")
            if version == SCHEMA_VERSION:     # another process migrated it meanwhile
                return
            if version >= 1:
                from feedsvc.storage.migrations import upgrade

                upgrade(db.conn, version)  # type: ignore[arg-type]  # a sqlite3 connection here
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    db.conn.execute(stmt)
            db.run("INSERT INTO meta (k, v) VALUES ('schema', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                   [str(SCHEMA_VERSION)])

    def ping(self) -> None:
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
            try:
                conn.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the store {self.path} does not answer: {exc}") from exc

    @contextmanager
    def publisher(self, timeout: float) -> Iterator[None]:
        lock = FileLock(self.path.parent / LOCK_DIR / "publish.lock")
        lock.acquire(timeout=timeout)
        try:
            yield
        finally:
            lock.release()


def _schema_version(conn: Conn) -> int:
    try:
        row = conn.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()
    except sqlite3.OperationalError:      # no meta table: a new, empty file
        return 0
    return int(row[0]) if row else 0
