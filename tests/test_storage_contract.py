"""The storage contract: every ``Storage`` implementation (SQLite, the in-memory fake) must pass
these. Dates the store keeps, updates in place, copies, takeovers, retention, source state,
publish bookkeeping, claims, and that ingesting the same thing twice changes nothing."""

from __future__ import annotations

import tempfile
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.errors import LeaseLost, LockTimeout
from feedsvc.items.decide import decide, lookups, resolve
from feedsvc.model import Seen, SourceState
from feedsvc.storage import FileChanges, FileRecord, PublishRecord, SourceUpdate, Storage, Worker
from feedsvc.storage.memory import MemoryStorage
from feedsvc.storage.sqlite import SqliteStorage

from helpers_feedsvc import T0, item

RANK = {"first": 0, "second": 1}
KINDS = ["sqlite", "memory", "postgresql"]


def make(kind: str, tmp: Path, request=None) -> Storage:
    if kind == "sqlite":
        return SqliteStorage(tmp / "state" / "feedsvc.db")
    if kind == "postgresql":
        from feedsvc.storage.postgres import PostgresStorage

        return PostgresStorage(request.getfixturevalue("pg_url"))
    return MemoryStorage()


@pytest.fixture(params=KINDS)
def store(request, tmp_path):
    s = make(request.param, tmp_path, request)
    try:
        yield s
    finally:
        s.close()


def apply(tx, source: str, items, now, run: int, present: bool = True, rank=RANK):
    own, keys = lookups(items)
    snap = tx.snapshot(own, keys)
    writes = resolve(decide(items, snap, rank, run), snap, now, run)
    return tx.apply(SourceUpdate(state=SourceState(name=source, kind="feed", last_attempt=now),
                                 run=run, writes=writes, present=present))


def ingest(store: Storage, source: str, items, now, run: int, present: bool = True, rank=RANK) -> dict[str, int]:
    with store.write(source) as tx:
        c = apply(tx, source, items, now, run, present, rank)
    return {"new": c.new, "updated": c.updated, "unchanged": c.unchanged, "duplicates": c.duplicates}


def test_new_items_store_first_seen_and_date(store):
    dated = item(source="first", guid="dated", published=T0 - timedelta(days=3))
    undated = item(source="first", guid="undated")
    assert ingest(store, "first", [dated, undated], T0, 1)["new"] == 2
    by_key = {s.item.key: s for s in store.items_of("first")}
    assert by_key["g:dated"].date == T0 - timedelta(days=3)
    assert by_key["g:undated"].date == T0                  # no date: the time first seen
    assert by_key["g:undated"].first_seen == T0


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
        ingest(store, name, [stories[name]], T0, 7, rank=rank)
    ids = sorted(x.item.id for x in store.newest(10))
    assert len(ids) == len(set(ids)) == 2 and guid in ids


def test_items_stay_after_dropping_out_of_the_feed_until_retention(store):
    old = item(source="first", guid="old", published=T0 - timedelta(days=400))
    recent = item(source="first", guid="recent", published=T0 - timedelta(days=10))
    ingest(store, "first", [old, recent], T0, 1)
    ingest(store, "first", [], T0, 2)                      # the feed now carries neither
    assert store.purge(T0, max_age=365 * 86400, per_source=1000) == 1
    assert [s.item.key for s in store.items_of("first")] == ["g:recent"]
    # an item still in the feed is never purged, however old
    ingest(store, "first", [old], T0, 3)
    store.purge(T0, max_age=86400, per_source=1000)
    assert [s.item.key for s in store.items_of("first")] == ["g:old"]


def test_per_source_retention_keeps_the_newest(store):
    items = [item(source="first", guid=f"n{i}", published=T0 - timedelta(days=i)) for i in range(5)]
    ingest(store, "first", items, T0, 1)
    ingest(store, "first", [], T0, 2)
    store.purge(T0, max_age=10 * 365 * 86400, per_source=2)
    assert [s.item.key for s in store.items_of("first")] == ["g:n0", "g:n1"]


