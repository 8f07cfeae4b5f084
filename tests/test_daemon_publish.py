"""The daemon's publish requests and its claims, in-process with our own fake fetcher and clock:
a change stored while a publish runs is published right after it (the scheduler skips a second
instance of a running job, and once lost that request stopped every later publish), and a
worker pulls the sources due in batches instead of claiming them all at its first tick."""

from __future__ import annotations

import threading
import time

from feedsvc.app.daemon import BATCH, PUBLISH_DELAY, Daemon
from feedsvc.app.engine import Engine
from feedsvc.config import load_config

from conftest import rss, write_config
from helpers_feedsvc import T0, Clock, FakeFetcher, published


def _feed(n: int) -> bytes:
    return rss([{"title": f"Post {k}", "link": f"https://a.example/{k}", "guid": f"https://a.example/{k}",
                 "date": f"Mon, 0{k + 1} Nov 2026 10:00:00 +0000", "description": f"body {k}"}
                for k in range(n)]).encode()


def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_change_stored_while_a_publish_runs_is_published_after_it(tmp_path):
    url = "https://a.example/feed.xml"
    fetcher = FakeFetcher({url: _feed(1)})
    cfg = load_config(write_config(tmp_path, [{"name": "a", "url": url}]))
    release = threading.Event()
    publishes: list[int] = []

    class SlowPublisher(Engine):
        def publish(self, force=False, wait=True):
            result = super().publish(force=force, wait=wait)
            publishes.append(result.items)
            if len(publishes) == 1:
                release.wait(30)         # the job outlasts the next request's delay
            return result

    d = Daemon(cfg, cfg.path, engine_factory=lambda c: SlowPublisher(c, fetcher=fetcher, clock=Clock(T0)))
    d.scheduler.start()
    try:
        d.engine.run_round(cfg.sources)
        d.request_publish()
        _until(lambda: publishes, 10, "the first publish")
        fetcher.bodies[url] = _feed(2)              # a change arrives while it is still running
        d.engine.run_round(cfg.sources)
        d.request_publish()
        time.sleep(PUBLISH_DELAY + 0.5)             # the request's job came due during the publish
        release.set()
        _until(lambda: len(publishes) >= 2, 10, "the publish of the change")
        assert sorted(published(tmp_path / "public").titles()) == ["Post 0", "Post 1"]
        fetcher.bodies[url] = _feed(3)              # and publishing goes on after that
        d.engine.run_round(cfg.sources)
        d.request_publish()
        _until(lambda: len(publishes) >= 3, 10, "a later publish")
        assert "Post 2" in published(tmp_path / "public").titles()
    finally:
        release.set()
        d.scheduler.shutdown(wait=True)
        d.engine.close()


def test_a_worker_pulls_due_sources_in_batches(tmp_path):
    n = 3 * BATCH
    bodies = {f"https://s{i}.example/feed.xml": _feed(1) for i in range(n)}
    cfg = load_config(write_config(tmp_path, [{"name": f"s{i:03d}", "url": u} for i, u in enumerate(bodies)]))
    gate = threading.Event()
    fetcher = FakeFetcher(dict(bodies), gates={u: gate for u in bodies})
    d = Daemon(cfg, cfg.path, engine_factory=lambda c: Engine(c, fetcher=fetcher, clock=Clock(T0)))
    try:
        first = d.tick()
        assert len(first) == BATCH                  # not all 192 at once: another worker may start now
        second = d.tick()
        assert len(second) == BATCH and not {s.name for s in first} & {s.name for s in second}
        assert d.tick() == []                       # two batches in flight: no room for more
        # the rounds in flight share fetch.workers threads (and each thread's store connection
        # and HTTP session) instead of each round starting its own
        _until(lambda: sum(t.name.startswith("fetch") for t in threading.enumerate()) == cfg.fetch.workers,
               10, "the fetch threads")
        time.sleep(0.2)
        assert sum(t.name.startswith("fetch") for t in threading.enumerate()) == cfg.fetch.workers
        gate.set()
        for t in list(d._rounds):
            t.join(30)
        third = d.tick()                            # room again: the rest
        assert len(third) == BATCH
        for t in list(d._rounds):
            t.join(30)
        assert len({url for url, _ in fetcher.calls}) == n
    finally:
        gate.set()
        for t in list(d._rounds):
            t.join(30)
        d.engine.close()


