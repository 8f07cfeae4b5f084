"""Advisory file locks in ``state_dir/locks``, shared by the daemon and the CLI.

- a source's lock (``SourceLocks``): held while one source is fetched and stored, so the daemon
  and a forced ``feedsvc refresh`` never fetch the same source at once (the second waits, then
  sends its conditional GET and usually gets a 304). On Linux it is one byte of
  ``sources.lock``, at an offset hashed from the source's name, locked with an open-file-
  description lock (``F_OFD_SETLK``): two system calls a source, where a lock file of its own
  cost five (mkdir, open, flock, unlock, close), each one a turn of the interpreter lock for the
  fetch threads. Elsewhere each source has its own ``source-<name>.lock`` (flock).
- ``publish.lock`` (flock): held while the outputs are rendered and written, so two processes
  never write the output at the same time.

The kernel drops both kinds when their process dies, so a kill -9 never leaves a stale lock.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import struct
import threading
import time
from pathlib import Path
from types import TracebackType

from feedsvc.errors import LockTimeout

_OFD = getattr(fcntl, "F_OFD_SETLK", None)     # Linux ≥ 3.15; None elsewhere


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


def _range(fd: int, kind: int, offset: int) -> bool:
    """Lock (F_WRLCK) or unlock (F_UNLCK) one byte as an open-file-description lock; False if
    another open of the file holds it."""
    if _OFD is None:     # SourceLocks takes ranges only where F_OFD_SETLK exists
        raise OSError(errno.ENOLCK, "open-file-description locks are not available")
    # struct flock: l_type, l_whence, l_start, l_len, l_pid (0 for OFD locks), tail padding
    arg = struct.pack("@hhqqi4x", kind, os.SEEK_SET, offset, 1, 0)
    try:
        fcntl.fcntl(fd, _OFD, arg)
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise


class SourceLocks:
    """The per-source locks of one process's Runtime (see the module docstring).

    Threads of one Runtime share its open of ``sources.lock``, and OFD locks do not exclude
    holders of the same open, so a per-name thread lock comes first; another Runtime (another
    process, or the daemon's new Runtime after a reload) has its own open and is excluded by the
    kernel."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "locks"
        self._fd: int | None = None
        self._mutex = threading.Lock()
        self._names: dict[str, threading.Lock] = {}
        self._files: dict[str, FileLock] = {}
        self._ofd = _OFD is not None     # False once the filesystem refused an OFD lock

    def acquire(self, name: str, timeout: float, poll: float = 0.05) -> bool:
        """Take ``name``'s lock, waiting up to ``timeout`` s (LockTimeout after). Returns whether
        it had to wait: someone else held it, so what they wrote must be read again."""
        deadline = time.monotonic() + timeout
        with self._mutex:
            local = self._names.setdefault(name, threading.Lock())
        waited = not local.acquire(blocking=False)
        if waited and not local.acquire(timeout=timeout):
            raise LockTimeout(f"source {name} is being refreshed by another thread of this process")
        try:
            if self._ofd:
                try:
                    return self._acquire_range(name, deadline, poll) or waited
                except OSError:      # e.g. a filesystem without OFD locks (ENOLCK, EINVAL)
                    self._ofd = False
            lock = FileLock(self.dir / f"source-{name}.lock")
            lock.acquire(timeout=max(0.0, deadline - time.monotonic()), poll=poll)
            self._files[name] = lock
            return waited or lock.waited
        except BaseException:
            local.release()
            raise

    def _acquire_range(self, name: str, deadline: float, poll: float) -> bool:
        offset = _offset(name)
        fd = self._open()
        waited = False
        while not _range(fd, fcntl.F_WRLCK, offset):
            waited = True
            if time.monotonic() >= deadline:
                raise LockTimeout(f"source {name} is held by another feedsvc process "
                                  f"({self.dir / 'sources.lock'})")
            time.sleep(poll)
        return waited

    def release(self, name: str) -> None:
        try:
            held = self._files.pop(name, None)
            if held is not None:
                held.release()
            else:
                _range(self._open(), fcntl.F_UNLCK, _offset(name))
        finally:
            self._names[name].release()

    def _open(self) -> int:
        with self._mutex:
            if self._fd is None:
                self._fd = _open(self.dir / "sources.lock")
            return self._fd

    def close(self) -> None:
        """Close the lock file (dropping any lock still held through it)."""
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def _offset(name: str) -> int:
    """The byte of ``sources.lock`` that stands for a source (56 bits of a hash of its name: two
    names sharing a byte would only take turns)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=7).digest(), "big")


def publish_lock(state_dir: Path) -> FileLock:
    return FileLock(state_dir / "locks" / "publish.lock")