def test_newest_orders_by_date_then_id(store):
    same = T0 - timedelta(days=1)
    items = [item(source="first", guid=f"tag:e.org,2024:{c}", published=same) for c in "cab"]
    items.append(item(source="first", guid="tag:e.org,2024:z", published=T0))
    ingest(store, "first", items, T0, 1)
    assert [s.item.id for s in store.newest(10)] == ["tag:e.org,2024:z", "tag:e.org,2024:a",
                                                     "tag:e.org,2024:b", "tag:e.org,2024:c"]
    assert len(store.newest(2)) == 2


def test_a_failed_transaction_leaves_nothing(store):
    a = item(source="first", guid="a")
    with pytest.raises(RuntimeError):
        with store.write("first") as tx:
            apply(tx, "first", [a], T0, 1)
            raise RuntimeError("crash mid-source")
    assert store.count_items() == 0


# ---- property: ingesting the same feed twice changes nothing ---------------------------------

batch = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]),
                           st.sampled_from(["https://e.org/1", "https://e.org/2", None]),
                           st.sampled_from(["<p>x</p>", "<p>y</p>"]),
                           st.sampled_from(["first", "second"])), max_size=10)


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
@settings(max_examples=40, deadline=None)
@given(rows=batch)
def test_ingesting_twice_changes_nothing(kind, rows):
    with tempfile.TemporaryDirectory() as d:
        s = make(kind, Path(d))
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


# ---- beyond items: state, files, seen entries, publish bookkeeping, claims --------------------------

def test_states_round_trip_with_item_counts_and_deferred_writes_never_roll_back(store):
    st1 = SourceState(name="blog", kind="feed", url="https://e.org/feed", etag='"abc"',
                      last_modified="Wed, 01 May 2024 12:00:00 GMT", last_attempt=T0, last_success=T0,
                      feed_title="Blog", next_due=T0 + timedelta(minutes=15))
    store.save_states([st1])
    got = store.state("blog")
    assert got == st1
    assert store.state("unknown", "feed", "https://x.org/").url == "https://x.org/"
    ingest(store, "blog", [item(source="blog", guid="a")], T0 + timedelta(minutes=1), 1)
    assert store.states()["blog"].item_count == 1
    # a state taken before a later attempt (a deferred 304 write) does not overwrite it
    store.save_states([replace(st1, etag='"old"')])
    assert store.state("blog").last_attempt == T0 + timedelta(minutes=1)
    assert store.feed_meta()["blog"] == (None, None)


def test_seen_entries_files_and_local_sources(store):
    update = SourceUpdate(state=SourceState(name="arts", kind="local", last_attempt=T0, feed_title="Arts"),
                          run=1, seen=[("fp1", Seen("g:a", ("link:https://e.org/a",)))],
                          files=FileChanges(set={"a.txt": FileRecord(10, 99, "f:a.txt"),
                                                 "b.txt": FileRecord(0, 5, None)}))
    with store.write("arts") as tx:
        tx.apply(update)
    assert store.seen("arts") == {"fp1": Seen("g:a", ("link:https://e.org/a",))}
    assert store.files("arts") == {"a.txt": (10, 99, "f:a.txt"), "b.txt": (0, 5, None)}
    assert store.local_sources() == {"arts"}
    with store.write("arts") as tx:
        tx.apply(replace(update, seen=[], files=FileChanges(deleted=["b.txt"])))
    assert store.seen("arts") == {} and list(store.files("arts")) == ["a.txt"]


def test_removed_articles_and_pages(store):
    page = item(source="arts", guid=None, local_path="a.txt", page="articles/arts/a.html")
    plain = item(source="arts", guid="p")
    ingest(store, "arts", [page, plain], T0, 1)
    assert [s.item.page for s in store.pages(["arts"])] == ["articles/arts/a.html"]
    assert store.pages([]) == []
    gen = store.generation()
    with store.write("arts") as tx:
        assert tx.remove([page.key]) == 1
    assert store.generation() != gen
    assert [s.item.key for s in store.items_of("arts")] == ["g:p"]


def test_resolve_names_own_items_and_copies(store):
    a = item(source="first", link="https://e.org/story")
    b = item(source="second", guid="b-1", link="https://e.org/story")
    ingest(store, "first", [a], T0, 1)
    ingest(store, "second", [b], T0, 2)
    with store.write("second") as tx:
        got = tx.resolve([b.key, "g:unknown"])
    assert list(got) == [b.key] and got[b.key][1] is False
    with store.write("first") as tx:
        assert tx.resolve([a.key])[a.key][1] is True


