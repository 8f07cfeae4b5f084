"""Fetching like a good citizen: sources are grouped by registered domain (the Public Suffix List,
from tldextract's bundled snapshot: ``a.tumblr.com`` and ``b.tumblr.com`` are one group,
``github.com`` and ``gist.github.com`` too; an IP address or ``localhost`` is a group of its own),
and each group gets at most ``concurrency`` requests at once and ``spacing`` seconds between the
starts of two requests (``fetch.per_host``, or the first ``fetch.hosts`` rule that matches the
host or its group). A 429, or a 503 with Retry-After, pauses the whole group.

``HostGate`` holds those limits in this process. With a shared store (several workers), the next
allowed start of a group and its pause live in the store (``Storage.reserve_start``,
``Storage.pause_host``), so the spacing and the pauses hold across every worker.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit

from feedsvc.config import Config
from feedsvc.errors import FetchError

MAX_PAUSE = 86400.0               # a host is paused for a day at most


@lru_cache(maxsize=1)
def _extractor():  # type: ignore[no-untyped-def]
    import tldextract

    # the snapshot bundled with the package: no download at run time, no cache directory
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


@lru_cache(maxsize=65536)
def group_of(host: str) -> str:
    """The registered domain of ``host`` (``b.tumblr.com`` → ``tumblr.com``), or the host itself
    for an IP address, ``localhost`` or a name without a public suffix."""
    if not host:
        return ""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    return str(_extractor()(host).top_domain_under_public_suffix or host)


@dataclass(frozen=True, slots=True)
class Limits:
    concurrency: int
    spacing: float                # seconds


def limits_for(host: str, config: Config) -> Limits:
    """``fetch.per_host``, overridden by the first ``fetch.hosts`` rule matching the host or its
    group (``*.example.org`` matches example.org and its subdomains)."""
    base = config.fetch.per_host
    group = group_of(host)
    for rule in config.fetch.hosts:
        pattern = rule.match.lower()
        names = {host, group}
        if any(fnmatch.fnmatchcase(n, pattern) or (pattern.startswith("*.") and n == pattern[2:]) for n in names):
            return Limits(rule.concurrency or base.concurrency,
                          base.spacing if rule.spacing is None else rule.spacing)
    return Limits(base.concurrency, base.spacing)


class HostPaused(FetchError):
    """The source's host group is paused (a 429 or a 503 with Retry-After): not fetched now."""

    def __init__(self, source: str, group: str, until: datetime, url: str | None = None) -> None:
        super().__init__(source, f"host {group} paused until {until.isoformat(timespec='seconds')}", url)
        self.group = group
        self.until = until


class HostGate:
    """This process's view of the host groups: requests in flight, the next allowed start, and
    pauses (``pauses`` loaded from the store at a round's start). ``reserve`` is the shared
    store's reservation of a start (None: this process alone decides)."""

    def __init__(self, config: Config, clock: Callable[[], datetime],
                 reserve: Callable[[str, float], float] | None = None) -> None:
        self.config = config
        self.clock = clock
        self.reserve = reserve
        self._cond = threading.Condition()
        self._inflight: dict[str, int] = {}
        self._next: dict[str, float] = {}          # monotonic time of the next allowed start
        self.pauses: dict[str, datetime] = {}

    def paused_until(self, group: str) -> datetime | None:
        until = self.pauses.get(group)
        return until if until is not None and until > self.clock() else None

    def pause(self, group: str, until: datetime) -> None:
        with self._cond:
            if group not in self.pauses or self.pauses[group] < until:
                self.pauses[group] = until

    def _check(self, source: str, group: str, url: str, force_host: bool) -> None:
        until = self.paused_until(group)
        if until is not None and not force_host:
            raise HostPaused(source, group, until, url)

    @contextmanager
    def slot(self, source: str, url: str, force_host: bool = False) -> Iterator[str]:
        """Wait for a request slot of ``url``'s group (its concurrency and spacing); yields the
        group. Raises ``HostPaused`` while the group is paused, unless ``force_host``."""
        host = host_of(url)
        if not host:                  # a file: feed: no host to be polite to
            yield ""
            return
        group = group_of(host)
        self._check(source, group, url, force_host)
        limits = limits_for(host, self.config)
        with self._cond:
            while self._inflight.get(group, 0) >= limits.concurrency:
                self._cond.wait(1.0)
            self._inflight[group] = self._inflight.get(group, 0) + 1
        try:
            self._check(source, group, url, force_host)     # paused while this one waited
            with self._cond:
                now = time.monotonic()
                start = max(now, self._next.get(group, 0.0))
                if limits.spacing > 0:
                    self._next[group] = start + limits.spacing
            if self.reserve is not None and limits.spacing > 0:
                start = max(start, time.monotonic() + self.reserve(group, limits.spacing))
            delay = start - time.monotonic()
            if delay > 0:
                time.sleep(delay)
                self._check(source, group, url, force_host)
            yield group
        finally:
            with self._cond:
                self._inflight[group] -= 1
                self._cond.notify_all()


def interleave(items: list, key: Callable[[object], str]) -> list:  # type: ignore[type-arg]
    """``items`` reordered round-robin by ``key`` (their host group), so the fetch threads spread
    over hosts instead of queueing behind one host's spacing."""
    buckets: dict[str, list] = {}  # type: ignore[type-arg]
    for it in items:
        buckets.setdefault(key(it), []).append(it)
    out = []
    while buckets:
        for g in list(buckets):
            out.append(buckets[g].pop(0))
            if not buckets[g]:
                del buckets[g]
    return out
