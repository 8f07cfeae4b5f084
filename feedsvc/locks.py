"""Advisory file locks in ``state_dir/locks`` (flock), shared by the daemon and the CLI.

- ``source-<name>.lock``: held while one source is fetched and stored, so the daemon and a forced
  ``feedsvc refresh`` never fetch the same source at once (the second waits, then sends its
  conditional GET and usually gets a 304);
- ``publish.lock``: held while the outputs are rendered and written, so two processes never
  write the output at the same time.

The kernel drops a flock when its process dies, so a kill -9 never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType


class LockTimeout(Exception):
    pass


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, timeout: float | None = None, poll: float = 0.05) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockTimeout(f"{self.path} is held by another feedsvc process") from None
                time.sleep(poll)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def source_lock(state_dir: Path, name: str) -> FileLock:
    return FileLock(state_dir / "locks" / f"source-{name}.lock")


def publish_lock(state_dir: Path) -> FileLock:
    return FileLock(state_dir / "locks" / "publish.lock")