def test_generation_moves_with_items_only(store):
    g0 = store.generation()
    ingest(store, "first", [item(source="first", guid="a")], T0, 1)
    g1 = store.generation()
    assert g1 != g0
    ingest(store, "first", [item(source="first", guid="a")], T0, 2)      # unchanged
    assert store.generation() == g1


def test_publish_record_round_trip(store):
    assert store.last_publish() is None
    rec = PublishRecord(fingerprint="f" * 64, selection="s" * 64, files=("atom.xml", "index.html"), items=3, at=T0)
    store.record_publish(rec)
    assert store.last_publish() == rec


def test_runs_increase(store):
    assert store.next_run() < store.next_run()


W1 = Worker("h1:101:a", "h1", 101)
W2 = Worker("h2:202:b", "h2", 202)
LEASE = 60.0


def _register(store, *names):
    store.register([(n, "feed", f"https://e.org/{n}") for n in names])


def test_a_claim_holds_its_sources_until_written_released_or_expired(store):
    _register(store, "a", "b", "c")
    first = store.claim(W1, ["a", "b"], T0, LEASE)
    assert first.names == {"a", "b"}
    assert store.claim(W2, ["a", "b", "c"], T0, LEASE).names == {"c"}          # one holder at a time
    assert store.state("a").lease_owner == W1.id and store.state("a").lease_until == T0 + timedelta(seconds=LEASE)
    # a write carrying the token releases its source; the rest stay held until released
    with store.write("a", first.token) as tx:
        tx.apply(SourceUpdate(state=SourceState(name="a", kind="feed", last_attempt=T0), run=1))
    assert store.state("a").lease_owner is None
    assert store.claim(W2, ["a", "b"], T0, LEASE).names == {"a"}
    store.release([first.token])
    assert store.claim(W2, ["b"], T0, LEASE).names == {"b"}
    # an expired lease is free for anyone; a renewed one is not
    later = T0 + timedelta(seconds=LEASE + 1)
    held = store.claim(W1, ["x"], T0, LEASE)          # unknown sources are never claimed
    assert held.names == frozenset()
    _register(store, "d", "e")
    d = store.claim(W1, ["d", "e"], T0, LEASE)
    store.renew([d.token], T0 + timedelta(seconds=30), LEASE)
    assert store.claim(W2, ["d", "e"], later, LEASE).names == frozenset()
    assert store.claim(W2, ["d", "e"], T0 + timedelta(seconds=30 + LEASE + 1), LEASE).names == {"d", "e"}


def test_a_write_with_a_lost_lease_is_refused(store):
    _register(store, "a")
    stale = store.claim(W1, ["a"], T0, LEASE)
    later = T0 + timedelta(seconds=LEASE + 5)               # W1 stalled past its lease
    fresh = store.claim(W2, ["a"], later, LEASE)
    assert fresh.names == {"a"}
    with pytest.raises(LeaseLost):
        with store.write("a", stale.token) as tx:
            tx.apply(SourceUpdate(state=SourceState(name="a", kind="feed", last_attempt=later, etag='"stale"'), run=1))
    assert store.state("a").etag is None and store.state("a").lease_owner == W2.id
    # a deferred state under the stale token does not release the new holder's lease
    store.save_states([SourceState(name="a", kind="feed", last_attempt=later)], stale.token)
    assert store.state("a").lease_owner == W2.id


def test_due_claims_take_only_due_sources_up_to_a_limit(store):
    _register(store, "new", "due", "later", "gone", "backing")
    store.save_states([
        SourceState(name="due", kind="feed", last_attempt=T0, next_due=T0 - timedelta(minutes=1)),
        SourceState(name="later", kind="feed", last_attempt=T0, next_due=T0 + timedelta(minutes=5)),
        SourceState(name="gone", kind="feed", last_attempt=T0, gone=True),
        SourceState(name="backing", kind="feed", last_attempt=T0, retry_after=T0 + timedelta(hours=1)),
    ])
    names = ["new", "due", "later", "gone", "backing"]
    hour = 3600.0
    assert store.claim(W1, names, T0, hour, due_only=True, limit=1).names == {"new"}   # never fetched first
    assert store.claim(W1, names, T0, hour, due_only=True).names == {"due"}
    assert store.claim(W1, names, T0 + timedelta(minutes=6), hour, due_only=True).names == {"later"}