def test_publishes_are_spaced_while_sources_are_in_flight_and_sent_when_they_end(tmp_path):
    # a publish that takes 0.3 s while this worker still has sources in flight: the next one waits
    # PUBLISH_SPACING times that (3 s) instead of PUBLISH_DELAY (1 s), so a first round of a big
    # planet does not render the front page every second; once the rounds end, the held publish
    # goes out PUBLISH_DELAY later
    from feedsvc.app.daemon import PUBLISH_SPACING

    url = "https://a.example/feed.xml"
    fetcher = FakeFetcher({url: _feed(1)})
    cfg = load_config(write_config(tmp_path, [{"name": "a", "url": url}]))
    ends: list[float] = []

    class SlowPublisher(Engine):
        def publish(self, force=False, wait=True):
            time.sleep(0.3)
            result = super().publish(force=force, wait=wait)
            ends.append(time.monotonic())
            return result

    d = Daemon(cfg, cfg.path, engine_factory=lambda c: SlowPublisher(c, fetcher=fetcher, clock=Clock(T0)))
    d.scheduler.start()
    try:
        d.engine.run_round(cfg.sources)
        d.request_publish()
        _until(lambda: ends, 10, "the first publish")
        with d._lock:
            d._inflight = 5                         # a round of this worker is still running
        fetcher.bodies[url] = _feed(2)
        d.engine.run_round(cfg.sources)
        d.request_publish()
        time.sleep(PUBLISH_DELAY + 0.8)
        assert len(ends) == 1, "published a second time within PUBLISH_DELAY while sources were in flight"
        assert "Post 1" not in published(tmp_path / "public").titles()
        _until(lambda: len(ends) >= 2, 10, "the spaced publish")
        assert ends[1] - ends[0] >= 0.3 * PUBLISH_SPACING - 0.1
        assert "Post 1" in published(tmp_path / "public").titles()
        # held back again, then the rounds end: it goes out PUBLISH_DELAY after, not 3 s after
        fetcher.bodies[url] = _feed(3)
        d.engine.run_round(cfg.sources)
        d.request_publish()
        time.sleep(0.2)
        with d._lock:
            d._inflight = 0
        asked = time.monotonic()
        d._publish_sooner()
        _until(lambda: len(ends) >= 3, 10, "the publish once the rounds ended")
        assert ends[2] - asked < PUBLISH_DELAY + 1.0
        assert "Post 2" in published(tmp_path / "public").titles()
        # a backlog in flight (a whole batch: a first round) holds publishes for PUBLISH_SPACING_MAX
        with d._lock:
            d._inflight = BATCH
        fetcher.bodies[url] = _feed(4)
        d.engine.run_round(cfg.sources)
        d.request_publish()
        time.sleep(0.3 * PUBLISH_SPACING + 1.0)
        assert len(ends) == 3, "published in the middle of a backlog"
        with d._lock:
            d._inflight = 0
        d._publish_sooner()
        _until(lambda: len(ends) >= 4, 10, "the publish once the backlog was done")
        assert "Post 3" in published(tmp_path / "public").titles()
    finally:
        d.scheduler.shutdown(wait=True)
        d.engine.close()


def test_small_rounds_reuse_the_fetch_threads_and_their_connections(tmp_path, feed_server):
    # the daemon's steady state is many small rounds (a few sources due a tick): they share one set
    # of fetch threads, so each thread's HTTP session keeps its keep-alive connection; a pool made
    # and shut down per round opened a new connection (and store connection) every round
    urls = [feed_server.add(f"/f{i}.xml", _feed(2)) for i in range(6)]
    cfg = load_config(write_config(tmp_path, [{"name": f"s{i}", "url": u} for i, u in enumerate(urls)],
                                   fetch={"workers": 2}))
    eng = Engine(cfg, clock=Clock(T0))
    import os

    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))
    try:
        eng.run_round(cfg.sources[:2], force=True)
        before = fds()
        for n in range(5):
            for i in range(0, 6, 2):
                if n == 0 and i == 0:
                    continue
                # each round in a thread of its own, as the daemon runs them: what a round thread
                # opened (its store connection) is closed once it has ended, not kept
                got: list = []
                t = threading.Thread(target=lambda i=i, got=got: got.extend(eng.run_round(cfg.sources[i:i + 2], force=True)))
                t.start()
                t.join(30)
                assert all(o.status in ("ok", "not-modified") for o in got) and len(got) == 2, got
        eng.run_round(cfg.sources[:1], force=True)   # a round after the last round thread ended
        assert fds() <= before + 2, "files (store connections) left open by ended round threads"
        hits = [h for h in feed_server.hits if h.path.endswith(".xml")]
        assert len(hits) == 31 and sum(h.status == 304 for h in hits) == 25
        assert len({h.conn for h in hits}) <= 2, "a new connection per round"
        assert len({t.name for t in threading.enumerate() if t.name.startswith("fetch")}) <= 2
    finally:
        eng.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("fetch") and t.is_alive()]
