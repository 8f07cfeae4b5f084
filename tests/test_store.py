"""The SQLite store specifically: the item JSON, persistence across processes, what its purge
queries count, corrupt and too-new files, read-only opening."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from feedsvc.errors import StoreError
from feedsvc.model import Enclosure, Person, SourceState
from feedsvc.storage.codec import item_from_json, item_to_json
from feedsvc.storage.sqlite import SqliteStorage as Store

from helpers_feedsvc import T0, item
from test_storage_contract import ingest


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


def test_per_source_limit_is_checked_for_the_sources_written_since_the_last_purge(store):
    statements: list[str] = []
    store.db.set_trace_callback(statements.append)

    def purge(limit: int) -> set[str]:
        """Purge; what it counted: "all" (every source's items) and/or the sources counted alone."""
        statements.clear()
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


def test_source_state_round_trip_and_runs_persist(tmp_path):
    path = tmp_path / "db.sqlite"
    s = Store(path)
    assert s.next_run() == 1 and s.next_run() == 2
    st = SourceState(name="blog", kind="feed", url="https://e.org/feed", etag='"abc"',
                     last_modified="Wed, 01 May 2024 12:00:00 GMT", last_attempt=T0, last_success=T0,
                     last_error=None, failures=0, feed_title="Blog")
    s.save_states([st])
    s.close()
    s = Store(path)
    assert s.next_run() == 3
    got = s.state("blog")
    assert got.etag == '"abc"' and got.last_success == T0 and got.feed_title == "Blog"
    assert s.state("unknown", "feed", "https://x.org/").url == "https://x.org/"
    s.close()


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




def test_read_only_store_reads_and_refuses_writes(tmp_path):
    path = tmp_path / "feedsvc.db"
    missing = Store(path, readonly=True)              # not created yet: reads as empty
    assert missing.states() == {} and missing.count_items() == 0 and missing.last_publish() is None
    missing.close()
    assert not path.exists()
    s = Store(path)
    ingest(s, "first", [item(source="first", guid="a")], T0, 1)
    s.close()
    ro = Store(path, readonly=True)
    assert ro.count_items() == 1
    with pytest.raises(StoreError, match="read-only"):
        ro.save_states([SourceState(name="x", kind="feed")])
    ro.close()