def test_states_of_some_sources_and_who_holds_each_lease(store):
    _register(store, "a", "b", "c")
    ingest(store, "a", [item(source="a", guid="x")], T0, 1)
    some = store.states(["a", "c", "unknown"])
    assert set(some) == {"a", "c"} and some["a"].item_count == 1 and some == {n: store.states()[n] for n in "ac"}
    assert store.leased() == {}
    one = store.claim(W1, ["a", "b"], T0, LEASE)
    store.claim(W2, ["c"], T0, LEASE)
    assert store.leased() == {"a": W1.id, "b": W1.id, "c": W2.id}
    store.release([one.token])
    assert store.leased() == {"c": W2.id}


def test_a_dead_owners_leases_can_be_taken_from_it(store):
    _register(store, "a")
    store.claim(W1, ["a"], T0, LEASE)
    assert store.claim(W2, ["a"], T0, LEASE).names == frozenset()
    assert store.claim(W2, ["a"], T0, LEASE, take_from=W1.id).names == {"a"}


def test_workers_report_their_heartbeat(store):
    store.heartbeat(W1, T0)
    store.heartbeat(W2, T0)
    store.heartbeat(W1, T0 + timedelta(seconds=5))
    got = {w.id: w for w in store.workers()}
    assert got[W1.id].heartbeat == T0 + timedelta(seconds=5) and got[W1.id].started == T0
    assert (got[W2.id].host, got[W2.id].pid) == ("h2", 202)
    store.forget_worker(W2)
    assert [w.id for w in store.workers()] == [W1.id]


def test_one_publisher_at_a_time(store):
    with store.publisher(timeout=5):
        errors = []

        def other():
            try:
                with store.publisher(timeout=0.2):
                    pass
            except LockTimeout as exc:
                errors.append(exc)
        t = threading.Thread(target=other)
        t.start()
        t.join(5)
    assert errors
    with store.publisher(timeout=1):
        pass


# ---- curation, moderation and archives (issue 19) -------------------------------------------------

def _ref(store, ident: str):
    (found,) = store.find([ident], [], [])
    return found.ref


def test_a_hidden_story_leaves_every_read_and_keeps_its_record_through_copies(store):
    a = item(source="first", guid="tag:e.org,2024:a", link="https://e.org/a", published=T0, page="articles/first/a.html")
    b = item(source="first", guid="tag:e.org,2024:b", link="https://e.org/b", published=T0 - timedelta(days=40))
    ingest(store, "first", [a, b], T0, 1)
    ref, gen = _ref(store, a.id), store.generation()
    assert store.moderate(ref, "hide", "alice", T0, "a takedown request")
    assert store.generation() != gen                                   # the outputs must change
    assert [s.item.id for s in store.newest(10)] == [b.id]
    assert store.pages(["first"]) == []
    assert store.archive_span() == (b.published, b.published)
    assert store.archive_digests([(T0 - timedelta(days=1), T0 + timedelta(days=1))]) == [(0, 0, 0)]
    assert store.between(T0 - timedelta(days=1), T0 + timedelta(days=1)) == []
    assert [x.stored.item.id for x in store.listing()] == [b.id]
    (x,) = store.listing(hidden=True)
    assert x.stored.item.id == a.id and x.moderation.hidden
    assert (x.moderation.actor, x.moderation.at, x.moderation.reason) == ("alice", T0, "a takedown request")
    # another source's copy of the story is the same row: still hidden, found by the copy's link
    copy = item(source="second", guid="copy-1", link="https://e.org/a?utm_source=x", published=T0)
    assert ingest(store, "second", [copy], T0, 2)["duplicates"] == 1
    assert [s.item.id for s in store.newest(10)] == [b.id]
    (x,) = store.find([], ["https://e.org/a?utm_source=x"], [])
    assert x.stored.item.id == a.id and x.stored.also_in == ("second",) and x.moderation.hidden
    assert [y.stored.item.id for y in store.find([], [], ["link:https://e.org/a"])] == [a.id]
    assert store.moderate(ref, "unhide", "bob", T0 + timedelta(hours=1))
    assert [s.item.id for s in store.newest(10)] == [a.id, b.id] and store.listing(hidden=True) == []
    (x,) = store.find([a.id], [], [])
    assert (x.moderation.hidden, x.moderation.actor) == (False, "bob")
    assert not store.moderate(type(ref)(987654321), "hide", "alice", T0)
    with pytest.raises(ValueError):
        store.moderate(ref, "delete", "alice", T0)


