"""Storage: the ``Storage`` protocol (protocol.py) and its implementations: the statements in SQL
once (sql.py) for SQLite, the embedded default (sqlite.py, with its upgrades in migrations.py),
and PostgreSQL, shared by many workers (postgres.py); and an in-memory fake for unit tests
(memory.py). Nothing outside this package knows SQL, connections or row ids."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from feedsvc.storage.protocol import (
    Claim,
    Counts,
    FileChanges,
    FileRecord,
    Listed,
    Moderation,
    PublishRecord,
    SourceTransaction,
    SourceUpdate,
    Storage,
    Worker,
    WorkerInfo,
)

if TYPE_CHECKING:
    from feedsvc.config import Config
    from feedsvc.storage.memory import MemoryStorage
    from feedsvc.storage.sqlite import SqliteStorage

    def _implement_storage(sqlite: SqliteStorage, memory: MemoryStorage) -> tuple[Storage, Storage]:
        """Never runs: mypy checks here that both stores implement the ``Storage`` protocol."""
        return sqlite, memory

__all__ = ["Claim", "Counts", "FileChanges", "FileRecord", "Listed", "Moderation", "PublishRecord", "SourceTransaction",
           "SourceUpdate", "Storage", "Worker", "WorkerInfo", "open_storage", "open_url", "store_path"]


def store_path(state_dir: Path) -> Path:
    """Where the embedded store of a ``state_dir`` lives by default."""
    return state_dir / "feedsvc.db"


def open_url(url: str, readonly: bool = False) -> Storage:
    """The store at ``url``: ``sqlite:///PATH`` or ``postgresql://…`` (libpq URL)."""
    scheme = url.partition(":")[0].lower()
    if scheme == "sqlite":
        from feedsvc.storage.sqlite import SqliteStorage

        return SqliteStorage(Path(url[len("sqlite:///"):]), readonly=readonly)
    if scheme in ("postgresql", "postgres"):
        from feedsvc.storage.postgres import PostgresStorage

        return PostgresStorage(url, readonly=readonly)
    raise ValueError(f"not a store URL: {url.partition(':')[0]}:…")


def open_storage(config: Config, readonly: bool = False) -> Storage:
    """The store of a config: ``$FEEDSVC_STORE``, else its ``store:``, else SQLite in ``state_dir``.
    ``readonly`` for commands that only read."""
    return open_url(os.environ.get("FEEDSVC_STORE") or config.store or f"sqlite:///{store_path(config.state_dir)}",
                    readonly=readonly)
