"""Fetching like a good citizen, against a real loopback server: per-host-group concurrency and
spacing, a 429 that pauses the whole group (and only it), cache headers as a lower bound of the
next fetch, and the grouping by registered domain. Several host names reach the one server on
127.0.0.1 through it acting as a plain HTTP proxy (a source's ``proxy:``): no DNS, no /etc/hosts."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from feedsvc.config import load_config
from feedsvc.sources.politeness import group_of, interleave, limits_for

from conftest import rss, run_cli, write_config

pytestmark = pytest.mark.slow


def _item(host: str, n: int) -> dict:
    return {"title": f"{host} {n}", "link": f"https://{host}/{n}", "guid": f"https://{host}/{n}",
            "date": "Mon, 02 Nov 2026 10:00:00 +0000"}


class Recorder:
    """Answers feed requests slowly and records, per host group, each request's start and the
    most requests in flight at once."""

    def __init__(self, delay: float = 0.4) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.starts: dict[str, list[float]] = {}
        self.inflight: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.status: dict[str, tuple[int, dict[str, str]]] = {}   # host → (status, headers) to answer

    def handler(self, handler) -> None:
        host = handler.headers.get("Host", "").split(":")[0]
        group = group_of(host)
        with self.lock:
            self.starts.setdefault(group, []).append(time.monotonic())
            self.inflight[group] = self.inflight.get(group, 0) + 1
            self.peak[group] = max(self.peak.get(group, 0), self.inflight[group])
        time.sleep(self.delay)
        with self.lock:                # done before it answers: the client cannot have moved on yet
            self.inflight[group] -= 1
        status, headers = self.status.get(host, (200, {}))
        body = rss([_item(host, 1)]).encode() if status == 200 else b""
        handler.send_response(status)
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


def _proxied(feed_server, rec: Recorder, hosts: list[str]) -> list[dict]:
    proxy = f"http://127.0.0.1:{feed_server.port}"
    sources = []
    for i, host in enumerate(hosts):
        url = f"http://{host}/feed.xml"
        feed_server.handlers[url] = rec.handler          # the proxy sees the absolute URL
        sources.append({"name": f"s{i:02d}", "url": url, "proxy": proxy})
    return sources


def test_groups_follow_the_public_suffix_list():
    assert group_of("a.tumblr.com") == group_of("b.tumblr.com") == "tumblr.com"
    assert group_of("gist.github.com") == group_of("github.com") == "github.com"
    assert group_of("www.bbc.co.uk") == "bbc.co.uk"
    assert group_of("127.0.0.1") == "127.0.0.1" and group_of("localhost") == "localhost"


def test_host_rules_override_the_defaults(tmp_path):
    cfg = load_config(write_config(tmp_path, [], fetch={"per_host": {"concurrency": 2, "spacing": "1s"},
                                                        "hosts": [{"match": "*.reddit.com", "spacing": "60s"},
                                                                  {"match": "api.example.org", "concurrency": 4}]}))
    assert (limits_for("www.reddit.com", cfg).spacing, limits_for("www.reddit.com", cfg).concurrency) == (60, 2)
    assert limits_for("reddit.com", cfg).spacing == 60
    assert limits_for("api.example.org", cfg).concurrency == 4 and limits_for("api.example.org", cfg).spacing == 1
    assert limits_for("other.example.org", cfg).concurrency == 2


def test_interleave_spreads_the_hosts():
    order = interleave(["a1", "a2", "a3", "b1", "c1", "b2"], key=lambda s: s[0])
    assert order == ["a1", "b1", "c1", "a2", "b2", "a3"]


def test_twenty_sources_on_one_host_group_keep_its_concurrency_and_spacing(tmp_path, feed_server):
    rec = Recorder(delay=0.5)
    hosts = [f"s{i}.example.com" for i in range(20)] + ["other.example.net"]
    sources = _proxied(feed_server, rec, hosts)
    cfg = write_config(tmp_path, sources, fetch={"workers": 8, "per_host": {"concurrency": 2, "spacing": "0.25s"}})
    r = run_cli("--config", str(cfg), "refresh")
    assert r.returncode == 0, r.stdout + r.stderr
    starts = sorted(rec.starts["example.com"])
    assert len(starts) == 20 and rec.peak["example.com"] == 2            # never more than 2 at once
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # starts at least 0.25 s apart as sent; as the server sees them, a few ms either way (two busy cores)
    assert min(gaps) >= 0.25 - 0.05 and sorted(gaps)[len(gaps) // 10] >= 0.25 - 0.01, gaps
    assert len(rec.starts["example.net"]) == 1


def test_a_429_pauses_its_whole_group_and_only_it(tmp_path, feed_server):
    rec = Recorder(delay=0.05)
    rec.status["a.example.com"] = (429, {"Retry-After": "30"})
    hosts = ["a.example.com", "b.example.com", "c.example.com", "x.example.net", "y.example.net"]
    sources = _proxied(feed_server, rec, hosts)
    cfg = write_config(tmp_path, sources, fetch={"per_host": {"concurrency": 1, "spacing": "0.2s"}})
    first = run_cli("--config", str(cfg), "refresh")
    assert first.returncode == 1                                        # a's 429 is an error
    assert "host example.com paused until" in first.stdout, first.stdout
    before = len(rec.starts["example.com"])
    for _ in range(2):                                                  # rounds within the 30 s
        again = run_cli("--config", str(cfg), "refresh")
        assert again.stdout.count("host example.com paused until") == 3, again.stdout
    assert len(rec.starts["example.com"]) == before                     # no request to the group
    assert len(rec.starts["example.net"]) == 6                          # the other group carried on
    status = json.loads(run_cli("--config", str(cfg), "status", "--json").stdout)
    paused = {s["name"]: s["host_paused_until"] for s in status["sources"]}
    assert all(paused[f"s{i:02d}"] for i in range(3)) and not paused["s03"]
    until = datetime.fromisoformat(paused["s01"])
    assert timedelta(seconds=25) < until - datetime.now(timezone.utc) <= timedelta(seconds=31)
    forced = run_cli("--config", str(cfg), "refresh", "s01", "--force-host")
    assert forced.returncode == 0 and len(rec.starts["example.com"]) == before + 1, forced.stdout


def test_cache_control_stretches_the_next_fetch_and_no_cache_never_shrinks_it(tmp_path, feed_server):
    feed_server.add("/long.xml", rss([_item("long.example", 1)]), headers={"Cache-Control": "max-age=7200"})
    feed_server.add("/none.xml", rss([_item("none.example", 1)]), headers={"Cache-Control": "no-cache, max-age=0"})
    feed_server.add("/exp.xml", rss([_item("exp.example", 1)]),
                    headers={"Expires": (datetime.now(timezone.utc) + timedelta(hours=3)).strftime("%a, %d %b %Y %H:%M:%S GMT")})
    cfg = write_config(tmp_path, [{"name": "long", "url": feed_server.url("/long.xml")},
                                  {"name": "none", "url": feed_server.url("/none.xml")},
                                  {"name": "exp", "url": feed_server.url("/exp.xml")}], schedule={"interval": "15m", "jitter": 0})
    assert run_cli("--config", str(cfg), "refresh").returncode == 0
    got = {s["name"]: s for s in json.loads(run_cli("--config", str(cfg), "status", "--json").stdout)["sources"]}
    assert got["long"]["interval_seconds"] == 7200 and "Cache-Control" in got["long"]["interval_set_by"]
    assert got["none"]["interval_seconds"] == 900 and got["none"]["interval_set_by"] == "configured"
    assert 3 * 3600 - 60 <= got["exp"]["interval_seconds"] <= 3 * 3600 and "Expires" in got["exp"]["interval_set_by"]
    due = datetime.fromisoformat(got["long"]["next_due"]) - datetime.fromisoformat(got["long"]["last_attempt"])
    assert timedelta(seconds=7199) <= due <= timedelta(seconds=7201)
    text = run_cli("--config", str(cfg), "status").stdout
    assert "interval:     2h00m (raised by the server's Cache-Control)" in text