def test_pins_and_a_new_sources_backlog(store):
    from feedsvc.items.backlog import hold_back

    items = [item(source="first", guid=f"tag:e.org,2024:{i}", published=T0 - timedelta(hours=i)) for i in range(6)]
    with store.write("first") as tx:
        own, keys = lookups(items)
        snap = tx.snapshot(own, keys)
        writes = hold_back(resolve(decide(items, snap, RANK, 1), snap, T0, 1), SourceState(name="first", kind="feed"),
                           2, T0, running=True)
        tx.apply(SourceUpdate(state=SourceState(name="first", kind="feed", last_attempt=T0), run=1, writes=writes))
    assert [s.item.id for s in store.newest(10)] == [items[0].id, items[1].id]
    assert store.archive_digests([(T0 - timedelta(days=1), T0 + timedelta(hours=1))])[0][0] == 6
    assert store.backlog() == {"first": 4}
    assert [x.backlog for x in store.listing("first")] == [False, False, True, True, True, True]
    assert store.listing("second") == []
    oldest = _ref(store, items[5].id)
    assert store.moderate(oldest, "pin", "alice", T0, until=T0 + timedelta(days=1))
    assert [s.item.id for s in store.pinned(T0)] == [items[5].id] and store.pinned(T0 + timedelta(days=2)) == []
    (x,) = store.find([items[5].id], [], [])
    assert (x.moderation.pinned_until, x.moderation.pinned_by) == (T0 + timedelta(days=1), "alice")
    assert store.moderate(oldest, "unpin", "alice", T0)
    assert store.pinned(T0) == []


def test_a_periods_digest_moves_with_its_items_content_copies_and_moderation_only(store):
    a = item(source="first", guid="tag:e.org,2024:a", link="https://e.org/a", published=T0 - timedelta(days=31))
    b = item(source="first", guid="tag:e.org,2024:b", link="https://e.org/b", published=T0)
    spans = [(T0 - timedelta(days=32), T0 - timedelta(days=30)), (T0 - timedelta(hours=1), T0 + timedelta(hours=1)),
             (T0 + timedelta(days=1), T0 + timedelta(days=2))]
    assert store.archive_span() is None and store.archive_digests(spans) == [(0, 0, 0)] * 3
    ingest(store, "first", [a, b], T0, 1)
    first = store.archive_digests(spans)
    assert [n for n, _, _ in first] == [1, 1, 0] and store.archive_span() == (a.published, b.published)
    ingest(store, "first", [a, b], T0, 2)                               # unchanged
    assert store.archive_digests(spans) == first
    ingest(store, "first", [replace(a, title="A, edited", content_hash="x"), b], T0, 3)
    second = store.archive_digests(spans)
    assert second[0] != first[0] and second[1] == first[1]
    ingest(store, "second", [item(source="second", guid="c-b", link="https://e.org/b")], T0, 4)   # a copy of b
    third = store.archive_digests(spans)
    assert third[1] != first[1] and third[0] == second[0]
    ref = _ref(store, a.id)
    store.moderate(ref, "hide", "alice", T0)
    assert store.archive_digests(spans)[0] == (0, 0, 0)
    store.moderate(ref, "unhide", "alice", T0)
    back = store.archive_digests(spans)
    assert back[0][0] == 1 and back[0] != second[0] and back[1] == third[1]
    store.moderate(ref, "pin", "alice", T0, until=T0 + timedelta(days=3))     # a pin is not an archive's
    assert store.archive_digests(spans) == back
    assert [s.item.id for s in store.between(T0 - timedelta(days=40), T0 - timedelta(days=1))] == [a.id]
    assert store.archives() == {}
    store.record_archives({"archive/2024-04.xml": "d1", "archive/2024-05.xml": "d2"}, [])
    store.record_archives({"archive/2024-05.xml": "d3"}, ["archive/2024-04.xml"])
    assert store.archives() == {"archive/2024-05.xml": "d3"}
