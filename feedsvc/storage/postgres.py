"""The shared store: PostgreSQL, for several ``feedsvc run`` workers on one or many machines. The
statements are sql.py's; this module connects (psycopg 3, one connection per thread, libpq URL),
creates the schema once (under a session advisory lock, so workers started together do not race),
serialises item writers with a transaction-level advisory lock, and holds the publisher lock as a
session advisory lock on a connection of its own (released by the server if the worker dies).

The password never passes through our code: libpq reads it from ``PGPASSWORD``, ``~/.pgpass`` /
``PGPASSFILE`` or the URL in ``FEEDSVC_STORE``; every message names the store without it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from feedsvc.config.values import redact
from feedsvc.errors import LockTimeout, StoreError
from feedsvc.storage.rows import Conn, Dialect
from feedsvc.storage.sql import SqlStorage
from feedsvc.storage.version import SCHEMA_VERSION

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS source (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, url TEXT, etag TEXT, last_modified TEXT,
    body_hash TEXT, last_attempt DOUBLE PRECISION, last_success DOUBLE PRECISION, last_error TEXT,
    error_since DOUBLE PRECISION, failures INTEGER NOT NULL DEFAULT 0, warning TEXT,
    retry_after DOUBLE PRECISION, gone INTEGER NOT NULL DEFAULT 0, moved_to TEXT,
    moved_count INTEGER NOT NULL DEFAULT 0, moved_candidate TEXT, feed_title TEXT, feed_link TEXT,
    ttl_seconds INTEGER, cache_seconds INTEGER, cache_by TEXT, next_due DOUBLE PRECISION,
    lease_owner TEXT, lease_token TEXT, lease_until DOUBLE PRECISION,
    last_new_at DOUBLE PRECISION, fetches INTEGER NOT NULL DEFAULT 0, not_modified INTEGER NOT NULL DEFAULT 0,
    stale_200 INTEGER NOT NULL DEFAULT 0, items_seen INTEGER NOT NULL DEFAULT 0,
    undated INTEGER NOT NULL DEFAULT 0, future_dated INTEGER NOT NULL DEFAULT 0,
    redated INTEGER NOT NULL DEFAULT 0, churn TEXT, error_class TEXT, first_seen_order TEXT
);
CREATE INDEX IF NOT EXISTS source_lease ON source (lease_token);
CREATE INDEX IF NOT EXISTS source_due ON source (next_due);
CREATE TABLE IF NOT EXISTS item (
    pk BIGSERIAL PRIMARY KEY, source TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL,
    data TEXT NOT NULL, content_hash TEXT NOT NULL, date DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL, first_seen DOUBLE PRECISION NOT NULL, run BIGINT NOT NULL,
    present INTEGER NOT NULL DEFAULT 1, link TEXT, page TEXT, backlog INTEGER NOT NULL DEFAULT 0,
    rev BIGINT NOT NULL DEFAULT 0,
    UNIQUE (source, key)
);
CREATE INDEX IF NOT EXISTS item_order ON item (date DESC, id);
CREATE INDEX IF NOT EXISTS item_gone ON item (present, date);
CREATE INDEX IF NOT EXISTS item_archive ON item (date, rev, pk);
CREATE TABLE IF NOT EXISTS alias (
    source TEXT NOT NULL, key TEXT NOT NULL,
    item_pk BIGINT NOT NULL REFERENCES item (pk) ON DELETE CASCADE, link TEXT,
    PRIMARY KEY (source, key)
);
CREATE INDEX IF NOT EXISTS alias_item ON alias (item_pk);
CREATE TABLE IF NOT EXISTS dkey (
    dkey TEXT PRIMARY KEY, item_pk BIGINT NOT NULL REFERENCES item (pk) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS dkey_item ON dkey (item_pk);
CREATE TABLE IF NOT EXISTS seen (
    source TEXT NOT NULL, fp TEXT NOT NULL, key TEXT NOT NULL, dkeys TEXT NOT NULL,
    PRIMARY KEY (source, fp)
);
CREATE TABLE IF NOT EXISTS purge_due (source TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS file (
    source TEXT NOT NULL, relpath TEXT NOT NULL, size BIGINT NOT NULL, mtime_ns BIGINT NOT NULL,
    key TEXT, PRIMARY KEY (source, relpath)
);
CREATE TABLE IF NOT EXISTS publish (
    id INTEGER PRIMARY KEY CHECK (id = 1), fingerprint TEXT NOT NULL, selection TEXT NOT NULL,
    files TEXT NOT NULL, items INTEGER NOT NULL, at DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS host (
    grp TEXT PRIMARY KEY, next_start DOUBLE PRECISION NOT NULL DEFAULT 0, paused_until DOUBLE PRECISION, reason TEXT
);
CREATE TABLE IF NOT EXISTS worker (
    id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, started DOUBLE PRECISION NOT NULL,
    heartbeat DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS moderation (
    item_pk BIGINT PRIMARY KEY REFERENCES item (pk) ON DELETE CASCADE, hidden INTEGER NOT NULL DEFAULT 0,
    actor TEXT, at DOUBLE PRECISION, reason TEXT, pinned_until DOUBLE PRECISION, pinned_by TEXT,
    pinned_at DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS archive (path TEXT PRIMARY KEY, digest TEXT NOT NULL)
"""

