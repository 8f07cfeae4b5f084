"""The persistent store: SQLite in WAL mode. The only module with SQL.

Tables
  source  per-source fetch state (ETag, Last-Modified, errors, back-off, permanent URL)
  item    one row per story: its owner source and entry key, published id, the Item as JSON,
          the dates the store owns (first_seen, date used for ordering, updated)
  alias   entry keys of other sources that carried the same story (also_in), with their links
  dkey    match keys (canonical links, global ids, fingerprints) → the item that holds them
  seen    fingerprints of the entries of each source's last parsed fetch → their entry key and
          match keys, so an entry seen unchanged is not normalised again
  file    local article files: size and mtime, so an unchanged rescan reads nothing
  meta    schema version and the refresh-run counter

Every refresh of a source is applied in one transaction (``transaction()``, BEGIN IMMEDIATE), so
a crash at any instant leaves the store as it was before or after that source.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from feedsvc.items.decide import Action, Decision, Known, Snapshot
from feedsvc.items.keys import match_keys
from feedsvc.errors import StoreError
from feedsvc.model import Copy, Enclosure, Item, Origin, Person, SourceState, StoredItem
from feedsvc.model import Seen

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS source (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, url TEXT, etag TEXT, last_modified TEXT,
    body_hash TEXT, last_attempt REAL, last_success REAL, last_error TEXT, error_since REAL,
    failures INTEGER NOT NULL DEFAULT 0, warning TEXT, retry_after REAL,
    gone INTEGER NOT NULL DEFAULT 0, moved_to TEXT, moved_count INTEGER NOT NULL DEFAULT 0,
    moved_candidate TEXT, feed_title TEXT, feed_link TEXT, ttl_seconds INTEGER
);
CREATE TABLE IF NOT EXISTS item (
    pk INTEGER PRIMARY KEY, source TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL,
    data TEXT NOT NULL, content_hash TEXT NOT NULL, date REAL NOT NULL, updated REAL NOT NULL,
    first_seen REAL NOT NULL, run INTEGER NOT NULL, present INTEGER NOT NULL DEFAULT 1,
    UNIQUE (source, key)
);
CREATE INDEX IF NOT EXISTS item_order ON item (date DESC, id);
CREATE INDEX IF NOT EXISTS item_gone ON item (present, date);
CREATE TABLE IF NOT EXISTS alias (
    source TEXT NOT NULL, key TEXT NOT NULL,
    item_pk INTEGER NOT NULL REFERENCES item (pk) ON DELETE CASCADE,
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
"""

_ITEM_FIELDS = [f.name for f in fields(Item)]
_STATE_FIELDS = [f.name for f in fields(SourceState) if f.name not in ("item_count",)]
_TIME_FIELDS = {"last_attempt", "last_success", "error_since", "retry_after"}


def _ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, timezone.utc) if ts is not None else None


def _state_row(st: SourceState) -> list[Any]:
    """A SourceState as the source table's columns (``_STATE_FIELDS`` order)."""
    d = {k: getattr(st, k) for k in _STATE_FIELDS}
    for k in _TIME_FIELDS:
        d[k] = _ts(d[k])
    d["gone"] = int(d["gone"])
    return [d[k] for k in _STATE_FIELDS]


def _state_from_row(row: Sequence[Any]) -> SourceState:
    """A ``_STATE_SELECT`` row (the source table's columns, then the item count) as a SourceState."""
    d = dict(zip(_STATE_FIELDS, row))
    for k in _TIME_FIELDS:
        d[k] = _dt(d[k])
    d["gone"] = bool(d["gone"])
    d["item_count"] = row[len(_STATE_FIELDS)]
    return SourceState(**d)


def item_to_json(item: Item) -> str:
    # field by field: dataclasses.asdict deep-copies every value and cost more than the insert
    d = {f: getattr(item, f) for f in _ITEM_FIELDS}
    d["authors"] = [{"name": p.name, "email": p.email, "uri": p.uri} for p in item.authors]
    d["enclosures"] = [{"url": e.url, "type": e.type, "length": e.length} for e in item.enclosures]
    o = item.origin
    d["origin"] = {"title": o.title, "link": o.link, "id": o.id, "home": o.home}
    d["categories"] = list(item.categories)
    d["dedup_keys"] = list(item.dedup_keys)
    for k in ("published", "updated"):
        d[k] = d[k].isoformat() if d[k] else None
    return json.dumps(d, ensure_ascii=False, separators=(",", ":"))


