"""``decide_source``, row by row: every transition of a source's state, with the clock and the
random source given (no I/O), in the style of reader's update decider."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from feedsvc.items.source_state import (
    MOVED_AFTER,
    Failed,
    Fetched,
    NotModified,
    Policy,
    Scanned,
    backoff_seconds,
    decide_source,
    effective_interval,
    is_due,
    may_fetch,
    restarted,
)
from feedsvc.model import SourceState

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
POLICY = Policy(interval=900.0, jitter=0.0)


class Fixed:
    """A random source that always gives the middle of the range (no jitter)."""

    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


FAILING = SourceState(name="s", kind="feed", url="https://e.org/feed", etag='"e1"', last_modified="Mon",
                      body_hash="b1", last_attempt=NOW - HOUR, last_success=NOW - 5 * HOUR,
                      last_error="HTTP 500", error_since=NOW - 3 * HOUR, failures=3,
                      retry_after=NOW - timedelta(minutes=1), warning="w", feed_title="T")


def decided(old: SourceState, outcome, policy: Policy = POLICY) -> SourceState:
    return decide_source(old, outcome, NOW, policy, Fixed())


@pytest.mark.parametrize("outcome", [NotModified(), NotModified(etag='"e2"'),
                                     NotModified(etag='"e3"', same_body=True),
                                     Fetched(body_hash="b2", etag='"e4"'), Scanned()])
def test_any_success_after_failures_clears_the_error_and_is_due_after_the_interval(outcome):
    new = decided(FAILING, outcome)
    assert (new.failures, new.last_error, new.error_since, new.retry_after, new.gone) == (0, None, None, None, False)
    assert new.last_attempt == new.last_success == NOW
    assert new.next_due == NOW + timedelta(seconds=900)


@pytest.mark.parametrize("outcome, etag, modified, body", [
    (NotModified(), '"e1"', "Mon", "b1"),                         # a 304 without validators: keep ours
    (NotModified(etag='"e2"'), '"e2"', "Mon", "b1"),             # a 304 with a new ETag: take it
    (NotModified(etag='"e3"', same_body=True), '"e3"', None, "b1"),   # same bytes: the answer's validators
    (Fetched(body_hash="b2", etag='"e4"'), '"e4"', None, "b2"),   # new bytes: all of the answer's
])
def test_validators_and_body_hash(outcome, etag, modified, body):
    new = decided(FAILING, outcome)
    assert (new.etag, new.last_modified, new.body_hash) == (etag, modified, body)


def test_a_parsed_feed_updates_its_title_link_ttl_and_warning():
    new = decided(FAILING, Fetched(body_hash="b2", title="New", link="https://e.org/", ttl_seconds=7200,
                                   warning="bozo"))
    assert (new.feed_title, new.feed_link, new.ttl_seconds, new.warning) == ("New", "https://e.org/", 7200, "bozo")
    assert new.next_due == NOW + timedelta(seconds=7200)        # the feed's own ttl raises the interval
    assert decided(FAILING, NotModified()).warning == "w"         # a 304 keeps the last parse's warning


@pytest.mark.parametrize("failures, want", [(0, 900), (1, 1800), (2, 3600), (3, 7200), (10, 86400), (40, 86400)])
def test_failures_back_off_exponentially_up_to_a_day(failures, want):
    old = replace(FAILING, failures=failures, error_since=None if failures == 0 else FAILING.error_since)
    new = decided(old, Failed("HTTP 500", status=500))
    assert new.failures == failures + 1
    assert new.retry_after == new.next_due == NOW + timedelta(seconds=want)
    assert new.error_since == (NOW if failures == 0 else FAILING.error_since)
    assert (new.last_error, new.last_success, new.etag) == ("HTTP 500", FAILING.last_success, '"e1"')


def test_retry_after_is_honoured_up_to_a_week():
    first = replace(FAILING, failures=0)
    assert decided(first, Failed("HTTP 429", 429, retry_after=6 * 3600)).retry_after == NOW + timedelta(hours=6)
    assert decided(first, Failed("HTTP 503", 503, retry_after=60)).retry_after == NOW + timedelta(seconds=900)
    assert decided(first, Failed("HTTP 429", 429, retry_after=30 * 86400)).retry_after == NOW + timedelta(days=7)


def test_410_is_gone_for_good_and_never_due():
    new = decided(FAILING, Failed("HTTP 410 Gone", 410))
    assert new.gone and new.next_due is None
    assert not may_fetch(new, NOW + timedelta(days=365)) and not is_due(new, NOW + timedelta(days=365))
    again = decided(new, Failed("HTTP 500", 500))                 # a forced refresh that fails: still gone
    assert again.gone
    assert not decided(new, Fetched(body_hash="b9")).gone          # a forced refresh that works: back


def test_a_permanent_redirect_is_adopted_after_enough_successes_in_a_row():
    st = replace(FAILING, failures=0)
    for n in range(1, MOVED_AFTER):
        st = decided(st, NotModified(permanent_url="https://new.example/feed"))
        assert (st.moved_candidate, st.moved_count, st.moved_to) == ("https://new.example/feed", n, None)
    st = decided(st, Fetched(body_hash="x", permanent_url="https://new.example/feed"))
    assert (st.moved_to, st.moved_candidate, st.moved_count) == ("https://new.example/feed", None, 0)
    # a redirect that stops before being adopted is forgotten
    st2 = decided(replace(FAILING, moved_candidate="https://x.example/", moved_count=2), NotModified())
    assert (st2.moved_candidate, st2.moved_count) == (None, 0)
    # a failure does not count towards it
    st3 = decided(replace(FAILING, moved_candidate="https://x.example/", moved_count=2), Failed("boom"))
    assert st3.moved_count == 2 and st3.moved_to is None


def test_jitter_spreads_a_success_by_up_to_its_share_of_the_interval_capped_at_five_minutes():
    old = replace(FAILING, failures=0)
    lo = decide_source(old, NotModified(), NOW, Policy(3600, jitter=0.1), Low())
    hi = decide_source(old, NotModified(), NOW, Policy(3600, jitter=0.1), High())
    assert lo.next_due == NOW + timedelta(seconds=3600)
    assert hi.next_due == NOW + timedelta(seconds=3600 + 300)       # 10 % of an hour, capped at 5 min
    hi2 = decide_source(old, NotModified(), NOW, Policy(600, jitter=0.1), High())
    assert hi2.next_due == NOW + timedelta(seconds=660)


class Low:
    def uniform(self, a: float, b: float) -> float:
        return a


class High:
    def uniform(self, a: float, b: float) -> float:
        return b


def test_backoff_jitter_is_ten_percent_from_the_injected_source():
    assert backoff_seconds(600, 1, Low()) == 540 and backoff_seconds(600, 1, High()) == 660
    values = {backoff_seconds(600, 2, random.Random(seed)) for seed in range(20)}
    assert len(values) > 1 and all(1080 <= v <= 1320 for v in values)


def test_due_and_may_fetch():
    st = SourceState(name="s", kind="feed")
    assert is_due(st, NOW) and may_fetch(st, NOW)                 # never fetched: due at once
    later = replace(st, next_due=NOW + HOUR)
    assert not is_due(later, NOW) and may_fetch(later, NOW) and is_due(later, NOW + HOUR)
    backing = replace(st, retry_after=NOW + HOUR)
    assert not may_fetch(backing, NOW) and may_fetch(backing, NOW + HOUR)


def test_effective_interval_takes_the_feeds_ttl_up_to_a_day():
    st = SourceState(name="s", kind="feed", ttl_seconds=7200)
    assert effective_interval(900, st) == 7200
    assert effective_interval(10800, st) == 10800
    assert effective_interval(900, replace(st, ttl_seconds=10 * 86400)) == 86400


def test_a_source_pointed_elsewhere_starts_afresh():
    assert restarted(FAILING, "https://e.org/feed", "feed") is FAILING
    fresh = restarted(FAILING, "https://other.org/feed", "feed")
    assert fresh == SourceState(name="s", kind="feed", url="https://other.org/feed")
