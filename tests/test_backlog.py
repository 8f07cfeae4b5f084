"""No flood from a new or migrated source (issue 19), end to end with real feeds on 127.0.0.1 and
the CLI as a subprocess; and the pure deciders of items/backlog.py.

A source added to a running planet puts at most ``new_source_items`` of its first fetch among
the combined feeds' newest ``max_items``; the rest are stored, archived and shown as backlog in
``status``; undated ones are dated just before the fetch in feed order. A source whose items all
carry one date is ordered by first-seen time, and ``status`` says so."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

from feedsvc.items.backlog import REDATING, SAME_DATE, first_seen_order, hold_back, undated
from feedsvc.items.decide import Action, ItemRef, ItemWrite, Known, Snapshot
from feedsvc.model import SourceState

from conftest import rss, write_config
from feedcheck import ATOM, archive_links, parse_xml
from helpers_feedsvc import T0, cli, item

NEWEST = datetime(2024, 5, 28, 9, 0, tzinfo=timezone.utc)
SITE = "http://127.0.0.1:8080/"


def posts(prefix: str, n: int, every: timedelta, newest: datetime = NEWEST, dated: bool = True,
          same_date: bool = False) -> list[dict]:
    out = []
    for i in range(n):
        link = f"https://{prefix}.example/p/{i}"
        d = newest if same_date else newest - every * i
        out.append({"title": f"{prefix} {i}", "link": link, "guid": link, "permalink": True,
                    "date": format_datetime(d) if dated else None, "description": f"<p>{prefix} number {i}.</p>"})
    return out


def sources(server, *names: str, **extra: dict) -> list[dict]:
    return [{"name": n, "url": server.url(f"/{n}.xml"), **extra.get(n, {})} for n in names]


def refresh(tmp: Path):
    r = cli("refresh", cwd=tmp)
    assert r.returncode == 0 and "Traceback" not in r.stderr, (r.stdout, r.stderr)
    return r


def front(tmp: Path) -> list[str]:
    return [e.findtext(f"{{{ATOM}}}id") for e in parse_xml((tmp / "public" / "atom.xml").read_bytes())
            .findall(f"{{{ATOM}}}entry")]


def archived(tmp: Path) -> list[str]:
    out, public = [], tmp / "public"
    url = archive_links((public / "atom.xml").read_bytes()).get("prev-archive", [None])[0]
    while url:
        data = (public / url[len(SITE):]).read_bytes()
        out += [e.findtext(f"{{{ATOM}}}id") for e in parse_xml(data).findall(f"{{{ATOM}}}entry")]
        url = archive_links(data).get("prev-archive", [None])[0]
    return out


def listed(tmp: Path, source: str) -> list[dict]:
    r = cli("items", "list", "--json", "--source", source, cwd=tmp)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def status(tmp: Path, source: str) -> dict:
    r = cli("status", "--json", cwd=tmp)
    assert r.returncode == 0, r.stderr
    return next(s for s in json.loads(r.stdout)["sources"] if s["name"] == source)


def running_planet(tmp: Path, server) -> None:
    """alpha: 60 posts, one every 12 hours, published once."""
    server.add("/alpha.xml", rss(posts("alpha", 60, timedelta(hours=12)), title="Alpha"))
    write_config(tmp, sources(server, "alpha"), output={"max_items": 50, "archive": "monthly"})
    refresh(tmp)
    assert len(front(tmp)) == 50


def test_a_200_item_source_added_to_a_running_planet_puts_5_on_the_front_page(tmp_path, feed_server):
    running_planet(tmp_path, feed_server)
    # bravo's 200 posts, hourly, are all newer than alpha's: taken whole they would be the top 50
    feed_server.add("/bravo.xml", rss(posts("bravo", 200, timedelta(hours=1), NEWEST + timedelta(days=9)),
                                      title="Bravo"))
    write_config(tmp_path, sources(feed_server, "alpha", "bravo"), output={"max_items": 50, "archive": "monthly"})
    assert "200 new" in refresh(tmp_path).stdout
    top = front(tmp_path)
    ours = [i for i in top if "bravo" in i]
    assert len(top) == 50 and ours == [f"https://bravo.example/p/{i}" for i in range(5)]   # its newest 5
    everything = archived(tmp_path)
    assert {f"https://bravo.example/p/{i}" for i in range(200)} <= set(everything)
    assert len(everything) == len(set(everything)) == 260
    # status and items list say which are backlog; a later refresh changes nothing of it
    st = status(tmp_path, "bravo")
    assert st["backlog"] == 195 and "195 items held back as backlog" in st["state"]
    plain = cli("status", cwd=tmp_path).stdout
    assert "195 items held back as backlog (archived, not on the front page)" in plain
    rows = listed(tmp_path, "bravo")
    assert sum(r["backlog"] for r in rows) == 195 and not any(r["backlog"] for r in rows[:5])
    # a new post of bravo afterwards is news: it reaches the front page
    feed_server.add("/bravo.xml", rss([{"title": "bravo fresh", "link": "https://bravo.example/fresh",
                                        "guid": "https://bravo.example/fresh", "permalink": True,
                                        "date": format_datetime(NEWEST + timedelta(days=10)),
                                        "description": "<p>fresh</p>"}]
                                      + posts("bravo", 200, timedelta(hours=1), NEWEST + timedelta(days=9)),
                                      title="Bravo"))
    refresh(tmp_path)
    assert front(tmp_path)[0] == "https://bravo.example/fresh"
    assert status(tmp_path, "bravo")["backlog"] == 195


def test_undated_backlog_is_dated_just_before_the_first_fetch_in_feed_order(tmp_path, feed_server):
    running_planet(tmp_path, feed_server)
    feed_server.add("/undated.xml", rss(posts("undated", 30, timedelta(0), dated=False), title="Undated"))
    write_config(tmp_path, sources(feed_server, "alpha", "undated"), output={"max_items": 50, "archive": "monthly"})
    before = datetime.now(timezone.utc)
    refresh(tmp_path)
    after = datetime.now(timezone.utc)
    rows = listed(tmp_path, "undated")
    assert [r["id"] for r in rows] == [f"https://undated.example/p/{i}" for i in range(30)]    # feed order
    dates = [datetime.fromisoformat(r["date"]) for r in rows]
    assert len(set(dates)) == 30 and dates == sorted(dates, reverse=True)
    assert all(before - timedelta(minutes=1) <= d < after for d in dates)
    assert [r["backlog"] for r in rows] == [False] * 5 + [True] * 25
    assert front(tmp_path)[:5] == [f"https://undated.example/p/{i}" for i in range(5)]
    assert len(front(tmp_path)) == 50 and sum("undated" in i for i in front(tmp_path)) == 5


def test_new_source_items_is_set_per_source_and_the_first_refresh_of_a_planet_takes_every_source_whole(
        tmp_path, feed_server):
    feed_server.add("/alpha.xml", rss(posts("alpha", 20, timedelta(hours=12)), title="Alpha"))
    feed_server.add("/quiet.xml", rss(posts("quiet", 20, timedelta(hours=1), NEWEST + timedelta(days=2)), title="Q"))
    write_config(tmp_path, sources(feed_server, "alpha"), output={"max_items": 30}, new_source_items=3)
    refresh(tmp_path)
    assert len(front(tmp_path)) == 20                        # nobody to push off the front page
    write_config(tmp_path, sources(feed_server, "alpha", "quiet", quiet={"new_source_items": 0}),
                 output={"max_items": 30}, new_source_items=3)
    refresh(tmp_path)
    assert not any("quiet" in i for i in front(tmp_path)) and status(tmp_path, "quiet")["backlog"] == 20


def test_a_bulk_guid_migration_the_keys_do_not_recognise_is_backlog_too(tmp_path, feed_server):
    running_planet(tmp_path, feed_server)
    # every post under a new guid, a new link and a retitled heading: nothing matches a stored item
    moved = [{**p, "link": p["link"].replace("alpha.example", "alpha.example.net"),
              "guid": p["guid"].replace("alpha.example", "alpha.example.net"), "title": p["title"].upper()}
             for p in posts("alpha", 60, timedelta(hours=12))]
    feed_server.add("/alpha.xml", rss(moved, title="Alpha"))
    assert "60 new" in refresh(tmp_path).stdout
    top = front(tmp_path)
    assert sum("alpha.example.net" in i for i in top) == 5
    assert status(tmp_path, "alpha")["backlog"] == 55


def test_a_source_whose_items_all_carry_one_date_is_ordered_by_first_seen_time(tmp_path, feed_server):
    running_planet(tmp_path, feed_server)
    feed_server.add("/stamped.xml", rss(posts("stamped", 8, timedelta(0), NEWEST - timedelta(days=3),
                                              same_date=True), title="Stamped"))
    write_config(tmp_path, sources(feed_server, "alpha", "stamped"), output={"max_items": 50, "archive": "monthly"})
    refresh(tmp_path)
    st = status(tmp_path, "stamped")
    assert st["first_seen_order"] == SAME_DATE
    assert f"ordered by first-seen time: {SAME_DATE}" in cli("status", cwd=tmp_path).stdout
    assert [r["id"] for r in listed(tmp_path, "stamped")] == [f"https://stamped.example/p/{i}" for i in range(8)]
    assert front(tmp_path)[:5] == [f"https://stamped.example/p/{i}" for i in range(5)]
    # the next build stamps every item with a new date: nothing is updated, nothing moves
    feed_server.add("/stamped.xml", rss(posts("stamped", 8, timedelta(0), NEWEST, same_date=True), title="Stamped"))
    assert "0 new, 0 updated, 8 unchanged" in refresh(tmp_path).stdout
    assert front(tmp_path)[:5] == [f"https://stamped.example/p/{i}" for i in range(5)]


def test_new_source_items_must_be_a_whole_number_from_0(tmp_path):
    cfg = write_config(tmp_path, [{"name": "a", "url": "https://a.example/feed.xml", "new_source_items": -1}])
    r = cli("check", cwd=tmp_path)
    line = cfg.read_text().splitlines().index("  new_source_items: -1") + 1
    assert r.returncode == 2 and f"config.yaml:{line}: sources[0].new_source_items: must be at least 0" in r.stderr


# ---- the pure deciders ---------------------------------------------------------------------------

def _new(n: int, dated: bool = True) -> list[ItemWrite]:
    out = []
    for i in range(n):
        it = item(guid=f"tag:e.org,2024:{i}", title=f"t{i}", published=T0 - timedelta(hours=i) if dated else None)
        out.append(ItemWrite(Action.NEW, it, date=it.published or T0, updated=it.published or T0, first_seen=T0))
    return out


def test_hold_back_keeps_the_newest_and_leaves_a_fresh_planet_or_an_old_source_alone():
    first = SourceState(name="src", kind="feed")
    held = hold_back(_new(8), first, 3, T0, running=True)
    assert [w.backlog for w in held] == [False] * 3 + [True] * 5
    assert [w.date for w in held] == [w.date for w in _new(8)]                   # dated ones keep their dates
    assert not any(w.backlog for w in hold_back(_new(8), first, 3, T0, running=False))
    old = SourceState(name="src", kind="feed", last_success=T0 - timedelta(hours=10), item_count=10)
    assert not any(w.backlog for w in hold_back(_new(8), old, 3, T0, running=True))  # news, dated after it
    undated_ = hold_back(_new(4, dated=False), first, 2, T0, running=True)
    assert [w.date for w in undated_] == [T0 - timedelta(seconds=s) for s in (1, 2, 3, 4)]
    assert [w.backlog for w in undated_] == [False, False, True, True]


def test_an_established_source_whose_every_entry_is_new_and_old_is_a_migration():
    old = SourceState(name="src", kind="feed", last_success=T0 + timedelta(days=1), item_count=8)
    assert [w.backlog for w in hold_back(_new(8), old, 3, T0 + timedelta(days=2), running=True)] == \
        [False] * 3 + [True] * 5
    # one entry still carried (unchanged, not parsed again): not a migration
    assert not any(w.backlog for w in hold_back(_new(8), old, 3, T0, running=True, carried=1))
    assert not any(w.backlog for w in hold_back(_new(8), old, 3, T0, running=True, migrations=False))


def test_first_seen_order_spots_one_date_for_all_and_dates_that_move_every_build():
    state = SourceState(name="src", kind="feed")
    same = [item(guid=f"g{i}", title=f"t{i}", published=T0) for i in range(5)]
    got, st = first_seen_order(same, Snapshot({}, {}), state, whole=True)
    assert st.first_seen_order == SAME_DATE and all(i.published is None for i in got)
    assert first_seen_order(same[:4], Snapshot({}, {}), state, whole=True)[1].first_seen_order is None
    assert first_seen_order(same, Snapshot({}, {}), state, whole=False)[1].first_seen_order is None
    # stored items come back with new dates, after the source re-dated once before
    moved = [item(guid=f"g{i}", title=f"t{i}", published=T0 - timedelta(days=1, hours=i)) for i in range(3)]
    snap = Snapshot({i.key: Known(ItemRef(n), "src", "h", 1, key=i.key, date=T0 - timedelta(days=5, hours=n),
                                  first_seen=T0 - timedelta(days=5)) for n, i in enumerate(moved)}, {})
    assert first_seen_order(moved, snap, state, whole=True)[1].first_seen_order is None
    _, st = first_seen_order(moved, snap, SourceState(name="src", kind="feed", redated=1), whole=True)
    assert st.first_seen_order == REDATING
    # a date-less item hashes the same whatever date the feed gives it
    assert undated(moved[0]).content_hash == undated(item(guid="g0", title="t0", published=T0)).content_hash
