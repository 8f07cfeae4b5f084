"""Source-state rows and the small helpers every SQL statement of the stores shares."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any, Protocol

from feedsvc.items.decide import ItemRef, Known
from feedsvc.model import SourceState

LEASE_FIELDS = ("lease_owner", "lease_until")
STATE_FIELDS = [f.name for f in fields(SourceState) if f.name not in ("item_count", *LEASE_FIELDS)]
TIME_FIELDS = {"last_attempt", "last_success", "error_since", "retry_after", "next_due", "lease_until",
               "last_new_at"}
READ_FIELDS = [*STATE_FIELDS, *LEASE_FIELDS]
STATE_SELECT = (f"SELECT {', '.join('s.' + f for f in READ_FIELDS)}, "
                 "(SELECT COUNT(*) FROM item i WHERE i.source = s.name) FROM source s")
ITEM_COLS = "pk, id, data, first_seen, date, updated, source"
KNOWN_COLS = "i.pk, i.source, i.content_hash, i.run, i.key, i.id, i.date, i.updated, i.first_seen, i.link"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Conn(Protocol):
    """What this module uses of a DB-API connection (sqlite3's and psycopg's both have it)."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...

    def cursor(self) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    param: str                   # "?" or "%s"
    begin: str                   # the statement that opens a write transaction
    writer_lock: str | None      # run first in every write transaction (serialises writers), or None
    errors: tuple[type[BaseException], ...]   # the driver's errors, wrapped in StoreError
    for_update: str = ""         # row locks for a claim's subquery and a lease check

    def q(self, sql: str) -> str:
        return sql if self.param == "?" else sql.replace("%", "%%").replace("?", self.param)


def ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


def dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None


def state_row(st: SourceState) -> list[Any]:
    d = {k: getattr(st, k) for k in STATE_FIELDS}
    for k in TIME_FIELDS & d.keys():
        d[k] = ts(d[k])
    d["gone"] = int(d["gone"])
    return [d[k] for k in STATE_FIELDS]


def state_from_row(row: Sequence[Any]) -> SourceState:
    d = dict(zip(READ_FIELDS, row))
    for k in TIME_FIELDS:
        d[k] = dt(d[k])
    d["gone"] = bool(d["gone"])
    d["item_count"] = int(row[len(READ_FIELDS)])
    return SourceState(**d)


def known(row: Sequence[Any]) -> Known:
    pk, source, h, run, key, id_, date, updated, first_seen, link = row
    return Known(ItemRef(pk), source, h, run, key=key, id=id_, date=dt(date), updated=dt(updated),
                 first_seen=dt(first_seen), link=link)


def chunks(seq: Sequence[Any], n: int = 500) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def marks(n: int) -> str:
    return ",".join("?" * n)


UPSERT_STATE = (f"INSERT INTO source ({', '.join(STATE_FIELDS)}) VALUES ({marks(len(STATE_FIELDS))}) "
                 "ON CONFLICT (name) DO UPDATE SET "
                 + ", ".join(f"{k} = excluded.{k}" for k in STATE_FIELDS if k != "name"))


