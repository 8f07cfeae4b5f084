"""Canonical links and the pure ``decide`` step, on tables (no store, no I/O)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings, strategies as st

from feedsvc.dedup import Action, Known, Snapshot, canonical_link, decide, dedup_keys
from helpers_feedsvc import T0, item

# ---- canonical links ----------------------------------------------------------------------------


@pytest.mark.parametrize("url, want", [
    # scheme and host lower-cased, path case kept
    ("HTTPS://Example.ORG/Path/Page", "https://example.org/Path/Page"),
    # default ports dropped, others kept
    ("http://example.org:80/a", "http://example.org/a"),
    ("https://example.org:443/a", "https://example.org/a"),
    ("https://example.org:8443/a", "https://example.org:8443/a"),
    ("http://example.org:443/a", "http://example.org:443/a"),
    # fragment dropped
    ("https://example.org/a#comments", "https://example.org/a"),
    # tracking parameters dropped
    ("https://example.org/a?utm_source=rss&utm_medium=feed&utm_campaign=x&UTM_Term=y&utm_content=z",
     "https://example.org/a"),
    ("https://example.org/a?fbclid=abc", "https://example.org/a"),
    ("https://example.org/a?gclid=abc&id=7", "https://example.org/a?id=7"),
    # the rest of the query sorted
    ("https://example.org/a?z=1&b=2&a=3", "https://example.org/a?a=3&b=2&z=1"),
    ("https://example.org/a?b=2&utm_source=x&a=1#f", "https://example.org/a?a=1&b=2"),
    # an empty path is "/"
    ("https://Example.org", "https://example.org/"),
    ("https://example.org?utm_source=x", "https://example.org/"),
    # not http(s): no canonical link
    ("ftp://example.org/a", None),
    ("mailto:a@example.org", None),
    ("/relative/path", None),
    ("", None),
    (None, None),
    ("http://[::1]:99999/", None),
])
def test_canonical_link(url, want):
    assert canonical_link(url) == want


def test_tracking_variants_share_one_canonical_link():
    variants = ["https://News.example.com/2024/story?utm_source=twitter",
                "https://news.example.com:443/2024/story?fbclid=IwAR0",
                "HTTPS://NEWS.EXAMPLE.COM/2024/story#comments",
                "https://news.example.com/2024/story?gclid=x&utm_medium=email"]
    assert len({canonical_link(v) for v in variants}) == 1


def test_dedup_keys():
    assert dedup_keys("https://e.org/a", None, False) == ("link:https://e.org/a",)
    # a permalink guid is a link key too
    assert dedup_keys("https://proxy.example/x", "https://E.org/a#c", True) == \
        ("link:https://proxy.example/x", "link:https://e.org/a", "id:https://E.org/a#c")
    # ids published as they are (http(s), tag:, urn:) match across sources; a local guid does not
    assert dedup_keys(None, "tag:e.org,2024:1", False) == ("id:tag:e.org,2024:1",)
    assert dedup_keys(None, "urn:uuid:0e2f", False) == ("id:urn:uuid:0e2f",)
    assert dedup_keys(None, "http://e.org/?p=1", False) == ("id:http://e.org/?p=1",)
    assert dedup_keys(None, "alpha-0007", False) == ()


def test_same_published_id_from_two_sources_is_one_story():
    # an RDF item (rdf:about, a permalink) and an RSS guid isPermaLink="false" with the same URL
    a = it(source="first", guid="http://example.com/1", guid_is_permalink=True)
    b = it(source="second", guid="http://example.com/1", guid_is_permalink=False, title="Other")
    assert a.id == b.id
    snap = Snapshot(own={}, by_dedup_key={k: known(1, "first") for k in a.dedup_keys})
    assert decide([b], snap, RANK, 2)[0].action is Action.DUPLICATE


# ---- decide ----------------------------------------------------------------------------------

RANK = {"first": 0, "second": 1, "third": 2}
EMPTY = Snapshot(own={}, by_dedup_key={})


def it(source="first", guid=None, link=None, title="T", **kw):
    return item(source=source, guid=guid, link=link, title=title, **kw)


def known(pk, source, h="h", run=1):
    return Known(pk=pk, source=source, content_hash=h, run=run)


def actions(ds):
    return [(d.action, d.item.key) for d in ds]


def test_all_new_on_an_empty_store():
    items = [it(guid="a"), it(guid="b"), it(link="https://e.org/c")]
    assert actions(decide(items, EMPTY, RANK, 1)) == [
        (Action.NEW, "g:a"), (Action.NEW, "g:b"), (Action.NEW, "l:https://e.org/c")]


def test_repeats_in_one_fetch_count_once_first_kept():
    a1 = it(guid="a", title="first copy")
    a2 = it(guid="a", title="second copy")
    ds = decide([a1, it(guid="b"), a2, it(guid="b")], EMPTY, RANK, 1)
    assert actions(ds) == [(Action.NEW, "g:a"), (Action.NEW, "g:b")]
    assert ds[0].item.title == "first copy"


def test_entries_with_distinct_guids_sharing_a_link_are_distinct_items():
    # a podcast whose every episode links to the show's home page: three episodes, not one
    eps = [it(guid=f"https://pod.example/ep{i}.mp3", link="https://pod.example/") for i in range(3)]
    ds = decide(eps, EMPTY, RANK, 1)
    assert [d.action for d in ds] == [Action.NEW] * 3
    # and the shared link is no dedup key: it names a page, not a story
    assert all("link:https://pod.example/" not in d.item.dedup_keys for d in ds)


def test_unchanged_and_updated_own_items():
    a, b = it(guid="a"), it(guid="b", content="<p>v1</p>")
    snap = Snapshot(own={"g:a": known(1, "first", a.content_hash),
                         "g:b": known(2, "first", b.content_hash)}, by_dedup_key={})
    b2 = it(guid="b", content="<p>v2</p>")
    ds = decide([a, b2], snap, RANK, 2)
    assert actions(ds) == [(Action.UNCHANGED, "g:a"), (Action.UPDATE, "g:b")]
    assert ds[1].target.pk == 2


def test_stored_copy_wins_over_any_later_arrival():
    # "second" stored the story in an earlier run: even the first-listed source is a duplicate
    mine = it(source="first", link="https://e.org/story?utm_source=a")
    snap = Snapshot(own={}, by_dedup_key={"link:https://e.org/story": known(9, "second", run=1)})
    ds = decide([mine], snap, RANK, run=2)
    assert actions(ds) == [(Action.DUPLICATE, mine.key)] and ds[0].target.pk == 9


def test_same_run_earlier_listed_source_takes_over():
    mine = it(source="first", link="https://e.org/story")
    snap = Snapshot(own={}, by_dedup_key={"link:https://e.org/story": known(9, "second", run=5)})
    assert decide([mine], snap, RANK, run=5)[0].action is Action.TAKEOVER
    # a later-listed source arriving second in the same run is a duplicate
    late = it(source="third", link="https://e.org/story")
    assert decide([late], snap, RANK, run=5)[0].action is Action.DUPLICATE


def test_permalink_guid_matches_another_sources_link():
    a = it(source="second", guid="https://e.org/story", guid_is_permalink=True, link="https://proxy.example/1")
    snap = Snapshot(own={}, by_dedup_key={"link:https://e.org/story": known(3, "first")})
    assert decide([a], snap, RANK, 2)[0].action is Action.DUPLICATE


def test_a_non_permalink_local_guid_never_matches_across_sources():
    a = it(source="second", guid="alpha-0007")
    snap = Snapshot(own={}, by_dedup_key={"id:alpha-0007": known(3, "first")})
    assert decide([a], snap, RANK, 2)[0].action is Action.NEW


def test_alias_of_another_sources_item_is_unchanged():
    a = it(source="second", guid="x")
    snap = Snapshot(own={"g:x": known(4, "first")}, by_dedup_key={})
    assert decide([a], snap, RANK, 3)[0].action is Action.UNCHANGED


def test_own_item_holding_a_key_is_not_a_cross_source_duplicate():
    # this source already stored another entry with the same link: a new entry, not an update of it
    a = it(source="first", guid="new-guid", link="https://e.org/page")
    snap = Snapshot(own={}, by_dedup_key={"link:https://e.org/page": known(1, "first")})
    assert decide([a], snap, RANK, 2)[0].action is Action.NEW


# ---- properties ----------------------------------------------------------------------------------

entries = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d", "e"]),
                             st.sampled_from(["https://e.org/1", "https://e.org/2", None]),
                             st.sampled_from(["x", "y"])), max_size=12)


@settings(max_examples=200, deadline=None)
@given(entries, st.randoms())
def test_decisions_cover_each_key_once_whatever_the_order(rows, rnd):
    items = [it(guid=g, link=l, title=t) for g, l, t in rows]
    shuffled = list(items)
    rnd.shuffle(shuffled)
    a = decide(items, EMPTY, RANK, 1)
    b = decide(shuffled, EMPTY, RANK, 1)
    assert sorted(d.item.key for d in a) == sorted({i.key for i in items})
    assert sorted(d.item.key for d in a) == sorted(d.item.key for d in b)
    assert all(d.action is Action.NEW for d in a)


def test_updated_field_alone_does_not_make_an_update():
    a = it(guid="a", updated=T0)
    snap = Snapshot(own={"g:a": known(1, "first", a.content_hash)}, by_dedup_key={})
    again = it(guid="a", updated=T0 + timedelta(days=1))
    assert decide([again], snap, RANK, 2)[0].action is Action.UNCHANGED
