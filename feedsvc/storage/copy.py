"""``feedsvc store copy FROM TO``: a whole store, from SQLite to PostgreSQL or back (or between two
of a kind): items with their ids, keys, dates and copies, every source's state and validators
(so the next refresh sends conditional GETs and posts nothing again), the entry fingerprints,
the local article files and the publish bookkeeping. Leases are not copied (no worker holds
anything in the new store). One transaction on the target: a failed copy leaves it as it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from feedsvc.errors import StoreError
from feedsvc.storage.rows import STATE_FIELDS, marks
from feedsvc.storage.sql import SqlStorage

# every table's columns, parents before children (the item keys are kept, so copies and match
# keys still point at their items)
TABLES: dict[str, Sequence[str]] = {
    "meta": ("k", "v"),
    "source": tuple(STATE_FIELDS),
    "item": ("pk", "source", "key", "id", "data", "content_hash", "date", "updated", "first_seen", "run",
             "present", "link", "page", "backlog", "rev"),
    "alias": ("source", "key", "item_pk", "link"),
    "dkey": ("dkey", "item_pk"),
    "seen": ("source", "fp", "key", "dkeys"),
    "purge_due": ("source",),
    "file": ("source", "relpath", "size", "mtime_ns", "key"),
    "publish": ("id", "fingerprint", "selection", "files", "items", "at"),
    "host": ("grp", "next_start", "paused_until", "reason"),
    "moderation": ("item_pk", "hidden", "actor", "at", "reason", "pinned_until", "pinned_by", "pinned_at"),
    "archive": ("path", "digest"),
}
BATCH = 1000


def _rows(store: SqlStorage, table: str, cols: Sequence[str]) -> Iterator[list[Sequence[Any]]]:
    where = " WHERE k <> 'schema'" if table == "meta" else ""
    order = " ORDER BY pk" if table == "item" else ""
    cur = store._conn().execute(f"SELECT {', '.join(cols)} FROM {table}{where}{order}")
    while True:
        batch = cur.fetchmany(BATCH)
        if not batch:
            return
        yield batch


def is_empty(store: SqlStorage) -> bool:
    return store.count_items() == 0 and not store.states()


def copy_store(src: SqlStorage, dst: SqlStorage, force: bool = False) -> dict[str, int]:
    """Copy every row of ``src`` into ``dst``; refuse a ``dst`` that holds anything unless
    ``force`` (then it is emptied first). Returns the rows copied per table."""
    if not force and not is_empty(dst):
        raise StoreError(f"the store {dst.describe()} is not empty (use --force to replace what it holds)")
    counts: dict[str, int] = {}
    try:
        with dst._transaction() as db:
            for table in reversed(TABLES):
                db.run(f"DELETE FROM {table}" + (" WHERE k <> 'schema'" if table == "meta" else ""))
            for table, cols in TABLES.items():
                n = 0
                for batch in _rows(src, table, cols):
                    db.many(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks(len(cols))})", batch)
                    n += len(batch)
                counts[table] = n
    except src.dialect.errors as exc:
        raise src._wrap(exc, "could not be read") from exc
    reset = getattr(dst, "reset_sequences", None)
    if reset is not None:
        reset()
    return counts
