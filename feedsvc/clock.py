"""The clock, injected: every component that needs the time takes a ``Clock`` (tests pass a fake
one). Every datetime in feedsvc is timezone-aware UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