def item_from_json(text: str) -> Item:
    d: dict[str, Any] = json.loads(text)
    d["authors"] = tuple(Person(**a) for a in d["authors"])
    d["enclosures"] = tuple(Enclosure(**e) for e in d["enclosures"])
    d["origin"] = Origin(**d["origin"])
    d["categories"] = tuple(d["categories"])
    d["dedup_keys"] = tuple(d["dedup_keys"])
    for k in ("published", "updated"):
        d[k] = datetime.fromisoformat(d[k]) if d[k] else None
    return Item(**d)


class Store:
    """The SQLite store. One instance per thread (connections are not shared)."""

    def __init__(self, path: Path, write_lock: threading.Lock | None = None, migrate: bool = True) -> None:
        """``write_lock``: shared by the Stores of one process (one per thread), so their write
        transactions queue on it instead of on SQLite's busy handler, which polls with sleeps of
        up to 100 ms. Other processes still meet the busy handler. ``migrate=False``: another
        Store of this process has already created and checked the schema (a write transaction
        of a dozen statements that every fetch thread's Store repeated to no effect)."""
        self.path = Path(path)
        self._write_lock = write_lock
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout = 60000")
            mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.DatabaseError(f"cannot switch to WAL mode (got {mode})")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA cache_size = -1024")   # 1 MiB a connection (one per fetch thread)
            self.db.execute("PRAGMA foreign_keys = ON")
            if migrate:
                self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"the store {self.path} cannot be opened ({exc}). If it is corrupt, move it aside "
                "(and its -wal/-shm files) and run 'feedsvc refresh' to rebuild it from the sources."
            ) from exc
        except OSError as exc:
            raise StoreError(f"the store {self.path} cannot be created: {exc}") from exc

    def _migrate(self) -> None:
        with self.transaction():
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    self.db.execute(stmt)
            # added in place (older feedsvc ignores it): the link of each also_in copy
            if "link" not in {r[1] for r in self.db.execute("PRAGMA table_info(alias)")}:
                self.db.execute("ALTER TABLE alias ADD COLUMN link TEXT")
            row = self.db.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()
            if row is None:
                self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(f"the store {self.path} was written by a newer feedsvc "
                                 f"(schema {row[0]}); upgrade feedsvc")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT; rolled back on any exception."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"the store {self.path} is not writable: {exc}") from exc
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            else:
                try:
                    self.db.execute("COMMIT")
                except sqlite3.DatabaseError as exc:
                    self.db.execute("ROLLBACK")
                    raise StoreError(f"the store {self.path} could not commit: {exc}") from exc
        finally:
            if lock is not None:
                lock.release()

    # ---- runs ------------------------------------------------------------------------------

    def next_run(self) -> int:
        with self.transaction():
            row = self.db.execute("SELECT v FROM meta WHERE k = 'run'").fetchone()
            run = int(row[0]) + 1 if row else 1
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('run', ?)", (str(run),))
        return run

    # ---- meta: the generation (bumped by every change of items), what was last published ------

    def generation(self) -> int:
        row = self.db.execute("SELECT v FROM meta WHERE k = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def _bump(self) -> None:
        self.db.execute("INSERT INTO meta VALUES ('generation', '1') "
                        "ON CONFLICT (k) DO UPDATE SET v = CAST(v AS INTEGER) + 1")

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT v FROM meta WHERE k = ?", ("x:" + key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", ("x:" + key, value))

    # ---- source state ------------------------------------------------------------------------

    _STATE_SELECT = (f"SELECT {', '.join('s.' + f for f in _STATE_FIELDS)}, "
                     "(SELECT COUNT(*) FROM item i WHERE i.source = s.name) FROM source s")

    def state(self, name: str, kind: str = "feed", url: str | None = None) -> SourceState:
        row = self.db.execute(self._STATE_SELECT + " WHERE s.name = ?", (name,)).fetchone()
        if row is None:
            return SourceState(name=name, kind=kind, url=url)
        return _state_from_row(row)

    def states(self) -> dict[str, SourceState]:
        """Every source's state, in one query (what ``state`` gives for each name the store knows)."""
        return {st.name: st for st in map(_state_from_row, self.db.execute(self._STATE_SELECT))}

    def feed_meta(self) -> dict[str, tuple[str | None, str | None]]:
        """Every source's feed title and home link (what publishing shows of it), in one query."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT name, feed_title, feed_link FROM source")}

    def local_sources(self) -> set[str]:
        """Names of the local-article sources the store has state for (configured or not)."""
        return {r[0] for r in self.db.execute("SELECT name FROM source WHERE kind = 'local'")}

    def save_state(self, st: SourceState) -> None:
        cols = ", ".join(_STATE_FIELDS)
        marks = ", ".join("?" for _ in _STATE_FIELDS)
        self.db.execute(f"INSERT OR REPLACE INTO source ({cols}) VALUES ({marks})", _state_row(st))

    def save_states_unless_newer(self, states: Sequence[SourceState]) -> None:
        """``save_state`` for each, except where the store holds a later attempt (another
        process refreshed the source after these were taken): a deferred write never rolls a
        source's state back."""
        cols = ", ".join(_STATE_FIELDS)
        marks = ", ".join("?" for _ in _STATE_FIELDS)
        sets = ", ".join(f"{k} = excluded.{k}" for k in _STATE_FIELDS if k != "name")
        self.db.executemany(
            f"INSERT INTO source ({cols}) VALUES ({marks}) ON CONFLICT (name) DO UPDATE SET {sets} "
            "WHERE source.last_attempt IS NULL OR excluded.last_attempt >= source.last_attempt",
            [_state_row(st) for st in states])

    # ---- items -------------------------------------------------------------------------------

    def count_items(self, source: str | None = None) -> int:
        if source is None:
            return int(self.db.execute("SELECT COUNT(*) FROM item").fetchone()[0])
        return int(self.db.execute("SELECT COUNT(*) FROM item WHERE source = ?", (source,)).fetchone()[0])

    def snapshot(self, source: str, items: Sequence[Item]) -> Snapshot:
        """What the store holds for these incoming items (call inside the source's transaction)."""
        own: dict[str, Known] = {}
        by_dkey: dict[str, Known] = {}
        keys = list({i.key for i in items})
        for chunk in _chunks(keys, 500):
            marks = ",".join("?" * len(chunk))
            for key, pk, owner, h, run in self.db.execute(
                    f"SELECT key, pk, source, content_hash, run FROM item WHERE source = ? AND key IN ({marks})",
                    [source, *chunk]):
                own[key] = Known(pk, owner, h, run)
            for key, pk, owner, h, run in self.db.execute(
                    f"SELECT a.key, i.pk, i.source, i.content_hash, i.run FROM alias a JOIN item i ON i.pk = a.item_pk "
                    f"WHERE a.source = ? AND a.key IN ({marks})", [source, *chunk]):
                own.setdefault(key, Known(pk, owner, h, run))
        dkeys = list({k for i in items for k in match_keys(i)})
        for chunk in _chunks(dkeys, 500):
            marks = ",".join("?" * len(chunk))
            for dkey, pk, owner, h, run in self.db.execute(
                    f"SELECT d.dkey, i.pk, i.source, i.content_hash, i.run FROM dkey d JOIN item i ON i.pk = d.item_pk "
                    f"WHERE d.dkey IN ({marks})", chunk):
                by_dkey[dkey] = Known(pk, owner, h, run)
        return Snapshot(own=own, by_dedup_key=by_dkey)

    def apply(self, source: str, decisions: Sequence[Decision], now: datetime, run: int,
              present: bool = True, kept: Mapping[str, tuple[int, bool]] | None = None) -> dict[str, int]:
        """Write the decisions of one source (call inside its transaction). Returns counts.

        ``kept``: entries of this fetch that were not normalised again (unchanged since last
        time), as ``resolve_keys`` gives them; they count as unchanged and stay present."""
        counts = {"new": 0, "updated": 0, "unchanged": 0, "duplicates": 0}
        self._bump()
        # its items may now exceed the per-source limit (more of them, or fewer still in the feed)
        self.db.execute("INSERT OR IGNORE INTO purge_due (source) VALUES (?)", (source,))
        t = now.timestamp()
        seen_pks: list[int] = [pk for pk, own in (kept or {}).values() if own]
        counts["unchanged"] += len(kept or {})
        for d in decisions:
            item = d.item
            if d.action is Action.NEW:
                date = (item.published or item.updated or now).timestamp()
                upd = (item.updated or item.published or now).timestamp()
                cur = self.db.execute(
                    "INSERT INTO item (source, key, id, data, content_hash, date, updated, first_seen, run, present) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    (source, item.key, item.id, item_to_json(item), item.content_hash, date, upd, t, run))
                pk = int(cur.lastrowid or 0)
                self._add_dkeys(pk, item.dedup_keys)
                counts["new"] += 1
                seen_pks.append(pk)
            elif d.action is Action.UPDATE:
                assert d.target is not None
                pk = d.target.pk
                row = self.db.execute("SELECT id, updated, date, first_seen, key, content_hash FROM item "
                                      "WHERE pk = ?", (pk,)).fetchone()
                old_id, old_upd, old_date, first_seen, old_key, old_hash = row
                new_upd = item.updated.timestamp() if item.updated else t
                # only a change a reader sees moves "updated" (not a new guid for the same post)
                new_upd = max(new_upd, old_upd) if old_hash != item.content_hash else old_upd
                date = old_date
                if item.published is not None and old_date == first_seen:
                    date = item.published.timestamp()  # a date appeared where we had only first_seen
                kept = replace(item, id=old_id)
                if old_key != item.key:
                    clash = self.db.execute("SELECT 1 FROM item WHERE source = ? AND key = ?", (source, item.key)).fetchone()
                    if clash is None:
                        self.db.execute("UPDATE item SET key = ? WHERE pk = ?", (item.key, pk))
                    kept = replace(kept, key=old_key if clash else item.key)
                self.db.execute("UPDATE item SET data = ?, content_hash = ?, updated = ?, date = ?, present = 1 "
                                "WHERE pk = ?", (item_to_json(kept), item.content_hash, new_upd, date, pk))
                self.db.execute("DELETE FROM dkey WHERE item_pk = ?", (pk,))
                self._add_dkeys(pk, item.dedup_keys)
                counts["updated"] += 1
                seen_pks.append(pk)
            elif d.action is Action.UNCHANGED:
                assert d.target is not None
                counts["unchanged"] += 1
                if d.target.source == source:
                    seen_pks.append(d.target.pk)
            elif d.action is Action.DUPLICATE:
                assert d.target is not None
                self.db.execute("INSERT OR REPLACE INTO alias (source, key, item_pk, link) VALUES (?, ?, ?, ?)",
                                (source, item.key, d.target.pk, item.link))
                self._add_dkeys(d.target.pk, item.dedup_keys)
                counts["duplicates"] += 1
            elif d.action is Action.TAKEOVER:
                assert d.target is not None
                pk = d.target.pk
                old_source, old_key, old_id, old_data = self.db.execute(
                    "SELECT source, key, id, data FROM item WHERE pk = ?", (pk,)).fetchone()
                date = (item.published or item.updated or now).timestamp()
                upd = (item.updated or item.published or now).timestamp()
                # a story published in an earlier run keeps its id: readers must not see a re-post;
                # so does one whose new id another stored story already holds (a guid the taking
                # source shares with a third source's item, matched here by link): ids stay unique
                holder = self.db.execute("SELECT item_pk FROM dkey WHERE dkey = ?", ("id:" + item.id,)).fetchone()
                taken = holder is not None and holder[0] != pk
                new_id = item.id if d.target.run == run and not taken else old_id
                self.db.execute("DELETE FROM alias WHERE source = ? AND key = ?", (source, item.key))
                self.db.execute("UPDATE item SET source = ?, key = ?, id = ?, data = ?, content_hash = ?, "
                                "date = ?, updated = ?, present = 1 WHERE pk = ?",
                                (source, item.key, new_id, item_to_json(replace(item, id=new_id)),
                                 item.content_hash, date, upd, pk))
                self.db.execute("INSERT OR REPLACE INTO alias (source, key, item_pk, link) VALUES (?, ?, ?, ?)",
                                (old_source, old_key, pk, json.loads(old_data).get("link")))
                self._add_dkeys(pk, item.dedup_keys)
                counts["new"] += 1
                seen_pks.append(pk)
        if present:
            # only the rows whose flag changes: an UPDATE rewrites a whole row, JSON and all
            # (~5 KB an item), so flagging every item of a feed twice cost more than the rest of
            # storing a feed that gained one entry
            keep = set(seen_pks)
            now_present = {pk for pk, p in self.db.execute(
                "SELECT pk, present FROM item WHERE source = ?", (source,)) if p}
            for flag, pks in ((0, sorted(now_present - keep)), (1, sorted(keep - now_present))):
                for chunk in _chunks(pks, 500):
                    self.db.execute(f"UPDATE item SET present = {flag} WHERE pk IN "
                                    f"({','.join('?' * len(chunk))})", chunk)
        return counts

    def resolve_keys(self, source: str, keys: Sequence[str]) -> dict[str, tuple[int, bool]]:
        """Entry keys of a source → (item pk, whether the source owns it or holds an alias)."""
        out: dict[str, tuple[int, bool]] = {}
        keys = list(dict.fromkeys(keys))
        for chunk in _chunks(keys, 500):
            marks = ",".join("?" * len(chunk))
            for key, pk in self.db.execute(f"SELECT key, item_pk FROM alias WHERE source = ? AND key IN ({marks})",
                                           [source, *chunk]):
                out[key] = (pk, False)
            for key, pk in self.db.execute(f"SELECT key, pk FROM item WHERE source = ? AND key IN ({marks})",
                                           [source, *chunk]):
                out[key] = (pk, True)
        return out

    def seen(self, source: str) -> dict[str, Seen]:
        """The fingerprints of the source's entries at its last parsed fetch."""
        return {fp: Seen(key, tuple(json.loads(dk)))
                for fp, key, dk in self.db.execute("SELECT fp, key, dkeys FROM seen WHERE source = ?", (source,))}

    def set_seen(self, source: str, rows: Sequence[tuple[str, Seen]]) -> None:
        """Make ``rows`` the source's fingerprints, writing only the difference (a fingerprint
        always stands for the same entry key and dedup keys, so a kept one needs no write)."""
        new = dict(rows)
        old = {fp for (fp,) in self.db.execute("SELECT fp FROM seen WHERE source = ?", (source,))}
        self.db.executemany("DELETE FROM seen WHERE source = ? AND fp = ?",
                            [(source, fp) for fp in old - new.keys()])
        self.db.executemany("INSERT OR REPLACE INTO seen (source, fp, key, dkeys) VALUES (?, ?, ?, ?)",
                            [(source, fp, s.key, json.dumps(s.dedup_keys)) for fp, s in new.items()
                             if fp not in old])

    def _add_dkeys(self, pk: int, keys: Iterable[str]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO dkey (dkey, item_pk) VALUES (?, ?)", [(k, pk) for k in keys])

    def delete_items(self, source: str, keys: Iterable[str]) -> int:
        self._bump()
        n = 0
        for key in keys:
            n += self.db.execute("DELETE FROM item WHERE source = ? AND key = ?", (source, key)).rowcount
            self.db.execute("DELETE FROM alias WHERE source = ? AND key = ?", (source, key))
        return n

    def newest(self, limit: int) -> list[StoredItem]:
        """The newest ``limit`` items, newest first, ties broken by id (an indexed query)."""
        rows = self.db.execute(
            "SELECT pk, id, data, first_seen, date, updated, source FROM item ORDER BY date DESC, id LIMIT ?",
            (limit,)).fetchall()
        return self._stored(rows)

    def items_of(self, source: str) -> list[StoredItem]:
        rows = self.db.execute(
            "SELECT pk, id, data, first_seen, date, updated, source FROM item WHERE source = ? ORDER BY date DESC, id",
            (source,)).fetchall()
        return self._stored(rows)

    def pages(self, sources: Sequence[str] | None = None) -> list[StoredItem]:
        """Items that carry a local article page (only local sources have them: pass their names
        to read those sources' rows instead of every item's JSON)."""
        where = "json_extract(data, '$.page') IS NOT NULL"
        args: list[Any] = []
        if sources is not None:
            if not sources:
                return []
            where = f"source IN ({','.join('?' * len(sources))}) AND " + where
            args = list(sources)
        rows = self.db.execute(
            "SELECT pk, id, data, first_seen, date, updated, source FROM item "
            f"WHERE {where} ORDER BY date DESC, id", args).fetchall()
        return self._stored(rows)

    def _stored(self, rows: Sequence[tuple[Any, ...]]) -> list[StoredItem]:
        also: dict[int, dict[str, str | None]] = {}
        pks = [r[0] for r in rows]
        for chunk in _chunks(pks, 500):
            for pk, src, link in self.db.execute(
                    f"SELECT item_pk, source, link FROM alias WHERE item_pk IN ({','.join('?' * len(chunk))}) "
                    "ORDER BY source, link IS NULL, link", chunk):
                also.setdefault(pk, {}).setdefault(src, link)   # one copy per source
        out = []
        for pk, id_, data, first_seen, date, updated, source in rows:
            item = item_from_json(data)
            if item.id != id_ or item.source != source:
                item = replace(item, id=id_, source=source)
            copies = tuple(Copy(s, link) for s, link in also.get(pk, {}).items() if s != source)
            out.append(StoredItem(item=item, first_seen=_dt(first_seen) or datetime.now(timezone.utc),
                                  date=_dt(date) or datetime.now(timezone.utc),
                                  updated=_dt(updated) or datetime.now(timezone.utc),
                                  also_in=tuple(c.source for c in copies), copies=copies))
        return out

    def purge(self, now: datetime, max_age: float, per_source: int) -> int:
        """Drop items gone from their feed that are older than ``max_age`` or beyond the newest
        ``per_source`` of their source."""
        cutoff = now.timestamp() - max_age
        n = self.db.execute("DELETE FROM item WHERE present = 0 AND date < ?", (cutoff,)).rowcount
        # the per-source limit: every source the first time and when the limit changed; else only
        # the sources written since the last purge (``apply`` lists them), not a count of the
        # whole (source, key) index every round
        if self.get_meta("purge_limit") != str(per_source):
            over = [r[0] for r in self.db.execute(
                "SELECT source FROM item GROUP BY source HAVING COUNT(*) > ?", (per_source,))]
            self.set_meta("purge_limit", str(per_source))
        else:
            over = [src for (src,) in self.db.execute("SELECT source FROM purge_due").fetchall()
                    if self.count_items(src) > per_source]
        for src in over:
            n += self.db.execute(
                "DELETE FROM item WHERE present = 0 AND pk IN (SELECT pk FROM item WHERE source = ? "
                "ORDER BY date DESC, id LIMIT -1 OFFSET ?)", (src, per_source)).rowcount
        self.db.execute("DELETE FROM purge_due")
        if n:
            self._bump()
        return n

    # ---- local article files -------------------------------------------------------------------

    def files(self, source: str) -> dict[str, tuple[int, int, str | None]]:
        return {r[0]: (r[1], r[2], r[3]) for r in self.db.execute(
            "SELECT relpath, size, mtime_ns, key FROM file WHERE source = ?", (source,))}

    def set_file(self, source: str, relpath: str, size: int, mtime_ns: int, key: str | None) -> None:
        self.db.execute("INSERT OR REPLACE INTO file (source, relpath, size, mtime_ns, key) VALUES (?, ?, ?, ?, ?)",
                        (source, relpath, size, mtime_ns, key))

    def delete_file(self, source: str, relpath: str) -> None:
        self.db.execute("DELETE FROM file WHERE source = ? AND relpath = ?", (source, relpath))


def _chunks(seq: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]
