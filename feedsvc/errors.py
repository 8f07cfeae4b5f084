"""One exception tree for feedsvc.

    FeedsvcError                 anything feedsvc raises on purpose
    ├── ConfigError              bad config: carries the key path and line; exit code 2
    ├── SourceError              one source failed; carries the source name (and URL)
    │   ├── FetchError           network, HTTP status, size/time limits
    │   └── ParseError           bytes that yield no feed
    ├── ArticleSkipped           a local file that is not an article (empty, binary): skipped
    ├── StoreError               the store cannot be opened, read or written
    │   ├── LockTimeout          a source or the publisher is held by another process too long
    │   └── LeaseLost            a write refused: the source's lease expired and another worker took it
    ├── PublishError             an output file could not be written
    └── WorkerGone               a parse worker process ended before answering (killed, OOM)

Low-level errors are wrapped with ``raise ... from exc`` so the cause stays visible in debug logs,
while the CLI prints only ``str(error)`` to the user.
"""

from __future__ import annotations


class FeedsvcError(Exception):
    """Base of every error feedsvc raises on purpose."""


class ConfigError(FeedsvcError):
    """The configuration is invalid. ``key`` is the dotted path of the offending key."""

    def __init__(self, message: str, key: str | None = None, line: int | None = None,
                 path: str | None = None) -> None:
        self.message = message
        self.key = key
        self.line = line
        self.path = path
        where = path or "config"
        if line is not None:
            where += f":{line}"
        prefix = f"{where}: " + (f"{key}: " if key else "")
        super().__init__(prefix + message)


class SourceError(FeedsvcError):
    """A single source failed; the others go on. ``body``: the start of what the server sent
    (an error page, a page that is not a feed), to tell what kind of failure it is."""

    def __init__(self, source: str, message: str, url: str | None = None, body: bytes | None = None) -> None:
        self.source = source
        self.message = message
        self.url = url
        self.body = body
        super().__init__(message)


class FetchError(SourceError):
    """The source could not be fetched (network, HTTP status, limits)."""

    def __init__(self, source: str, message: str, url: str | None = None,
                 status: int | None = None, retry_after: float | None = None, body: bytes | None = None) -> None:
        super().__init__(source, message, url, body)
        self.status = status
        self.retry_after = retry_after


class ParseError(SourceError):
    """The fetched bytes are not a usable feed."""


class StoreError(FeedsvcError):
    """The persistent store cannot be opened, read or written."""


class PublishError(FeedsvcError):
    """An output file could not be written."""


class ArticleSkipped(FeedsvcError):
    """A local file that is not an article (empty, binary): skipped with a warning naming it."""


class LockTimeout(StoreError):
    """A source's lock or the publisher lock stayed held by another process past the timeout."""


class LeaseLost(StoreError):
    """A write carried a lease token the source no longer holds (the lease expired and another
    worker claimed the source): refused, so a stalled worker never overwrites newer state."""


class WorkerGone(FeedsvcError):
    """The parse worker process ended before answering (killed, out of memory)."""
