"""Who a process is, as its leases name it, and whether a lease's owner is a process of this host
that no longer runs (its leases can then be taken at once instead of when they expire)."""

from __future__ import annotations

import os
import socket
import uuid

from feedsvc.storage import Worker


def this_worker() -> Worker:
    """This process, as its leases name it."""
    host = socket.gethostname()
    return Worker(id=f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}", host=host, pid=os.getpid())


def owner_is_dead(owner: str | None, host: str) -> bool:
    """Whether a lease owner is a process of this host that no longer runs (killed): its leases
    can be taken at once instead of after they expire."""
    if not owner:
        return False
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:          # alive, someone else's
        return False
    return False
