"""One source's write transaction in SQL (``protocol.SourceTransaction``): read the snapshot the
deciders need, apply what they decided. Shared by SQLite and PostgreSQL through sql.py's dialect."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from feedsvc.items.decide import Action, ItemRef, Known, Snapshot
from feedsvc.model import Seen
from feedsvc.storage.codec import item_to_json
from feedsvc.storage.protocol import Counts, SourceUpdate
from feedsvc.storage.rows import KNOWN_COLS, UPSERT_STATE, Conn, Dialect, chunks, known, marks, state_row


class Db:
    """A connection inside a write transaction, with the dialect's placeholders."""

    def __init__(self, conn: Conn, dialect: Dialect) -> None:
        self.conn = conn
        self.d = dialect

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.conn.execute(self.d.q(sql), params).rowcount)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.conn.execute(self.d.q(sql), params).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self.d.q(sql), params).fetchone()

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.conn.cursor().executemany(self.d.q(sql), rows)


def next_generation(db: Db) -> int:
    """Move the store's generation on (the stored items changed) and return it."""
    (gen,) = db.one("INSERT INTO meta (k, v) VALUES ('generation', '1') "
                    "ON CONFLICT (k) DO UPDATE SET v = CAST(CAST(meta.v AS INTEGER) + 1 AS TEXT) RETURNING v")
    return int(gen)


def stamp(db: Db, gen: int, touched: Sequence[int]) -> None:
    """Stamp the ``touched`` items' rows with generation ``gen`` (``item.rev``: an archive
    period's digest follows its items' changes)."""
    for chunk in chunks(sorted(set(touched))):
        db.run(f"UPDATE item SET rev = ? WHERE pk IN ({marks(len(chunk))})", [gen, *chunk])


def bump(db: Db, touched: Sequence[int] = ()) -> int:
    """``next_generation`` and ``stamp`` the ``touched`` rows with it."""
    gen = next_generation(db)
    stamp(db, gen, touched)
    return gen


_INSERT_ITEM = ("INSERT INTO item (source, key, id, data, content_hash, date, updated, first_seen, run, present, "
                "link, page, backlog, rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)")


