"""The SQLite store, real and on disk: dates it owns, updates in place, aliases, takeovers,
retention, fetch state, and that ingesting the same thing twice changes nothing."""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from feedsvc.items.decide import decide
from feedsvc.errors import StoreError
from feedsvc.model import Enclosure, Person, SourceState
from feedsvc.storage.sqlite import Store, item_from_json, item_to_json
from helpers_feedsvc import T0, item

RANK = {"first": 0, "second": 1}


def ingest(store: Store, source: str, items, now, run: int, present: bool = True) -> dict[str, int]:
    with store.transaction():
        snap = store.snapshot(source, items)
        return store.apply(source, decide(items, snap, RANK, run), now, run, present=present)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "state" / "feedsvc.db")
    try:
        yield s
    finally:
        s.close()


def test_item_json_round_trip():
    it = item(guid="g", link="https://e.org/1", title="T", published=T0, updated=T0 + timedelta(hours=1),
              authors=(Person("A", "a@e.org", "https://e.org/a"),), categories=("x", "y"),
              enclosures=(Enclosure("https://e.org/a.mp3", "audio/mpeg", 10),), content="<p>c</p>")
    assert item_from_json(item_to_json(it)) == it


def test_new_items_store_first_seen_and_date(store):
    dated = item(source="first", guid="dated", published=T0 - timedelta(days=3))
    undated = item(source="first", guid="undated")
    assert ingest(store, "first", [dated, undated], T0, 1)["new"] == 2
    by_key = {s.item.key: s for s in store.items_of("first")}
    assert by_key["g:dated"].date == T0 - timedelta(days=3)
    assert by_key["g:undated"].date == T0                  # no date: the time first seen
    assert by_key["g:undated"].first_seen == T0


def test_first_seen_date_never_changes_on_later_refreshes(tmp_path):
    path = tmp_path / "db.sqlite"
    s = Store(path)
    undated = item(source="first", guid="undated", content="<p>v1</p>")
    ingest(s, "first", [undated], T0, 1)
    s.close()
    s = Store(path)                                        # a later process
    later = T0 + timedelta(days=2)
    counts = ingest(s, "first", [undated], later, 2)
    assert counts == {"new": 0, "updated": 0, "unchanged": 1, "duplicates": 0}
    changed = item(source="first", guid="undated", content="<p>v2</p>")
    assert ingest(s, "first", [changed], later + timedelta(days=1), 3)["updated"] == 1
    (st,) = s.items_of("first")
    assert st.date == T0 and st.first_seen == T0           # published kept
    assert st.updated == later + timedelta(days=1)         # updated moved
    assert st.item.content == "<p>v2</p>"
    s.close()


def test_changed_content_updates_in_place(store):
    v1 = item(source="first", guid="a", published=T0, content="<p>one</p>")
    ingest(store, "first", [v1], T0, 1)
    (before,) = store.items_of("first")
    v2 = item(source="first", guid="a", published=T0, content="<p>two</p>", title="New title")
    now = T0 + timedelta(hours=5)
    assert ingest(store, "first", [v2], now, 2)["updated"] == 1
    (after,) = store.items_of("first")
    assert store.count_items() == 1
    assert after.item.id == before.item.id
    assert after.item.title == "New title" and after.item.content == "<p>two</p>"
    assert after.date == T0                                # published kept
    assert after.updated == now                            # updated moves to when we saw it
    # a feed-given updated date is used when it says so
    v3 = item(source="first", guid="a", published=T0, content="<p>three</p>", updated=now + timedelta(hours=1))
    ingest(store, "first", [v3], now + timedelta(hours=2), 3)
    assert store.items_of("first")[0].updated == now + timedelta(hours=1)


def test_repeats_in_one_batch_store_once(store):
    a = item(source="first", guid="a", title="A")
    counts = ingest(store, "first", [a, a, replace(a, title="A again")], T0, 1)
    assert counts["new"] == 1 and store.count_items() == 1


