"""Storage: the ``Storage`` protocol (protocol.py) and its implementations: SQLite, the embedded
default (sqlite.py, with its upgrades in migrations.py), and an in-memory fake for unit tests
(memory.py). Nothing outside this package knows SQL, connections or row ids."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from feedsvc.storage.protocol import Counts, FileChanges, FileRecord, PublishRecord, SourceTransaction, SourceUpdate, Storage

if TYPE_CHECKING:
    from feedsvc.storage.memory import MemoryStorage
    from feedsvc.storage.sqlite import SqliteStorage

    def _implement_storage(sqlite: SqliteStorage, memory: MemoryStorage) -> tuple[Storage, Storage]:
        """Never runs: mypy checks here that both stores implement the ``Storage`` protocol."""
        return sqlite, memory

__all__ = ["Counts", "FileChanges", "FileRecord", "PublishRecord", "SourceTransaction", "SourceUpdate",
           "Storage", "open_storage", "store_path"]


def store_path(state_dir: Path) -> Path:
    """Where the embedded store of a ``state_dir`` lives."""
    return state_dir / "feedsvc.db"


def open_storage(state_dir: Path, readonly: bool = False) -> Storage:
    """The store of a config (SQLite in ``state_dir``); ``readonly`` for commands that only read."""
    from feedsvc.storage.sqlite import SqliteStorage

    return SqliteStorage(store_path(state_dir), readonly=readonly)
