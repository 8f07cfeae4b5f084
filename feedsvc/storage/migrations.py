"""Upgrades of a SQLite store written by an earlier feedsvc, run inside the migrating transaction
(``SqliteStorage._migrate``), before the current schema's ``CREATE … IF NOT EXISTS``.

Schema 1 → 2:
- ``source.next_due`` (the daemon's schedule lives in the store now);
- ``item.link`` and ``item.page`` as columns (read from each item's JSON once), so a snapshot
  and the article pages need no JSON;
- the publish bookkeeping as a row of ``publish`` instead of newline-joined strings in ``meta``;
- every item's derived match keys (``fp:``, ``pf:``, ``lt:``) computed again: the fingerprint
  now keeps the boundaries between digit groups ("Release 1.10" ≠ "Release 11.0"). The copies'
  own derived keys are dropped with the old ones (a copy is still found by its entry key and
  link); ``seen`` is emptied, so each feed's next fetch normalises its entries once more and
  decides them against their stored items by entry key: nothing is posted again.

Schema 2 → 3: ``source.lease_owner``, ``lease_token``, ``lease_until`` (claims are leases in
the store, the same on SQLite and PostgreSQL) and the ``worker`` table.

Schema 3 → 4: ``source.cache_seconds``, ``cache_by`` and the ``host`` table.

Schema 4 → 5: the health counters of each source (``last_new_at``, ``fetches``, ``not_modified``,
``stale_200``, ``items_seen``, ``undated``, ``future_dated``, ``redated``, ``churn``,
``error_class``); how its items are ordered (``first_seen_order``); an item held back from the
front page as a new source's backlog (``item.backlog``) and the generation of its last change
(``item.rev``); the ``moderation`` and ``archive`` tables (created by the schema
itself).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

from feedsvc.items.keys import DERIVED_KEYS, rederive_keys
from feedsvc.storage.codec import item_from_json, item_to_json


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}


def upgrade(db: sqlite3.Connection, version: int) -> None:
    if version < 2:
        _to_2(db)
    if version < 3:
        _to_3(db)
    if version < 4:
        _to_4(db)
    if version < 5:
        _to_5(db)


def _to_5(db: sqlite3.Connection) -> None:
    """Schema 4 → 5: each source's health counters (items/health.py)."""
    cols = _columns(db, "source")
    for col, kind in (("last_new_at", "REAL"), ("fetches", "INTEGER NOT NULL DEFAULT 0"),
                      ("not_modified", "INTEGER NOT NULL DEFAULT 0"), ("stale_200", "INTEGER NOT NULL DEFAULT 0"),
                      ("items_seen", "INTEGER NOT NULL DEFAULT 0"), ("undated", "INTEGER NOT NULL DEFAULT 0"),
                      ("future_dated", "INTEGER NOT NULL DEFAULT 0"), ("redated", "INTEGER NOT NULL DEFAULT 0"),
                      ("churn", "TEXT"), ("error_class", "TEXT"), ("first_seen_order", "TEXT")):
        if col not in cols:
            db.execute(f"ALTER TABLE source ADD COLUMN {col} {kind}")
    # a new source's backlog, and the change an archive period's digest follows
    cols = _columns(db, "item")
    for col, kind in (("backlog", "INTEGER NOT NULL DEFAULT 0"), ("rev", "INTEGER NOT NULL DEFAULT 0")):
        if col not in cols:
            db.execute(f"ALTER TABLE item ADD COLUMN {col} {kind}")


def _to_4(db: sqlite3.Connection) -> None:
    """Schema 3 → 4: the cache lifetime a source's server asked for (the ``host`` table, for
    per-host pauses and starts, is created by the schema itself)."""
    cols = _columns(db, "source")
    for col, kind in (("cache_seconds", "INTEGER"), ("cache_by", "TEXT")):
        if col not in cols:
            db.execute(f"ALTER TABLE source ADD COLUMN {col} {kind}")


def _to_3(db: sqlite3.Connection) -> None:
    """Schema 2 → 3: a source row carries the lease of the worker refreshing it."""
    cols = _columns(db, "source")
    for col, kind in (("lease_owner", "TEXT"), ("lease_token", "TEXT"), ("lease_until", "REAL")):
        if col not in cols:
            db.execute(f"ALTER TABLE source ADD COLUMN {col} {kind}")


def _to_2(db: sqlite3.Connection) -> None:
    if "next_due" not in _columns(db, "source"):
        db.execute("ALTER TABLE source ADD COLUMN next_due REAL")
    if "link" not in _columns(db, "alias"):
        db.execute("ALTER TABLE alias ADD COLUMN link TEXT")
    cols = _columns(db, "item")
    for col in ("link", "page"):
        if col not in cols:
            db.execute(f"ALTER TABLE item ADD COLUMN {col} TEXT")
    derived = tuple(DERIVED_KEYS)
    db.execute("DELETE FROM dkey WHERE " + " OR ".join("dkey LIKE ?" for _ in derived),
               [p + "%" for p in derived])
    rows = db.execute("SELECT pk, data FROM item").fetchall()
    for pk, data in rows:
        item = item_from_json(data)
        # a derived key decide had dropped (shared by several entries of one fetch) stays dropped
        had = {k[:3] for k in item.dedup_keys if k.startswith(derived)}
        keys = tuple(k for k in rederive_keys(item) if not k.startswith(derived) or k[:3] in had)
        if keys != item.dedup_keys:
            item = replace(item, dedup_keys=keys)
            data = item_to_json(item)
        db.execute("UPDATE item SET link = ?, page = ?, data = ? WHERE pk = ?", (item.link, item.page, data, pk))
        db.executemany("INSERT OR IGNORE INTO dkey (dkey, item_pk) VALUES (?, ?)",
                       [(k, pk) for k in keys if k.startswith(derived)])
    db.execute("DELETE FROM seen")
    meta = dict(db.execute("SELECT k, v FROM meta WHERE k LIKE 'x:%'").fetchall())
    db.execute("CREATE TABLE IF NOT EXISTS publish (id INTEGER PRIMARY KEY CHECK (id = 1), "
               "fingerprint TEXT NOT NULL, selection TEXT NOT NULL, files TEXT NOT NULL, "
               "items INTEGER NOT NULL, at REAL)")
    published = meta.get("x:published")
    if published is not None:
        fingerprint, _, files = published.partition("\n")
        db.execute("INSERT OR REPLACE INTO publish (id, fingerprint, selection, files, items) VALUES (1, ?, ?, ?, ?)",
                   (fingerprint, meta.get("x:published_selection", ""),
                    json.dumps([f for f in files.split("\n") if f]), int(meta.get("x:published_items") or 0)))
    if "x:purge_limit" in meta:
        db.execute("INSERT OR REPLACE INTO meta VALUES ('purge_limit', ?)", (meta["x:purge_limit"],))
    db.execute("DELETE FROM meta WHERE k LIKE 'x:%'")
