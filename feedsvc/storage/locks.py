"""The publisher's file lock for the SQLite store: ``locks/publish.lock`` beside the store, held
with ``flock`` while the outputs are rendered and written, so two processes never write them at
the same time. The kernel drops it when its process dies, so a kill -9 never leaves it stale.
(Sources are claimed with leases in the store itself, on SQLite as on PostgreSQL.)
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from feedsvc.errors import LockTimeout


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.waited = False

    def acquire(self, timeout: float | None = None, poll: float = 0.05) -> None:
        fd = _open(self.path)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return
            except BlockingIOError:
                self.waited = True
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockTimeout(f"{self.path} is held by another feedsvc process") from None
                time.sleep(poll)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def publish_lock(state_dir: Path) -> FileLock:
    return FileLock(state_dir / "locks" / "publish.lock")
