"""A source's health, from what the store already knows of it. Pure: the clock comes in.

The counters are kept with the source's state (``SourceState``: answers, 304s, stale 200s, new
items, undated / future-dated / re-dated ones, guid churn, the class of the last error), updated
by ``source_state.decide_source`` (each answer, each failure's ``classify``) and ``count_items``
(each write of items, from ``tally`` of the decided writes). ``assess`` turns a
state into the problems an operator should see, most urgent first:

- erroring: the class of the failure (dns, connect, tls, timeout, http, html — a web page, not a
  feed —, challenge — a bot-protection page —, parse, too-large), how many times in a row, since
  when; gone (410); moved (a permanent redirect adopted);
- silent: no new item for ``silent_after`` while fetches succeed;
- dates: a share of its items without a date, dated in the future, or re-dated between fetches
  (a feed that re-dates everything on each build);
- identity churn: items that came back under a new guid in the last 30 days;
- caching: never a 304 and no validators, or 200s with a new body and the same items;
- flooding: more than ``max_share`` of the combined feed's current items.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from feedsvc.items.decide import Action, ItemWrite
from feedsvc.model import SourceState

CHURN_WINDOW = timedelta(days=30)
SEVERITY = {"error": 0, "warning": 1, "notice": 2}

_DNS = re.compile(r"(?i)name or service not known|nodename nor servname|temporary failure in name resolution|"
                  r"getaddrinfo|no address associated|name resolution")
_TLS = re.compile(r"(?i)certificate|ssl|tls|handshake")
_TIMEOUT = re.compile(r"(?i)timed out|took longer|timeout")
_CONNECT = re.compile(r"(?i)connection failed|refused|reset by peer|unreachable|connection aborted")
# what the big bot-protection services put on their challenge pages
_CHALLENGE = re.compile(rb"(?i)cf-chl|challenge-platform|__cf_chl|just a moment\.\.\.|attention required! \| cloudflare|"
                        rb"ddos-guard|_incapsula_resource|sucuri website firewall|captcha-delivery|"
                        rb"checking your browser|enable javascript and cookies to continue")


def classify(kind: str, message: str, status: int | None, body: bytes | None = None) -> str:
    """The class of a failure: ``kind`` is "fetch" or "parse"."""
    if body and status in (403, 429, 503) and _CHALLENGE.search(body[:16384]):
        return "challenge"
    if kind == "parse":
        if message.startswith("this is an HTML page"):
            return "html"
        if body and _CHALLENGE.search(body[:16384]):
            return "challenge"
        return "parse"
    if "larger than the limit" in message or "too large" in message:
        return "too-large"
    if status is not None:
        return "http"
    if _DNS.search(message):
        return "dns"
    if _TLS.search(message):
        return "tls"
    if _TIMEOUT.search(message):
        return "timeout"
    return "connect" if _CONNECT.search(message) else "fetch"


@dataclass(frozen=True, slots=True)
class Tally:
    """What one write of a source's items brought."""
    new: int = 0
    changed: int = 0             # updated or taken over
    undated: int = 0
    future_dated: int = 0
    redated: int = 0
    rekeyed: int = 0             # came back under a new guid (a migration)


def tally(writes: Sequence[ItemWrite]) -> Tally:
    new = changed = undated = future = redated = rekeyed = 0
    for w in writes:
        if w.action is Action.NEW:
            new += 1
            undated += w.item.published is None and not w.item.future_date
            future += w.item.future_date
        elif w.action in (Action.UPDATE, Action.TAKEOVER):
            changed += 1
            redated += w.redated
            rekeyed += w.rekeyed
    return Tally(new, changed, undated, future, redated, rekeyed)


def count_items(state: SourceState, t: Tally, now: datetime, parsed: bool = True) -> SourceState:
    """The state after a write of items: new ones, their dates, guid churn, a stale 200."""
    churn = [x for x in _churn(state) if x >= (now - CHURN_WINDOW).timestamp()]
    churn += [now.timestamp()] * min(t.rekeyed, 100)
    return replace(state, items_seen=state.items_seen + t.new, undated=state.undated + t.undated,
                   future_dated=state.future_dated + t.future_dated, redated=state.redated + t.redated,
                   last_new_at=now if t.new else state.last_new_at,
                   stale_200=state.stale_200 + (1 if parsed and not t.new and not t.changed else 0),
                   churn=json.dumps(churn[-100:]) if churn else None)


