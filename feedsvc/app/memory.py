"""How much memory the process keeps from the operating system, where glibc lets us say.

Two knobs of glibc's malloc, reached through ctypes; on any other C library (musl, macOS) both
are no-ops:

- ``cap_arenas`` (at startup, before any thread): glibc gives threads up to eight malloc arenas
  per core, and what a fetch thread frees stays in its arena, unused by the others. Two arenas
  kept a cold round of 1000 feeds at 62 MB instead of 67 MB while it fetched (GIL-bound threads
  gain nothing from more).
- ``trim`` (between a round and its publish): hand freed heap pages back, so the publish, the
  biggest allocation of a round, reuses them instead of adding to the peak.
"""

from __future__ import annotations

import ctypes
import logging
from functools import lru_cache

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8                # from glibc's malloc.h
ARENAS = 2


@lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)     # the symbols the process has: the C library's among them
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def cap_arenas(arenas: int = ARENAS) -> None:
    libc = _glibc()
    if libc is not None and not libc.mallopt(_M_ARENA_MAX, arenas):
        log.debug("mallopt(M_ARENA_MAX) refused")


def trim() -> None:
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