def test_cross_source_duplicate_is_stored_once_and_remembers_the_other_source(store):
    a = item(source="first", link="https://e.org/story?utm_source=first")
    b = item(source="second", link="https://E.org/story#top", title="Other title")
    ingest(store, "first", [a], T0, 1)
    assert ingest(store, "second", [b], T0, 2)["duplicates"] == 1
    (st,) = store.newest(10)
    assert st.item.source == "first" and st.item.title == a.title
    assert st.also_in == ("second",)
    # the duplicate is remembered: seen again, it is unchanged, not new
    assert ingest(store, "second", [b], T0, 3) == {"new": 0, "updated": 0, "unchanged": 1, "duplicates": 0}
    assert store.count_items() == 1


def test_takeover_within_one_run_gives_the_item_to_the_first_listed_source(store):
    late = item(source="second", link="https://e.org/story", title="from second")
    early = item(source="first", link="https://e.org/story?utm_medium=x", title="from first")
    ingest(store, "second", [late], T0, 7)                 # the later-listed source finished first
    counts = ingest(store, "first", [early], T0, 7)
    assert counts["new"] == 1
    (st,) = store.newest(10)
    assert store.count_items() == 1
    assert st.item.source == "first" and st.item.title == "from first"
    assert st.also_in == ("second",)
    # next run: both carry it again, nothing changes
    assert ingest(store, "second", [late], T0, 8)["unchanged"] == 1
    assert ingest(store, "first", [early], T0, 8)["unchanged"] == 1
    assert store.count_items() == 1


def test_a_takeover_never_gives_an_item_an_id_another_item_holds(store):
    """A source takes over a story by its link while its guid is already the id of a third
    source's stored story (seen in the corpus with concurrent fetches): ids stay unique."""
    rank = {**RANK, "third": 2}
    guid = "tag:x.org,2024:s"
    stories = {"third": item(source="third", guid=guid, link="https://other.example/a", title="t"),
               "second": item(source="second", guid="second-1", link="https://e.org/story", title="s"),
               "first": item(source="first", guid=guid, link="https://e.org/story", title="f")}
    for name in ("third", "second", "first"):
        with store.transaction():
            batch = [stories[name]]
            store.apply(name, decide(batch, store.snapshot(name, batch), rank, 7), T0, 7)
    ids = sorted(x.item.id for x in store.newest(10))
    assert len(ids) == len(set(ids)) == 2 and guid in ids


def test_items_stay_after_dropping_out_of_the_feed_until_retention(store):
    old = item(source="first", guid="old", published=T0 - timedelta(days=400))
    recent = item(source="first", guid="recent", published=T0 - timedelta(days=10))
    ingest(store, "first", [old, recent], T0, 1)
    ingest(store, "first", [], T0, 2)                      # the feed now carries neither
    with store.transaction():
        assert store.purge(T0, max_age=365 * 86400, per_source=1000) == 1
    assert [s.item.key for s in store.items_of("first")] == ["g:recent"]
    # an item still in the feed is never purged, however old
    ingest(store, "first", [old], T0, 3)
    with store.transaction():
        store.purge(T0, max_age=86400, per_source=1000)
    assert [s.item.key for s in store.items_of("first")] == ["g:old"]


def test_per_source_retention_keeps_the_newest(store):
    items = [item(source="first", guid=f"n{i}", published=T0 - timedelta(days=i)) for i in range(5)]
    ingest(store, "first", items, T0, 1)
    ingest(store, "first", [], T0, 2)
    with store.transaction():
        store.purge(T0, max_age=10 * 365 * 86400, per_source=2)
    assert [s.item.key for s in store.items_of("first")] == ["g:n0", "g:n1"]


