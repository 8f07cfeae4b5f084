"""Source health, row by row on crafted histories, with the clock given (no I/O): every rule of
items/health.py, and the counters the writes keep."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from feedsvc.items.decide import Action, ItemRef, ItemWrite
from feedsvc.items.health import Policy, Tally, assess, classify, count_items, tally, urgency
from feedsvc.model import SourceState

from helpers_feedsvc import T0, item

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
OK = SourceState(name="s", kind="feed", last_attempt=NOW, last_success=NOW, fetches=10, not_modified=6,
                 etag='"e"', items_seen=20, last_new_at=NOW - DAY)
POLICY = Policy(silent_after=60 * 86400, max_share=0.3)


def kinds(state: SourceState, share: float | None = None, feed: bool = True) -> list[str]:
    return [p.kind for p in assess(state, NOW, POLICY, share, feed)]


@pytest.mark.parametrize("kind, message, status, body, want", [
    ("fetch", "connection failed: [Errno -2] Name or service not known", None, None, "dns"),
    ("fetch", "connection failed: Temporary failure in name resolution", None, None, "dns"),
    ("fetch", "connection failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", None, None, "tls"),
    ("fetch", "timed out connecting or waiting for the response", None, None, "timeout"),
    ("fetch", "response took longer than 30s", None, None, "timeout"),
    ("fetch", "connection failed: [Errno 111] Connection refused", None, None, "connect"),
    ("fetch", "HTTP 404 Not Found", 404, b"<html>gone</html>", "http"),
    ("fetch", "HTTP 403 Forbidden", 403, b"<title>Just a moment...</title><script src=/cdn-cgi/challenge-platform/x>", "challenge"),
    ("fetch", "HTTP 503 Service Unavailable", 503, b"<div id='cf-chl-widget'>", "challenge"),
    ("fetch", "response larger than the limit of 10485760 bytes", None, None, "too-large"),
    ("parse", "this is an HTML page (“Blog”), not a feed; it advertises 1: …", None, b"<html>", "html"),
    ("parse", "not a feed: no RSS, Atom or RDF root element", None, b"junk", "parse"),
    ("parse", "not a feed: …", None, b"<html><title>Attention Required! | Cloudflare</title>", "challenge"),
])
def test_errors_are_classified(kind, message, status, body, want):
    assert classify(kind, message, status, body) == want


def test_a_healthy_source_has_no_problem():
    assert kinds(OK) == []


def test_erroring_says_the_class_the_count_and_since_when():
    bad = replace(OK, last_error="HTTP 403 Forbidden", error_class="challenge", failures=4,
                  error_since=NOW - timedelta(hours=6))
    (p,) = assess(bad, NOW, POLICY)
    assert (p.kind, p.severity) == ("erroring", "error")
    assert p.text.startswith("challenge: HTTP 403 Forbidden (4 failures in a row since 2026-12-04T06:00:00")


def test_gone_and_moved():
    assert kinds(replace(OK, gone=True, last_error="HTTP 410 Gone")) == ["gone"]
    assert kinds(replace(OK, moved_to="https://new.example/feed")) == ["moved"]


@pytest.mark.parametrize("last_new, want", [(NOW - timedelta(days=61), ["silent"]), (NOW - timedelta(days=59), []),
                                            (None, [])])
def test_silent_only_while_fetches_succeed(last_new, want):
    assert kinds(replace(OK, last_new_at=last_new)) == want
    failing = replace(OK, last_new_at=NOW - timedelta(days=90), last_error="HTTP 500", failures=1, error_since=NOW)
    assert "silent" not in kinds(failing)


def test_date_problems():
    assert kinds(replace(OK, undated=15)) == ["dates"]                 # 75 % undated
    assert kinds(replace(OK, future_dated=5)) == ["dates"]             # 25 % in the future
    assert kinds(replace(OK, redated=40)) == ["dates"]                 # re-dated on every build
    assert kinds(replace(OK, undated=5, redated=2)) == []
    (p,) = assess(replace(OK, undated=15, redated=40), NOW, POLICY)
    assert "75% of its items have no date" in p.text and "re-dated its items 40 times" in p.text


def test_guid_churn_in_the_last_30_days_only():
    recent = [(NOW - timedelta(days=d)).timestamp() for d in (1, 2, 3)]
    old = [(NOW - timedelta(days=d)).timestamp() for d in (40, 50, 60)]
    assert kinds(replace(OK, churn=json.dumps(recent))) == ["churn"]
    assert kinds(replace(OK, churn=json.dumps(old + recent[:2]))) == []


def test_caching_problems_only_for_remote_feeds_with_enough_answers():
    never = replace(OK, not_modified=0, etag=None, last_modified=None)
    assert kinds(never) == ["caching"] and kinds(never, feed=False) == []
    assert kinds(replace(never, fetches=3)) == []
    stale = replace(OK, not_modified=0, stale_200=7)
    (p,) = assess(stale, NOW, POLICY)
    assert p.kind == "caching" and "7 of 10 answers were a 200 with a new body and the same items" in p.text


def test_flooding_over_the_share():
    assert kinds(OK, share=0.45) == ["flooding"] and kinds(OK, share=0.2) == []


def test_problems_are_ordered_by_severity_and_sources_by_urgency():
    many = replace(OK, last_error="HTTP 500", failures=2, error_since=NOW, moved_to="https://x/", undated=15)
    assert kinds(many) == ["erroring", "dates", "moved"]
    assert urgency(assess(many, NOW, POLICY)) < urgency(assess(replace(OK, undated=15), NOW, POLICY))


def _w(action, published=None, future=False, redated=False, rekeyed=False) -> ItemWrite:
    it = replace(item(guid="g", published=published), future_date=future)
    return ItemWrite(action, it, ItemRef(1), redated=redated, rekeyed=rekeyed)


def test_writes_are_tallied_and_counted():
    t = tally([_w(Action.NEW), _w(Action.NEW, published=T0), _w(Action.NEW, future=True),
               _w(Action.UPDATE, published=T0, redated=True), _w(Action.UPDATE, rekeyed=True),
               _w(Action.UNCHANGED), _w(Action.DUPLICATE)])
    assert t == Tally(new=3, changed=2, undated=1, future_dated=1, redated=1, rekeyed=1)
    st = count_items(OK, t, NOW)
    assert (st.items_seen, st.undated, st.future_dated, st.redated, st.last_new_at, st.stale_200) == (23, 1, 1, 1, NOW, 0)
    assert json.loads(st.churn or "[]") == [NOW.timestamp()]
    stale = count_items(OK, Tally(), NOW)
    assert stale.stale_200 == 1 and stale.last_new_at == OK.last_new_at
    assert count_items(OK, Tally(), NOW, parsed=False).stale_200 == 0