# advisory lock keys (one 64-bit space per database): "feedsvc" in ASCII, plus the purpose
SCHEMA_KEY = 0x66656564737663_01
WRITER_KEY = 0x66656564737663_02
PUBLISH_KEY = 0x66656564737663_03


class PostgresStorage(SqlStorage):
    """``protocol.Storage`` on a PostgreSQL database (libpq URL)."""

    shared = True

    def __init__(self, url: str, readonly: bool = False) -> None:
        try:
            import psycopg
        except ImportError as exc:      # the optional dependency
            raise StoreError("a postgresql:// store needs psycopg: pip install 'feedsvc[postgresql]'") from exc
        super().__init__()
        self.url = url
        self.readonly = readonly
        self.dialect = Dialect(param="%s", begin="BEGIN", writer_lock=f"SELECT pg_advisory_xact_lock({WRITER_KEY})",
                               errors=(psycopg.Error,), for_update="FOR UPDATE")
        self._psycopg: Any = psycopg
        try:
            self._init_schema()
        except psycopg.Error as exc:
            self.close()
            raise self._wrap(exc, "cannot be opened") from exc

    def describe(self) -> str:
        return redact(self.url)

    def _wrap(self, exc: BaseException, what: str) -> StoreError:
        text = " ".join(str(exc).split())
        password = _password(self.url)
        if password:
            text = text.replace(password, "***")
        return StoreError(f"the store {self.describe()} {what}: {text}")

    def _connect(self) -> Conn:
        try:
            conn = self._psycopg.connect(self.url, autocommit=True, connect_timeout=10,
                                         application_name="feedsvc")
        except self._psycopg.Error as exc:
            raise self._wrap(exc, "cannot be reached") from exc
        if self.readonly:
            conn.execute("SET default_transaction_read_only = on")
        conn_: Conn = conn
        return conn_

    def _init_schema(self) -> None:
        """Create the tables once: workers that start together take turns on a session lock, and
        the second finds the schema in place."""
        conn = self._conn()
        row = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()
        if row[0]:
            version = conn.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()
            if version and int(version[0]) == SCHEMA_VERSION:
                return
            if version and int(version[0]) > SCHEMA_VERSION:
                raise StoreError(f"the store {self.describe()} was written by a newer feedsvc "
                                 f"(schema {version[0]}); upgrade feedsvc")
        if self.readonly:
            raise StoreError(f"the store {self.describe()} has no feedsvc schema yet: run 'feedsvc store init'")
        conn.execute(f"SELECT pg_advisory_lock({SCHEMA_KEY})")
        try:
            conn.execute("BEGIN")
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute("INSERT INTO meta (k, v) VALUES ('schema', %s) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                         (str(SCHEMA_VERSION),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.execute(f"SELECT pg_advisory_unlock({SCHEMA_KEY})")

    def ping(self) -> None:
        conn = self._connect()
        try:
            conn.execute("SELECT 1").fetchone()
        except self._psycopg.Error as exc:
            raise self._wrap(exc, "does not answer") from exc
        finally:
            conn.close()

    @contextmanager
    def publisher(self, timeout: float) -> Iterator[None]:
        """The publisher lock: a session advisory lock on a connection of its own (the server
        drops it when that connection ends, so a dead worker never keeps it)."""
        conn = self._connect()
        try:
            deadline = time.monotonic() + timeout
            while not conn.execute(f"SELECT pg_try_advisory_lock({PUBLISH_KEY})").fetchone()[0]:
                if time.monotonic() >= deadline:
                    raise LockTimeout("another feedsvc process is publishing from this store")
                time.sleep(0.1)
            try:
                yield
            finally:
                conn.execute(f"SELECT pg_advisory_unlock({PUBLISH_KEY})")
        except self._psycopg.Error as exc:
            raise self._wrap(exc, "cannot be locked for publishing") from exc
        finally:
            conn.close()

    def reset_sequences(self) -> None:
        """After rows were copied in with their keys (``feedsvc store copy``)."""
        with self._transaction() as db:
            db.run("SELECT setval(pg_get_serial_sequence('item', 'pk'), COALESCE((SELECT MAX(pk) FROM item), 0) + 1, false)")


def _password(url: str) -> str | None:
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(url)
    if parts.password:
        return unquote(parts.password)
    values = parse_qs(parts.query).get("password")
    return values[0] if values else None
