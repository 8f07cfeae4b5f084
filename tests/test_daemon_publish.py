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