def _churn(state: SourceState) -> list[float]:
    try:
        return [float(x) for x in json.loads(state.churn or "[]")]
    except (ValueError, TypeError):
        return []


@dataclass(frozen=True, slots=True)
class Policy:
    silent_after: float = 60 * 86400.0   # seconds without a new item while fetches succeed
    max_share: float = 0.3               # of the combined feed's current items


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str                    # erroring, gone, moved, silent, dates, churn, caching, flooding
    severity: str                # error, warning, notice
    text: str                    # one line for people
    since: datetime | None = None


def assess(state: SourceState, now: datetime, policy: Policy, share: float | None = None,
           feed: bool = True) -> list[Problem]:
    """The problems of one source, most urgent first. ``share``: its part of the combined feed's
    current items; ``feed``: a remote feed (local article directories have no HTTP to judge)."""
    out: list[Problem] = []
    if state.gone:
        out.append(Problem("gone", "error", "gone: the server answered 410; no longer fetched", state.error_since))
    elif state.last_error:
        cls = state.error_class or "error"
        out.append(Problem("erroring", "error", f"{cls}: {state.last_error} ({state.failures} failure"
                           f"{'s' if state.failures != 1 else ''} in a row since "
                           f"{state.error_since.isoformat(timespec='seconds') if state.error_since else '?'})",
                           state.error_since))
    if state.moved_to:
        out.append(Problem("moved", "notice", f"moved permanently to {state.moved_to}: update its url"))
    if share is not None and share > policy.max_share:
        out.append(Problem("flooding", "warning", f"flooding: {share:.0%} of the combined feed's items "
                           f"(more than {policy.max_share:.0%})"))
    if (not state.last_error and state.last_success is not None and state.items_seen
            and state.last_new_at is not None and (now - state.last_new_at).total_seconds() > policy.silent_after):
        days = (now - state.last_new_at).days
        out.append(Problem("silent", "warning", f"silent: no new item for {days} day{'s' if days != 1 else ''} "
                           "while its fetches succeed", state.last_new_at))
    seen = max(1, state.items_seen)
    if state.items_seen >= 3:
        parts = []
        if state.undated / seen > 0.5:
            parts.append(f"{state.undated / seen:.0%} of its items have no date")
        if state.future_dated / seen > 0.2:
            parts.append(f"{state.future_dated / seen:.0%} are dated in the future")
        if state.redated >= 3 and state.redated >= state.items_seen / 2:
            parts.append(f"it re-dated its items {state.redated} times (a feed rebuilt with new dates)")
        if parts:
            out.append(Problem("dates", "warning", "dates: " + "; ".join(parts)))
    churn = [x for x in _churn(state) if x >= (now - CHURN_WINDOW).timestamp()]
    if len(churn) >= 3:
        out.append(Problem("churn", "notice", f"identity churn: {len(churn)} items came back under a new guid "
                           "in the last 30 days"))
    if feed and state.fetches >= 5:
        if not state.not_modified and not state.etag and not state.last_modified:
            out.append(Problem("caching", "notice", "caching: never answers 304 and sends no validators "
                               "(ETag, Last-Modified): every fetch downloads the whole feed"))
        elif state.stale_200 >= max(3, state.fetches // 2):
            out.append(Problem("caching", "notice", f"caching: {state.stale_200} of {state.fetches} answers were "
                               "a 200 with a new body and the same items"))
    return sorted(out, key=lambda p: SEVERITY[p.severity])


def urgency(problems: Sequence[Problem]) -> tuple[int, int]:
    """Sort key of a source by its problems: most severe first, then most problems."""
    return (min((SEVERITY[p.severity] for p in problems), default=9), -len(problems))
