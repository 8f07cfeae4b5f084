"""The statements behind curation, moderation and archives, in SQL once for both
databases; ``sql.SqlStorage`` inherits them.

  moderation  one row per story an operator acted on (``feedsvc items hide/unhide/pin``): hidden,
              who, when, why, pinned until. Keyed by the item row, which stays the same through
              updates, guid migrations, takeovers and copies from other sources (aliases of it),
              so the decision follows the story.
  item.backlog  1 for an older item of a new source's first fetch (or of a bulk guid migration):
              stored, archived, never on the front page.
  item.rev    the generation of the row's last change (content, date, owner, copies, hidden or
              not): an archive period's digest is its items' count, sum of pk and newest rev
              (``archive_digests``, from the item_archive index).
  archive     the digest of every archive document written, so a publish rewrites only the
              periods whose items changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from feedsvc.items.decide import ItemRef
from feedsvc.model import StoredItem
from feedsvc.storage.protocol import Listed, Moderation
from feedsvc.storage.rows import EPOCH, ITEM_COLS, chunks, dt, marks, ts
from feedsvc.storage.sql_tx import Db, bump

HIDDEN = "(SELECT item_pk FROM moderation WHERE hidden = 1)"
VISIBLE = f"pk NOT IN {HIDDEN}"                  # not hidden by an operator
FRONT = f"backlog = 0 AND {VISIBLE}"             # and not a new source's backlog: the front page's
MOD_COLS = "item_pk, hidden, actor, at, reason, pinned_until, pinned_by, pinned_at"
ACTIONS = ("hide", "unhide", "pin", "unpin")


class CurationSql:
    """Reads for the front page and the archives, and the moderation record."""

    if TYPE_CHECKING:   # what ``SqlStorage`` provides
        def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

        def _transaction(self, serialise: bool = True) -> AbstractContextManager[Db]: ...

        def _stored(self, rows: Sequence[Sequence[Any]]) -> list[StoredItem]: ...

    # ---- the front page and the archives -----------------------------------------------------

    def pinned(self, now: datetime) -> list[StoredItem]:
        return self._stored(self._read(
            f"SELECT {ITEM_COLS} FROM item WHERE pk IN (SELECT item_pk FROM moderation WHERE hidden = 0 "
            "AND pinned_until > ?) ORDER BY date DESC, id", [now.timestamp()]))

    def archive_span(self) -> tuple[datetime, datetime] | None:
        first, last = self._read(f"SELECT MIN(date), MAX(date) FROM item WHERE {VISIBLE}")[0]
        return None if first is None else (dt(first) or EPOCH, dt(last) or EPOCH)

    def archive_digests(self, spans: Sequence[tuple[datetime, datetime]]) -> list[tuple[int, int, int]]:
        # one statement a chunk: each span an index range (item_archive covers date, rev, pk)
        out: list[tuple[int, int, int]] = []
        for chunk in chunks(list(spans), 300):
            values = ", ".join("(?, ?, ?)" for _ in chunk)
            got = {int(n): (int(c), int(s or 0), int(r or 0)) for n, c, s, r in self._read(
                f"WITH span (n, a, b) AS (VALUES {values}) SELECT span.n, COUNT(i.pk), SUM(i.pk), MAX(i.rev) "
                f"FROM span JOIN item i ON i.date >= span.a AND i.date < span.b WHERE i.{VISIBLE} GROUP BY span.n",
                [v for n, (a, b) in enumerate(chunk) for v in (n, a.timestamp(), b.timestamp())])}
            out += [got.get(n, (0, 0, 0)) for n in range(len(chunk))]
        return out

    def between(self, start: datetime, end: datetime) -> list[StoredItem]:
        return self._stored(self._read(
            f"SELECT {ITEM_COLS} FROM item WHERE date >= ? AND date < ? AND {VISIBLE} ORDER BY date DESC, id",
            [start.timestamp(), end.timestamp()]))

    def backlog(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self._read(
            f"SELECT source, COUNT(*) FROM item WHERE backlog = 1 AND {VISIBLE} GROUP BY source")}

    # ---- moderation --------------------------------------------------------------------------------

    def listing(self, source: str | None = None, hidden: bool = False) -> list[Listed]:
        where = f"pk {'IN' if hidden else 'NOT IN'} {HIDDEN}" + (" AND source = ?" if source else "")
        return self._listed(self._read(f"SELECT {ITEM_COLS}, backlog FROM item WHERE {where} ORDER BY date DESC, id",
                                       [source] if source else []))

    def find(self, ids: Sequence[str], links: Sequence[str], keys: Sequence[str]) -> list[Listed]:
        pks: set[int] = set()
        for column, values in (("SELECT pk FROM item WHERE id", ids), ("SELECT pk FROM item WHERE link", links),
                               ("SELECT item_pk FROM alias WHERE link", links),
                               ("SELECT item_pk FROM dkey WHERE dkey", keys)):
            for chunk in chunks(list(values)):
                pks.update(r[0] for r in self._read(f"{column} IN ({marks(len(chunk))})", list(chunk)))
        rows: list[Any] = []
        for chunk in chunks(sorted(pks)):
            rows += self._read(f"SELECT {ITEM_COLS}, backlog FROM item WHERE pk IN ({marks(len(chunk))})", list(chunk))
        rows.sort(key=lambda r: (-float(r[4]), r[1]))
        return self._listed(rows)

    def _listed(self, rows: Sequence[Sequence[Any]]) -> list[Listed]:
        mods = dict(self._moderations([r[0] for r in rows]))
        stored = self._stored([r[:-1] for r in rows])
        return [Listed(ref=ItemRef(r[0]), stored=s, backlog=bool(r[-1]), moderation=mods.get(r[0]))
                for r, s in zip(rows, stored)]

    def _moderations(self, pks: Sequence[int]) -> Iterator[tuple[int, Moderation]]:
        for chunk in chunks(list(pks)):
            for pk, hidden, actor, at, reason, until, by, pinned_at in self._read(
                    f"SELECT {MOD_COLS} FROM moderation WHERE item_pk IN ({marks(len(chunk))})", list(chunk)):
                yield pk, Moderation(hidden=bool(hidden), actor=actor, at=dt(at), reason=reason,
                                     pinned_until=dt(until), pinned_by=by, pinned_at=dt(pinned_at))

    def moderate(self, ref: ItemRef, action: str, actor: str, at: datetime, reason: str | None = None,
                 until: datetime | None = None) -> bool:
        if action not in ACTIONS:
            raise ValueError(f"unknown moderation action {action!r}")
        with self._transaction() as db:
            if db.one("SELECT pk FROM item WHERE pk = ?", [int(ref)]) is None:
                return False
            db.run("INSERT INTO moderation (item_pk) VALUES (?) ON CONFLICT (item_pk) DO NOTHING", [int(ref)])
            if action in ("hide", "unhide"):
                db.run("UPDATE moderation SET hidden = ?, actor = ?, at = ?, reason = ? WHERE item_pk = ?",
                       [int(action == "hide"), actor, ts(at), reason, int(ref)])
            else:
                pin = until if action == "pin" else None
                db.run("UPDATE moderation SET pinned_until = ?, pinned_by = ?, pinned_at = ? WHERE item_pk = ?",
                       [ts(pin), actor if pin else None, ts(at) if pin else None, int(ref)])
            bump(db, [int(ref)] if action in ("hide", "unhide") else [])   # its period's digest moves
        return True

    # ---- archive documents ---------------------------------------------------------------------------

    def archives(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._read("SELECT path, digest FROM archive")}

    def record_archives(self, written: Mapping[str, str], removed: Sequence[str]) -> None:
        if not written and not removed:
            return
        with self._transaction(serialise=False) as db:
            db.many("INSERT INTO archive (path, digest) VALUES (?, ?) "
                    "ON CONFLICT (path) DO UPDATE SET digest = excluded.digest", list(written.items()))
            db.many("DELETE FROM archive WHERE path = ?", [(p,) for p in removed])