def test_per_source_limit_is_checked_for_the_sources_written_since_the_last_purge(store):
    statements: list[str] = []
    store.db.set_trace_callback(statements.append)

    def purge(limit: int) -> set[str]:
        """Purge; what it counted: "all" (every source's items) and/or the sources counted alone."""
        statements.clear()
        with store.transaction():
            store.purge(T0, max_age=10 * 365 * 86400, per_source=limit)
        return ({"all"} if any("GROUP BY source" in q for q in statements) else set()) | {
            q.split("'")[1] for q in statements if q.startswith("SELECT COUNT(*) FROM item WHERE source")}

    def keys(source: str = "first") -> list[str]:
        return [s.item.key for s in store.items_of(source)]

    ingest(store, "first", [item(source="first", guid=f"n{i}", published=T0 - timedelta(days=i))
                            for i in range(5)], T0, 1)
    ingest(store, "second", [item(source="second", guid="s0")], T0, 1)
    ingest(store, "first", [], T0, 2)
    assert purge(10) == {"all"} and len(keys()) == 5   # a store's first purge counts every source
    assert purge(10) == set()                           # nothing written since: nothing counted
    assert purge(3) == {"all"} and keys() == ["g:n0", "g:n1", "g:n2"]   # a new limit: all again
    ingest(store, "first", [item(source="first", guid=f"m{i}", published=T0 + timedelta(hours=i + 1))
                            for i in range(2)], T0, 3)
    ingest(store, "first", [], T0, 4)
    assert purge(3) == {"first"} and keys() == ["g:m1", "g:m0", "g:n0"]  # only the source written
    assert purge(3) == set() and keys("second") == ["g:s0"]


def test_newest_orders_by_date_then_id(store):
    same = T0 - timedelta(days=1)
    items = [item(source="first", guid=f"tag:e.org,2024:{c}", published=same) for c in "cab"]
    items.append(item(source="first", guid="tag:e.org,2024:z", published=T0))
    ingest(store, "first", items, T0, 1)
    assert [s.item.id for s in store.newest(10)] == ["tag:e.org,2024:z", "tag:e.org,2024:a",
                                                     "tag:e.org,2024:b", "tag:e.org,2024:c"]
    assert len(store.newest(2)) == 2


def test_source_state_round_trip_and_runs_persist(tmp_path):
    path = tmp_path / "db.sqlite"
    s = Store(path)
    assert s.next_run() == 1 and s.next_run() == 2
    st = SourceState(name="blog", kind="feed", url="https://e.org/feed", etag='"abc"',
                     last_modified="Wed, 01 May 2024 12:00:00 GMT", last_attempt=T0, last_success=T0,
                     last_error=None, failures=0, feed_title="Blog")
    with s.transaction():
        s.save_state(st)
    s.close()
    s = Store(path)
    assert s.next_run() == 3
    got = s.state("blog")
    assert got.etag == '"abc"' and got.last_success == T0 and got.feed_title == "Blog"
    assert s.state("unknown", "feed", "https://x.org/").url == "https://x.org/"
    s.close()


def test_a_failed_transaction_leaves_nothing(store):
    a = item(source="first", guid="a")
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.apply("first", decide([a], store.snapshot("first", [a]), RANK, 1), T0, 1)
            raise RuntimeError("crash mid-source")
    assert store.count_items() == 0


def test_corrupt_store_is_a_clear_store_error(tmp_path):
    path = tmp_path / "feedsvc.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as ei:
        Store(path)
    assert str(path) in str(ei.value) and "move it aside" in str(ei.value)


def test_store_from_a_newer_feedsvc_is_refused(tmp_path):
    path = tmp_path / "feedsvc.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET v = '99' WHERE k = 'schema'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


# ---- property: ingesting the same feed twice changes nothing ---------------------------------

batch = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]),
                           st.sampled_from(["https://e.org/1", "https://e.org/2", None]),
                           st.sampled_from(["<p>x</p>", "<p>y</p>"]),
                           st.sampled_from(["first", "second"])), max_size=10)


@settings(max_examples=40, deadline=None)
@given(batch)
def test_ingesting_twice_changes_nothing(rows):
    with tempfile.TemporaryDirectory() as d:
        s = Store(Path(d) / "db.sqlite")
        try:
            by_source: dict[str, list] = {"first": [], "second": []}
            for g, link, content, src in rows:
                by_source[src].append(item(source=src, guid=g, link=link, content=content))
            for src, items in by_source.items():
                ingest(s, src, items, T0, 1)
            before = [(x.item, x.date, x.updated, x.also_in) for x in s.newest(100)]
            for src, items in by_source.items():
                counts = ingest(s, src, items, T0 + timedelta(days=1), 2)
                assert counts["new"] == counts["updated"] == counts["duplicates"] == 0
            after = [(x.item, x.date, x.updated, x.also_in) for x in s.newest(100)]
            assert after == before
        finally:
            s.close()
