"""A source's next state after one refresh, and when it is due again. Pure: the clock and the
random source come in as arguments.

``decide_source(old, outcome, now, policy, rand)`` covers every transition, table-tested in
tests/test_source_state.py:

- ``NotModified`` (a 304, or a 200 whose bytes hash like last time's): a success; validators
  kept unless the answer brought new ones;
- ``Fetched`` (a changed feed, parsed): a success with the new validators, body hash, feed title,
  link, ttl and parse warning;
- ``Scanned`` (a local article directory): a success with the scan's warning;
- ``Failed``: one more consecutive failure, back-off of interval × 2^(n-1) (±10 %, at most a day),
  at least the server's ``Retry-After`` (at most a week), ``gone`` after a 410;
- any success through a permanent redirect counts towards adopting the new URL (``MOVED_AFTER``
  successes in a row through the same one).

A success clears the error, the failures and the back-off; ``next_due`` is the time the daemon
fetches the source again: now + its effective interval (the configured one raised to the feed's
own ``<ttl>``/``sy:updatePeriod``, at most a day) + up to ``jitter`` of it (at most 5 minutes),
or the end of the back-off after a failure, or never once it is gone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from feedsvc.model import SourceState

MOVED_AFTER = 3                  # successes through the same permanent redirect before adopting it
MAX_BACKOFF = 24 * 3600.0        # seconds
MAX_RETRY_AFTER = 7 * 86400.0    # a server's Retry-After is honoured up to a week
MAX_TTL = 24 * 3600.0            # a feed's own ttl raises the interval up to a day
MAX_JITTER = 300.0               # seconds added to a success's next due time, at most


class Random(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


@dataclass(frozen=True, slots=True)
class Policy:
    """What the config says about one source's schedule."""
    interval: float              # seconds between fetches (the source's own, else schedule.interval)
    jitter: float = 0.0          # fraction of the interval a success's next due time is spread over


# ---- what happened (the engine's observation of one refresh) ---------------------------------------

@dataclass(frozen=True, slots=True)
class NotModified:
    """The feed did not change: a 304, or the same bytes as last time."""
    etag: str | None = None      # validators the answer carried (None: keep the old ones)
    last_modified: str | None = None
    permanent_url: str | None = None   # a permanent redirect on the way
    same_body: bool = False      # a 200 whose body hashed like the last one (validators replaced)
    cache: tuple[int, str] | None = None   # the answer's cache lifetime: (seconds, header), see cache_hint


@dataclass(frozen=True, slots=True)
class Fetched:
    """A changed feed, parsed."""
    body_hash: str
    etag: str | None = None
    last_modified: str | None = None
    permanent_url: str | None = None
    title: str | None = None     # the feed's own title and home page
    link: str | None = None
    ttl_seconds: int | None = None
    warning: str | None = None   # a recoverable parse problem
    cache: tuple[int, str] | None = None   # the answer's cache lifetime: (seconds, header)


@dataclass(frozen=True, slots=True)
class Scanned:
    """A local article directory, scanned."""
    title: str | None = None
    link: str | None = None
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """The refresh failed (fetch or parse)."""
    message: str
    status: int | None = None    # the HTTP status, when there was one
    retry_after: float | None = None   # seconds, from the server's Retry-After
    error_class: str | None = None     # items/health.classify


Outcome = NotModified | Fetched | Scanned | Failed


# ---- the decisions -----------------------------------------------------------------------------

def backoff_seconds(interval: float, failures: int, rand: Random) -> float:
    """Delay before retrying a failing source: interval × 2^(failures-1), ±10 % jitter, ≤ 24 h."""
    factor: int = 2 ** max(0, failures - 1)
    base = min(MAX_BACKOFF, interval * factor)
    return min(MAX_BACKOFF, base * rand.uniform(0.9, 1.1))


def effective_interval(interval: float, state: SourceState) -> float:
    """The configured interval, raised to the feed's own <ttl>/sy:updatePeriod or the server's
    cache lifetime (Cache-Control max-age, Expires), whichever is longer, capped at 24 h; never
    shortened by either."""
    hint = float(max(state.ttl_seconds or 0, state.cache_seconds or 0))
    return max(interval, min(hint, MAX_TTL))


def interval_reason(interval: float, state: SourceState) -> str:
    """What set the effective interval, for ``status``."""
    if effective_interval(interval, state) <= interval:
        return "configured"
    if (state.cache_seconds or 0) > (state.ttl_seconds or 0):
        return f"raised by the server's {state.cache_by or 'Cache-Control'}"
    return "raised by the feed's <ttl> / sy:updatePeriod"


