"""Many workers on one PostgreSQL store (a real cluster the tests start and stop): three
``feedsvc run`` processes share 300 feeds, fetching each exactly once per due period and publishing
what one process would; a worker killed with SIGKILL at random moments loses nothing and its
sources are fetched again within a lease and a tick; the database stopped for 20 s mid-round is
ridden out; ``store copy`` round-trips a store; a password never shows."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import pytest
from lxml import etree

from conftest import rss, run_cli, write_config
from helpers_feedsvc import ATOM

pytestmark = pytest.mark.slow

SITE = "http://127.0.0.1:8080/"
FEEDS = [SITE + "atom.xml", SITE + "rss.xml", SITE + "feed.json"]


def _item(i: int, k: int) -> dict:
    return {"title": f"F{i} item {k}", "link": f"https://f{i}.example/{k}", "guid": f"https://f{i}.example/{k}",
            "date": f"Mon, 02 Nov 2026 {k % 24:02d}:{i % 60:02d}:00 +0000", "description": f"body {i} {k}"}


def _serve(feed_server, n: int, items: int = 3) -> list[dict]:
    sources = []
    for i in range(n):
        feed_server.add(f"/f{i}.xml", rss([_item(i, k) for k in range(items)]))
        sources.append({"name": f"f{i:03d}", "url": feed_server.url(f"/f{i}.xml")})
    return sources


def _hits(feed_server, n: int, since: float = 0.0) -> list[int]:
    with feed_server._lock:
        hits = [h for h in feed_server.hits if h.t >= since]
    counts = [0] * n
    for h in hits:
        name = h.path.split("?", 1)[0]
        if name.startswith("/f") and name.endswith(".xml"):
            counts[int(name[2:-4])] += 1
    return counts


def _entries(path: Path) -> set[tuple[str, str, str]]:
    if not path.exists():
        return set()
    try:
        root = etree.fromstring(path.read_bytes())
    except etree.XMLSyntaxError as exc:
        raise AssertionError(f"malformed {path}: {exc}") from exc
    return {(e.findtext(f"{{{ATOM}}}id"), e.findtext(f"{{{ATOM}}}title"), e.findtext(f"{{{ATOM}}}updated"))
            for e in root.iter(f"{{{ATOM}}}entry")}


def _wait(predicate, timeout: float, what: str, workers=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for w in workers:
            if w.proc.poll() is not None:
                raise AssertionError(f"a worker exited ({w.proc.returncode}) waiting for {what}:\n{w.text()}")
        time.sleep(0.2)
    logs = "\n".join(w.text()[-3000:] for w in workers)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def test_three_workers_fetch_each_feed_once_per_period_and_publish_what_one_would(
        tmp_path, feed_server, pg_url, daemons, hub):
    n = 300
    sources = _serve(feed_server, n)
    cfg = write_config(tmp_path, sources, store=pg_url, site={"title": "Test Planet", "url": SITE, "websub_hub": hub.url},
                       schedule={"interval": "20s", "jitter": 0, "lease": "10s"}, output={"max_items": 1000})
    t0 = time.monotonic()
    workers = [daemons(cfg, args=("-v",)) for _ in range(3)]
    atom = tmp_path / "public" / "atom.xml"
    _wait(lambda: min(_hits(feed_server, n)) >= 1 and len(_entries(atom)) == 3 * n, 60, "the first round", workers)
    first = time.monotonic() - t0
    assert first < 15, f"the first round took {first:.1f}s"
    assert _hits(feed_server, n) == [1] * n                     # each feed once in the first period
    # started together, the workers share the first round (none claims every source at once)
    shares = [len(re.findall(r"^feedsvc: INFO: f\d{3}: ok, 3 new", w.text(), re.M)) for w in workers]
    assert sum(shares) == n and max(shares) < n * 0.8, shares
    _wait(lambda: time.monotonic() - t0 > 36, 60, "the second period", workers)
    assert _hits(feed_server, n) == [2] * n                     # and once in the second, no more
    second = [h for h in feed_server.hits if h.t > t0 + 18 and h.path.startswith("/f")]
    assert second and all(h.status == 304 for h in second)     # conditional, answered 304
    # one change upstream: one ping per feed file, from one worker, not one per worker
    hub.take()
    feed_server.add("/f7.xml", rss([_item(7, k) for k in range(4)]))
    _wait(lambda: any(t == "F7 item 3" for _, t, _ in _entries(atom)), 40, "the change", workers)
    time.sleep(3)
    assert sorted(hub.take()) == sorted(FEEDS)
    status = run_cli("--config", str(cfg), "status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["store_items"] == 3 * n + 1 and len(data["workers"]) == 3
    assert {w["pid"] for w in data["workers"]} == {w.proc.pid for w in workers}
    published = _entries(atom)
    for w in workers:
        assert w.stop() == 0
        assert "Traceback" not in w.text()
    # what one process publishes from its own SQLite store over the same feeds
    alone = tmp_path / "alone"
    alone.mkdir()
    one = write_config(alone, sources, site={"title": "Test Planet", "url": SITE},
                       output={"max_items": 1000})
    r = run_cli("--config", str(one), "refresh")
    assert r.returncode == 0, r.stderr
    assert _entries(alone / "public" / "atom.xml") == published


def test_a_worker_killed_at_random_moments_loses_nothing(tmp_path, feed_server, pg_url, daemons):
    n = 40
    sources = _serve(feed_server, n, items=2)
    cfg = write_config(tmp_path, sources, store=pg_url,
                       schedule={"interval": "2s", "jitter": 0, "lease": "3s"}, output={"max_items": 1000})
    workers = [daemons(cfg) for _ in range(3)]
    atom = tmp_path / "public" / "atom.xml"
    _wait(lambda: len(_entries(atom)) == 2 * n, 60, "the first round", workers)
    rng = random.Random(5)
    added = 2
    for round_ in range(10):
        added += 1
        for i in range(n):
            feed_server.add(f"/f{i}.xml", rss([_item(i, k) for k in range(added)]))
        time.sleep(rng.uniform(0.1, 1.5))
        victim = round_ % 3
        workers[victim].kill()
        killed = time.monotonic()
        workers[victim] = daemons(cfg)
        # every source is fetched again within the lease (3 s) plus a tick, give or take a round
        _wait(lambda killed=killed: min(_hits(feed_server, n, since=killed)) >= 1, 3 + 0.5 + 2 + 6,
              f"every source fetched after kill {round_ + 1}", workers)
    _wait(lambda: len(_entries(atom)) == added * n, 60, "every item published", workers)
    status = run_cli("--config", str(cfg), "status", "--json")
    assert json.loads(status.stdout)["store_items"] == added * n
    for w in workers:
        assert w.stop() == 0


def test_the_database_stopped_for_20s_mid_round_is_ridden_out(tmp_path, feed_server, daemons):
    from pgcluster import Cluster

    from conftest import need

    cluster = Cluster()
    need(cluster.available, "PostgreSQL server binaries are not installed")
    try:
        cluster.start()
        url = cluster.new_database()
        n = 30
        sources = _serve(feed_server, n, items=2)
        cfg = write_config(tmp_path, sources, store=url,
                           schedule={"interval": "2s", "jitter": 0, "lease": "5s"}, output={"max_items": 1000})
        workers = [daemons(cfg) for _ in range(2)]
        atom = tmp_path / "public" / "atom.xml"
        _wait(lambda: len(_entries(atom)) == 2 * n, 60, "the first round", workers)
        for i in range(n):                         # changes land while the database is down
            feed_server.add(f"/f{i}.xml", rss([_item(i, k) for k in range(3)]))
        time.sleep(0.5)                            # mid-round
        cluster.stop("fast")
        time.sleep(20)
        assert all(w.proc.poll() is None for w in workers)
        cluster.restart_later()
        _wait(lambda: len(_entries(atom)) == 3 * n, 60, "the changes after the restart", workers)
        for w in workers:
            text = w.text()
            assert text.count("the store is unreachable") == 1, text[-3000:]
            assert "the store is reachable again" in text and "Traceback" not in text
            assert w.stop() == 0
    finally:
        cluster.remove()


def test_store_copy_round_trips_and_the_next_refresh_is_conditional(tmp_path, feed_server, pg_url):
    sources = _serve(feed_server, 5)
    feed_server.add("/f0.xml", rss([_item(0, 0), _item(1, 0)]))     # a cross-post: a copy kept as also_in
    cfg = write_config(tmp_path, sources, output={"max_items": 1000})
    assert run_cli("--config", str(cfg), "refresh").returncode == 0
    before = _entries(tmp_path / "public" / "atom.xml")
    src = f"sqlite:///{tmp_path / 'state' / 'feedsvc.db'}"
    back = f"sqlite:///{tmp_path / 'back.db'}"
    for a, b in ((src, pg_url), (pg_url, back)):
        r = run_cli("store", "copy", a, b)
        assert r.returncode == 0, r.stderr
    again = run_cli("store", "copy", src, pg_url)
    assert again.returncode == 1 and "not empty" in again.stderr

    from feedsvc.storage import open_url

    stores = [open_url(u, readonly=True) for u in (src, pg_url, back)]
    try:
        items = [[(s.item, s.date, s.updated, s.first_seen, s.copies) for s in st.newest(1000)] for st in stores]
        states = [{n: (x.etag, x.last_modified, x.body_hash, x.next_due, x.item_count) for n, x in st.states().items()}
                  for st in stores]
    finally:
        for st in stores:
            st.close()
    assert len(items[0]) == 13
    assert items[0] == items[1]
    assert items[1] == items[2]
    assert any(c for *_, c in items[0])
    assert states[0] == states[1] == states[2]
    # refresh from the copy in PostgreSQL: conditional GETs only, nothing new, the same feed
    hits = len(feed_server.hits)
    r = run_cli("--config", str(cfg), "refresh", env={"FEEDSVC_STORE": pg_url})
    assert r.returncode == 0 and r.stdout.count("not modified") == 5, r.stdout + r.stderr
    assert all("If-None-Match" in h.headers for h in feed_server.hits[hits:])
    assert _entries(tmp_path / "public" / "atom.xml") == before


def test_a_password_never_shows(tmp_path, feed_server, pg_url):
    sources = _serve(feed_server, 2)
    secret = "s3cret-Pa55"
    with_password = pg_url.replace("feedsvc@", f"feedsvc:{secret}@")
    bad = write_config(tmp_path, sources, store=with_password)
    r = run_cli("--config", str(bad), "check")
    assert r.returncode == 2 and "store" in r.stderr and secret not in r.stderr + r.stdout
    cfg = write_config(tmp_path, sources, output={"max_items": 1000})
    env = {"FEEDSVC_STORE": with_password}
    outputs = [run_cli("-vv", "--config", str(cfg), "refresh", env=env),
               run_cli("--config", str(cfg), "status", "--json", env=env),
               run_cli("--config", str(cfg), "status", env=env),
               run_cli("-vv", "--config", str(cfg), "refresh",           # an unreachable database
                       env={"FEEDSVC_STORE": with_password.replace(pg_url.split(":")[2].split("/")[0], "1")})]
    assert outputs[0].returncode == 0 and outputs[1].returncode == 0, outputs[0].stderr
    assert outputs[3].returncode == 1 and "cannot be reached" in outputs[3].stderr
    for r in outputs:
        assert secret not in r.stdout + r.stderr
    for f in (tmp_path / "public").rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f


def test_a_host_groups_spacing_holds_across_workers(tmp_path, feed_server, pg_url, daemons):
    """Two workers, twelve sources on one registered domain: the group's next allowed start lives
    in the shared store, so starts stay ``spacing`` apart whichever worker makes them."""
    from test_politeness import Recorder, _proxied

    rec = Recorder(delay=0.05)
    sources = _proxied(feed_server, rec, [f"s{i}.example.com" for i in range(12)])
    cfg = write_config(tmp_path, sources, store=pg_url, schedule={"interval": "2s", "jitter": 0},
                       fetch={"per_host": {"concurrency": 1, "spacing": "0.4s"}})
    workers = [daemons(cfg) for _ in range(2)]
    _wait(lambda: len(rec.starts.get("example.com", [])) >= 24, 60, "two rounds of the group", workers)
    for w in workers:
        assert w.stop() == 0
    starts = sorted(rec.starts["example.com"])
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # as the server sees them: each start is reserved 0.4 s after the last in the store; the way
    # to the server adds a few ms either way, and the first request of a process (its first
    # connection) up to ~0.1 s
    assert min(gaps) >= 0.4 - 0.1 and sorted(gaps)[len(gaps) // 10] >= 0.4 - 0.02, gaps
    status = json.loads(run_cli("--config", str(cfg), "status", "--json").stdout)
    assert len({s["host_group"] for s in status["sources"]}) == 1
