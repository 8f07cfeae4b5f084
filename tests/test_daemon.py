"""`feedsvc run` as a real subprocess against a loopback feed server.

Intervals of one second; every wait is bounded; every daemon started here is stopped here.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from pathlib import Path

import feedparser
import pytest
from helpers_daemon import Daemon  # noqa: F401
from lxml import etree

from feedsvc.app.daemon import STOP_GRACE

from conftest import rss, run_cli, write_config

pytestmark = pytest.mark.slow


def titles(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [e.title for e in feedparser.parse(path.read_bytes()).entries]


def item(n: int) -> dict:
    return {"title": f"Post {n}", "link": f"https://a.example/{n}", "guid": f"https://a.example/{n}",
            "date": f"Mon, 0{n % 9 + 1} Nov 2026 10:00:00 +0000", "description": f"body {n}"}


def test_upstream_change_appears_without_any_command(tmp_path, feed_server, daemons):
    feed_server.add("/a.xml", rss([item(1)]))
    cfg = write_config(tmp_path, [{"name": "a", "url": feed_server.url("/a.xml"), "interval": "1s"}],
                       schedule={"interval": "1s"})
    d = daemons(cfg)
    atom = tmp_path / "public" / "atom.xml"
    d.wait_for(lambda: "Post 1" in titles(atom), what="first publish")
    feed_server.add("/a.xml", rss([item(2), item(1)]))
    d.wait_for(lambda: "Post 2" in titles(atom), what="the upstream change")
    # each file is replaced atomically, one after the other (atom before rss): wait for the rss
    # file's own rename instead of racing it
    d.wait_for(lambda: "Post 2" in titles(tmp_path / "public" / "rss.xml"), what="the change in rss.xml")
    # conditional requests were used between changes
    assert any("If-None-Match" in h.headers for h in feed_server.hits_for("/a.xml"))
    assert d.stop() == 0


def test_sighup_adds_a_source_and_bad_config_keeps_the_old_one(tmp_path, feed_server, daemons):
    feed_server.add("/a.xml", rss([item(1)]))
    feed_server.add("/b.xml", rss([{"title": "From B", "link": "https://b.example/1", "guid": "https://b.example/1",
                                    "date": "Tue, 03 Nov 2026 10:00:00 +0000"}]))
    a = {"name": "a", "url": feed_server.url("/a.xml"), "interval": "1s"}
    b = {"name": "b", "url": feed_server.url("/b.xml"), "interval": "1s"}
    cfg = write_config(tmp_path, [a], schedule={"interval": "1s"})
    d = daemons(cfg)
    atom = tmp_path / "public" / "atom.xml"
    d.wait_for(lambda: "Post 1" in titles(atom), what="first publish")

    write_config(tmp_path, [a, b], schedule={"interval": "1s"})
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for(lambda: "From B" in titles(atom), what="the source added by SIGHUP")

    cfg.write_text(cfg.read_text() + "\nbogus_key: 1\n")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log("config not applied")
    assert "bogus_key" in d.text()
    # still running on the old config: a change upstream still shows up
    feed_server.add("/a.xml", rss([item(3), item(1)]))
    d.wait_for(lambda: "Post 3" in titles(atom), what="a change after the bad reload")
    assert d.proc.poll() is None
    assert d.stop() == 0


def test_sigterm_exits_zero_quickly_even_with_a_slow_fetch_in_flight(tmp_path, feed_server, daemons):
    release = threading.Event()

    def slow(handler):
        release.wait(60)          # outlives the daemon's grace: it must give up on this fetch
        handler.send_response(200)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    feed_server.handlers["/slow.xml"] = slow
    feed_server.add("/a.xml", rss([item(1)]))
    cfg = write_config(tmp_path, [{"name": "a", "url": feed_server.url("/a.xml")},
                                  {"name": "slow", "url": feed_server.url("/slow.xml")}],
                       schedule={"interval": "1s"})
    d = daemons(cfg)
    d.wait_for(lambda: "Post 1" in titles(tmp_path / "public" / "atom.xml"), what="first publish")
    d.wait_for(lambda: feed_server.hits_for("/slow.xml"), what="the slow fetch to start")
    started = time.monotonic()
    try:
        assert d.stop(signal.SIGTERM, timeout=STOP_GRACE + 5) == 0
        # within the grace plus a little (the units allow 15 s before systemd kills)
        assert time.monotonic() - started < STOP_GRACE + 3
    finally:
        release.set()
    # the output is intact and well-formed after the stop
    etree.parse(str(tmp_path / "public" / "atom.xml"))


def test_forced_refresh_while_the_daemon_runs(tmp_path, feed_server, daemons):
    feed_server.add("/a.xml", rss([item(1)]))
    cfg = write_config(tmp_path, [{"name": "a", "url": feed_server.url("/a.xml"), "interval": "1s"},
                                  {"name": "local", "path": "articles"}],
                       schedule={"interval": "1s"})
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "one.txt").write_text("Local one\n\nBody.\n")
    d = daemons(cfg)
    atom = tmp_path / "public" / "atom.xml"
    d.wait_for(lambda: "Post 1" in titles(atom), what="first publish")
    for n in range(2, 6):
        feed_server.add("/a.xml", rss([item(k) for k in range(n, 0, -1)]))
        (tmp_path / "articles" / f"n{n}.txt").write_text(f"Local {n}\n\nBody {n}.\n")
        r = run_cli("--config", str(cfg), "refresh", timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "a " in r.stdout and "local" in r.stdout
        # the forced refresh returns once the published files reflect it
        got = titles(atom)
        assert f"Post {n}" in got and f"Local {n}" in got
        etree.parse(str(atom))
        etree.parse(str(tmp_path / "public" / "rss.xml"))
    assert d.stop() == 0


def test_kill_9_mid_round_then_restart_loses_nothing(tmp_path, feed_server, daemons):
    n_sources = 12
    sources = []
    for i in range(n_sources):
        feed_server.add(f"/f{i}.xml", rss([{"title": f"S{i} item {k}", "link": f"https://s{i}.example/{k}",
                                             "guid": f"https://s{i}.example/{k}",
                                             "date": f"Mon, 02 Nov 2026 1{k}:00:00 +0000"} for k in range(5)]))
        sources.append({"name": f"s{i}", "url": feed_server.url(f"/f{i}.xml"), "interval": "1s"})
    cfg = write_config(tmp_path, sources, schedule={"interval": "1s"}, output={"max_items": 500})
    d = daemons(cfg)
    atom = tmp_path / "public" / "atom.xml"
    d.wait_for(lambda: len(titles(atom)) == 5 * n_sources, what="everything stored once")
    before = set(titles(atom))
    # now make the sources change continuously and kill -9 while rounds are in flight
    for i in range(n_sources):
        feed_server.add(f"/f{i}.xml", rss([{"title": f"S{i} item {k}", "link": f"https://s{i}.example/{k}",
                                             "guid": f"https://s{i}.example/{k}",
                                             "date": f"Mon, 02 Nov 2026 1{k}:00:00 +0000"} for k in range(6)]))
    hits = len(feed_server.hits)
    # one fetch is held open, so the kill surely lands while work is in flight (on a fast machine
    # the other sources' writes could otherwise all be committed before it)
    entered, release = threading.Event(), threading.Event()

    def held(handler):
        entered.set()
        release.wait(30)
        handler.send_response(503)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    feed_server.handlers["/f0.xml"] = held
    try:
        d.wait_for(entered.is_set, what="the held fetch")
        d.wait_for(lambda: len(feed_server.hits) > hits + n_sources // 2, what="a round in flight")
        d.proc.kill()
        d.proc.wait(timeout=5)
    finally:
        release.set()
        del feed_server.handlers["/f0.xml"]      # the restarted daemon gets the feed itself
    d2 = daemons(cfg)
    d2.wait_log("started")
    d2.wait_for(lambda: len(titles(atom)) == 6 * n_sources, what="the restarted daemon to catch up")
    after = set(titles(atom))
    assert before <= after
    assert d2.stop() == 0
    status = run_cli("--config", str(cfg), "status", "--json")
    assert status.returncode == 0
    assert json.loads(status.stdout)["store_items"] == 6 * n_sources


def test_systemd_notify_protocol(tmp_path, feed_server, daemons):
    feed_server.add("/a.xml", rss([item(1)]))
    cfg = write_config(tmp_path, [{"name": "a", "url": feed_server.url("/a.xml")}])
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.2)
    messages: list[str] = []
    try:
        d = daemons(cfg, env={"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "1000000"})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
                any("READY=1" in m for m in messages) and sum("WATCHDOG=1" in m for m in messages) >= 2
                and any(m.startswith("STATUS=") and "last publish" in m and "never" not in m for m in messages)):
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                pass
        assert any("READY=1" in m for m in messages), messages
        assert sum("WATCHDOG=1" in m for m in messages) >= 2, messages
        assert any(m.startswith("STATUS=1 sources, 0 failing") for m in messages), messages
        d.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("STOPPING=1" in m for m in messages):
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                pass
        assert any("STOPPING=1" in m for m in messages), messages
        assert d.stop() == 0
    finally:
        sock.close()


def test_failures_are_logged_once_per_state_change_and_back_off(tmp_path, feed_server, daemons):
    feed_server.add("/ok.xml", rss([item(1)]))
    feed_server.add("/bad.xml", b"missing", status=404)
    cfg = write_config(tmp_path, [{"name": "ok", "url": feed_server.url("/ok.xml"), "interval": "1s"},
                                  {"name": "bad", "url": feed_server.url("/bad.xml"), "interval": "1s"}],
                       schedule={"interval": "1s", "jitter": 0})
    d = daemons(cfg)
    d.wait_for(lambda: len(feed_server.hits_for("/bad.xml")) >= 3, timeout=30, what="three attempts")
    started = time.monotonic()
    d.wait_for(lambda: time.monotonic() - started > 4, timeout=10, what="a few more seconds")
    ok_hits, bad_hits = len(feed_server.hits_for("/ok.xml")), len(feed_server.hits_for("/bad.xml"))
    assert d.text().count("bad: error: HTTP 404") == 1, d.text()
    assert bad_hits < ok_hits          # the failing source backs off (1 s, 2 s, 4 s, …)
    feed_server.add("/bad.xml", rss([{"title": "Back", "link": "https://b.example/1"}]))
    d.wait_log("bad: recovered", timeout=40)
    assert d.stop() == 0