def cache_hint(headers: dict[str, str], now: datetime) -> tuple[int, str] | None:
    """The cache lifetime an answer asks for: ``Cache-Control`` ``s-maxage``/``max-age``, else
    ``Expires`` (relative to its ``Date``, else now). ``no-store``/``no-cache`` ask for nothing
    here: they never make a source polled faster than its interval."""
    from email.utils import parsedate_to_datetime

    cc = headers.get("cache-control", "").lower()
    directives = {}
    for part in cc.split(","):
        k, _, v = part.strip().partition("=")
        directives[k.strip()] = v.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return None
    for name in ("s-maxage", "max-age"):
        if directives.get(name, "").isdigit():
            return (int(directives[name]), "Cache-Control") if int(directives[name]) > 0 else None
    if "expires" in headers:
        try:
            expires = parsedate_to_datetime(headers["expires"])
            base = parsedate_to_datetime(headers["date"]) if "date" in headers else now
        except (TypeError, ValueError, IndexError):
            return None
        if expires.tzinfo is None or base.tzinfo is None:
            return None
        seconds = int((expires - base).total_seconds())
        return (seconds, "Expires") if seconds > 0 else None
    return None


def may_fetch(state: SourceState, now: datetime) -> bool:
    """Whether the daemon may fetch the source now: not gone, not backing off (a forced refresh
    ignores this)."""
    if state.gone:
        return False
    return state.retry_after is None or now >= state.retry_after


def is_due(state: SourceState, now: datetime) -> bool:
    """Whether the source's next fetch is due: it may be fetched, and its next due time passed."""
    return may_fetch(state, now) and (state.next_due is None or state.next_due <= now)


def track_redirect(state: SourceState, permanent_url: str | None, configured: str | None) -> SourceState:
    """Count successes through a permanent redirect; adopt its target after ``MOVED_AFTER``."""
    if permanent_url and permanent_url != (state.moved_to or configured):
        count = state.moved_count + 1 if state.moved_candidate == permanent_url else 1
        if count >= MOVED_AFTER:
            return replace(state, moved_to=permanent_url, moved_candidate=None, moved_count=0)
        return replace(state, moved_candidate=permanent_url, moved_count=count)
    if not permanent_url and state.moved_candidate:
        return replace(state, moved_candidate=None, moved_count=0)
    return state


def decide_source(old: SourceState, outcome: Outcome, now: datetime, policy: Policy,
                  rand: Random | None = None) -> SourceState:
    """The source's state after ``outcome`` (see the module docstring)."""
    rand = rand or random.Random()
    state = replace(old, last_attempt=now)
    if isinstance(outcome, Failed):
        failures = old.failures + 1
        delay = backoff_seconds(effective_interval(policy.interval, old), failures, rand)
        if outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, MAX_RETRY_AFTER))
        gone = old.gone or outcome.status == 410
        retry = now + timedelta(seconds=delay)
        return replace(state, last_error=outcome.message, failures=failures,
                       error_since=old.error_since or now, gone=gone, retry_after=retry,
                       next_due=None if gone else retry, error_class=outcome.error_class)
    state = replace(state, last_success=now, last_error=None, error_since=None, failures=0,
                    gone=False, retry_after=None, error_class=None)
    if isinstance(outcome, (NotModified, Fetched)):     # an answer from the server
        state = replace(state, fetches=old.fetches + 1,
                        not_modified=old.not_modified + (1 if isinstance(outcome, NotModified) else 0))
    if isinstance(outcome, (NotModified, Fetched)):
        seconds, by = outcome.cache or (None, None)
        state = replace(state, cache_seconds=seconds, cache_by=by)
    if isinstance(outcome, NotModified):
        if outcome.same_body:
            state = replace(state, etag=outcome.etag, last_modified=outcome.last_modified)
        else:
            state = replace(state, etag=outcome.etag or old.etag,
                            last_modified=outcome.last_modified or old.last_modified)
        state = track_redirect(state, outcome.permanent_url, old.url)
    elif isinstance(outcome, Fetched):
        state = replace(state, etag=outcome.etag, last_modified=outcome.last_modified,
                        body_hash=outcome.body_hash, warning=outcome.warning,
                        feed_title=outcome.title, feed_link=outcome.link,
                        ttl_seconds=outcome.ttl_seconds)
        state = track_redirect(state, outcome.permanent_url, old.url)
    else:   # Scanned
        state = replace(state, warning=outcome.warning, feed_title=outcome.title,
                        feed_link=outcome.link)
    interval = effective_interval(policy.interval, state)
    spread = min(MAX_JITTER, interval * policy.jitter)
    return replace(state, next_due=now + timedelta(seconds=interval + (rand.uniform(0, spread) if spread else 0.0)))


def restarted(state: SourceState, url: str | None, kind: str) -> SourceState:
    """The state to refresh from when the config now points the name elsewhere: a fresh one."""
    if state.url != url or state.kind != kind:
        return SourceState(name=state.name, kind=kind, url=url)
    return state