class Transaction:
    """``protocol.SourceTransaction`` in an open write transaction."""

    def __init__(self, db: Db, source: str, token: str | None) -> None:
        self.db = db
        self.source = source
        self.token = token
        # SQLite: new rows get their keys here (one writer at a time, max + 1 as SQLite's own
        # rowid choice) and go in as one executemany; PostgreSQL's come from its sequence
        self.assign_pks = db.d.param == "?"

    def _insert_new(self, rows: list[list[Any]], dkeys: list[tuple[str, ...]]) -> list[int]:
        """Insert new item rows (``_INSERT_ITEM``'s parameters) and their match keys, in order;
        returns their keys."""
        if self.assign_pks:
            (top,) = self.db.one("SELECT COALESCE(MAX(pk), 0) FROM item")
            pks = list(range(top + 1, top + 1 + len(rows)))
            self.db.many(_INSERT_ITEM.replace("(source,", "(pk, source,").replace("VALUES (?,", "VALUES (?, ?,"),
                         [[pk, *row] for pk, row in zip(pks, rows)])
        else:
            pks = [self.db.one(_INSERT_ITEM + " RETURNING pk", row)[0] for row in rows]
        self.db.many("INSERT INTO dkey (dkey, item_pk) VALUES (?, ?) ON CONFLICT (dkey) DO NOTHING",
                     [(k, pk) for pk, keys in zip(pks, dkeys) for k in keys])
        return pks

    def resolve(self, keys: Sequence[str]) -> dict[str, tuple[ItemRef, bool]]:
        out: dict[str, tuple[ItemRef, bool]] = {}
        for chunk in chunks(list(dict.fromkeys(keys))):
            for key, pk in self.db.all(f"SELECT key, item_pk FROM alias WHERE source = ? AND key IN ({marks(len(chunk))})",
                                       [self.source, *chunk]):
                out[key] = (ItemRef(pk), False)
            for key, pk in self.db.all(f"SELECT key, pk FROM item WHERE source = ? AND key IN ({marks(len(chunk))})",
                                       [self.source, *chunk]):
                out[key] = (ItemRef(pk), True)
        return out

    def snapshot(self, own_keys: Sequence[str], match_keys: Sequence[str]) -> Snapshot:
        own: dict[str, Known] = {}
        by_key: dict[str, Known] = {}
        for chunk in chunks(own_keys):
            for row in self.db.all(
                    f"SELECT i.key, {KNOWN_COLS} FROM item i WHERE i.source = ? AND i.key IN ({marks(len(chunk))})",
                    [self.source, *chunk]):
                own[row[0]] = known(row[1:])
            for row in self.db.all(
                    f"SELECT a.key, {KNOWN_COLS} FROM alias a JOIN item i ON i.pk = a.item_pk "
                    f"WHERE a.source = ? AND a.key IN ({marks(len(chunk))})", [self.source, *chunk]):
                own.setdefault(row[0], known(row[1:]))
        for chunk in chunks(match_keys):
            for row in self.db.all(
                    f"SELECT d.dkey, {KNOWN_COLS} FROM dkey d JOIN item i ON i.pk = d.item_pk "
                    f"WHERE d.dkey IN ({marks(len(chunk))})", list(chunk)):
                by_key[row[0]] = known(row[1:])
        return Snapshot(own=own, by_dedup_key=by_key)

    def remove(self, keys: Sequence[str]) -> int:
        removed = 0
        touched: list[int] = []
        for key in keys:
            removed += self.db.run("DELETE FROM item WHERE source = ? AND key = ?", [self.source, key])
            touched += [r[0] for r in self.db.all("DELETE FROM alias WHERE source = ? AND key = ? RETURNING item_pk",
                                                  [self.source, key])]
        if removed or touched:
            bump(self.db, touched)
        if removed:
            self._purge_due()
        return removed

    def _purge_due(self) -> None:
        self.db.run("INSERT INTO purge_due (source) VALUES (?) ON CONFLICT (source) DO NOTHING", [self.source])

    def _alias(self, source: str, key: str, ref: int, link: str | None) -> None:
        self.db.run("INSERT INTO alias (source, key, item_pk, link) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (source, key) DO UPDATE SET item_pk = excluded.item_pk, link = excluded.link",
                    [source, key, ref, link])

    def _add_dkeys(self, ref: int, keys: Sequence[str]) -> None:
        self.db.many("INSERT INTO dkey (dkey, item_pk) VALUES (?, ?) ON CONFLICT (dkey) DO NOTHING",
                     [(k, ref) for k in keys])

    def apply(self, update: SourceUpdate) -> Counts:
        db, source = self.db, self.source
        new = updated = unchanged = duplicates = 0
        touched: list[int] = []          # rows whose content, date, owner or copies changed
        carried: list[int] = [int(ref) for ref, own in update.kept if own]
        unchanged += len(update.kept)
        # every action but UNCHANGED changes the store: its generation moves once, first, so new
        # rows carry it from their INSERT instead of an UPDATE of each after it
        changed = any(w.action is not Action.UNCHANGED for w in update.writes)
        gen = next_generation(db) if changed else 0
        rows: list[list[Any]] = []       # consecutive new items, inserted together, in order
        dkeys: list[tuple[str, ...]] = []
        for n, w in enumerate(update.writes):
            item = w.item
            if w.action is Action.NEW:
                assert w.date and w.updated and w.first_seen
                rows.append([source, item.key, item.id, item_to_json(item), item.content_hash, w.date.timestamp(),
                             w.updated.timestamp(), w.first_seen.timestamp(), update.run, item.link, item.page,
                             int(w.backlog), gen])
                dkeys.append(item.dedup_keys)
                new += 1
                nxt = update.writes[n + 1] if n + 1 < len(update.writes) else None
                if nxt is None or nxt.action is not Action.NEW:     # the run of new items ends
                    carried += self._insert_new(rows, dkeys)
                    rows, dkeys = [], []
            elif w.action is Action.UPDATE:
                assert w.target is not None and w.date and w.updated
                db.run("UPDATE item SET key = ?, data = ?, content_hash = ?, updated = ?, date = ?, present = 1, "
                       "link = ?, page = ? WHERE pk = ?",
                       [item.key, item_to_json(item), item.content_hash, w.updated.timestamp(), w.date.timestamp(),
                        item.link, item.page, w.target])
                db.run("DELETE FROM dkey WHERE item_pk = ?", [w.target])
                self._add_dkeys(w.target, item.dedup_keys)
                updated += 1
                carried.append(w.target)
                touched.append(w.target)
            elif w.action is Action.UNCHANGED:
                unchanged += 1
                if w.own and w.target is not None:
                    carried.append(w.target)
            elif w.action is Action.DUPLICATE:
                assert w.target is not None
                self._alias(source, item.key, w.target, item.link)
                self._add_dkeys(w.target, item.dedup_keys)
                duplicates += 1
                touched.append(w.target)
            elif w.action is Action.TAKEOVER:
                assert w.target is not None and w.date and w.updated and w.demoted
                db.run("DELETE FROM alias WHERE source = ? AND key = ?", [source, item.key])
                db.run("UPDATE item SET source = ?, key = ?, id = ?, data = ?, content_hash = ?, date = ?, updated = ?, "
                       "present = 1, link = ?, page = ? WHERE pk = ?",
                       [source, item.key, item.id, item_to_json(item), item.content_hash, w.date.timestamp(),
                        w.updated.timestamp(), item.link, item.page, w.target])
                self._alias(w.demoted.source, w.demoted.key, w.target, w.demoted.link)
                self._add_dkeys(w.target, item.dedup_keys)
                new += 1
                carried.append(w.target)
                touched.append(w.target)
        if update.present:
            # only the rows whose flag changes: an UPDATE rewrites a whole row, JSON and all
            keep = set(carried)
            now_present = {pk for pk, p in db.all("SELECT pk, present FROM item WHERE source = ?", [source]) if p}
            for flag, pks in ((0, sorted(now_present - keep)), (1, sorted(keep - now_present))):
                for chunk in chunks(pks):
                    db.run(f"UPDATE item SET present = {flag} WHERE pk IN ({marks(len(chunk))})", list(chunk))
        if update.writes:
            # its items may now exceed the per-source limit (more of them, or fewer still in the feed)
            self._purge_due()
        if changed:
            stamp(db, gen, touched)
        if update.seen is not None:
            self._set_seen(update.seen)
        if update.files is not None:
            db.many("INSERT INTO file (source, relpath, size, mtime_ns, key) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (source, relpath) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
                    "key = excluded.key",
                    [(source, rel, f.size, f.mtime_ns, f.key) for rel, f in update.files.set.items()])
            db.many("DELETE FROM file WHERE source = ? AND relpath = ?", [(source, rel) for rel in update.files.deleted])
        db.run(UPSERT_STATE, state_row(update.state))
        if self.token is not None:      # the refresh is written: the lease is done
            db.run("UPDATE source SET lease_owner = NULL, lease_token = NULL, lease_until = NULL "
                   "WHERE name = ? AND lease_token = ?", [source, self.token])
        return Counts(new=new, updated=updated, unchanged=unchanged, duplicates=duplicates)

    def _set_seen(self, rows: Sequence[tuple[str, Seen]]) -> None:
        """Make ``rows`` the source's fingerprints, writing only the difference (a fingerprint
        always stands for the same entry key and match keys, so a kept one needs no write)."""
        new = dict(rows)
        old = {fp for (fp,) in self.db.all("SELECT fp FROM seen WHERE source = ?", [self.source])}
        self.db.many("DELETE FROM seen WHERE source = ? AND fp = ?", [(self.source, fp) for fp in old - new.keys()])
        self.db.many("INSERT INTO seen (source, fp, key, dkeys) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT (source, fp) DO UPDATE SET key = excluded.key, dkeys = excluded.dkeys",
                     [(self.source, fp, s.key, json.dumps(s.dedup_keys)) for fp, s in new.items() if fp not in old])
