"""Fetching like a good citizen against a hostile loopback server: total deadline, size caps on
compressed and decompressed bodies, redirects, 304/410/429, back-off, ttl, bozo feeds."""

from __future__ import annotations

import json
import random
import threading
import time
import tracemalloc
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from feedsvc.app.engine import Engine, refresh_source
from feedsvc.config import load_config
from feedsvc.errors import FetchError
from feedsvc.items.source_state import backoff_seconds, effective_interval
from feedsvc.sources.fetch import HttpFetcher

from conftest import rss, run_cli, write_config

MiB = 1024 * 1024


def fetcher(**kw) -> HttpFetcher:
    return HttpFetcher(user_agent="feedsvc-test", base_dir=Path("."), **kw)


def call_bounded(fn, limit: float = 30.0):
    """Run fn in a thread; fail (instead of hanging) if it does not return within limit."""
    result: dict[str, object] = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            result["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(limit)
    assert not t.is_alive(), f"did not return within {limit}s"
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result.get("value")


def test_trickling_server_is_cut_off_at_the_total_deadline(feed_server):
    def trickle(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        try:
            for _ in range(200):          # one byte every 0.2 s: never idle long enough for a read timeout
                h.wfile.write(b" ")
                h.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    feed_server.handlers["/trickle.xml"] = trickle
    f = fetcher(connect_timeout=5, timeout=2)
    with pytest.raises(FetchError, match="longer than 2s"):
        call_bounded(lambda: f.fetch("t", feed_server.url("/trickle.xml")), limit=15)
    f.close()


def test_body_cap_is_enforced_while_streaming(feed_server):
    big = b"<rss>" + b"x" * (64 * MiB) + b"</rss>"

    def no_length(h):   # no Content-Length: the cap must hold while streaming
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Connection", "close")
        h.end_headers()
        try:
            for i in range(0, len(big), MiB):
                h.wfile.write(big[i:i + MiB])
        except OSError:
            pass

    feed_server.handlers["/big.xml"] = no_length
    f = fetcher(max_bytes=10 * MiB)
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match="larger than the limit"):
            call_bounded(lambda: f.fetch("b", feed_server.url("/big.xml")))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    f.close()
    print(f"\n64 MiB body, 10 MiB cap: peak traced memory {peak / MiB:.1f} MiB")
    assert peak < 30 * MiB   # bounded by the cap, not by the 64 MiB body


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """1 GiB of zeros, gzip-compressed (about 1 MiB), built in steps."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * MiB
    parts = [c.compress(zeros) for _ in range(1024)]
    parts.append(c.flush())
    return b"".join(parts)


def test_gzip_bomb_is_refused_after_the_cap_with_flat_memory(feed_server, gzip_bomb):
    feed_server.add("/bomb.xml", gzip_bomb, headers={"Content-Encoding": "gzip"}, etag=False)
    f = fetcher(max_bytes=10 * MiB)
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match="decompressed response larger than the limit"):
            call_bounded(lambda: f.fetch("bomb", feed_server.url("/bomb.xml")))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    f.close()
    print(f"\ngzip bomb (1 GiB of zeros, {len(gzip_bomb) / MiB:.1f} MiB compressed): peak traced memory {peak / MiB:.1f} MiB")
    assert peak < 40 * MiB


def test_gzip_is_decoded(feed_server):
    feed_server.add("/g.xml", rss([{"title": "zipped", "link": "https://z.example/1"}]) + " " * 5000, gzip=True)
    f = fetcher()
    r = f.fetch("g", feed_server.url("/g.xml"))
    assert b"zipped" in r.content
    assert feed_server.hits_for("/g.xml")[-1].headers.get("Accept-Encoding") == "gzip, deflate"
    f.close()


def redirect(to: str, status: int):
    def handler(h):
        h.send_response(status)
        h.send_header("Location", to)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return handler


def test_redirect_limits_and_schemes(feed_server):
    feed_server.add("/final.xml", rss([{"title": "end", "link": "https://r.example/1"}]))
    for i in range(6):
        feed_server.handlers[f"/r{i}"] = redirect(feed_server.url(f"/r{i + 1}") if i < 5 else feed_server.url("/final.xml"), 302)
    f = fetcher()
    # /r1 → … → /r5 → final: 5 redirects, followed
    assert b"end" in f.fetch("r", feed_server.url("/r1")).content
    # /r0 → … → final: 6 redirects, refused
    with pytest.raises(FetchError, match="more than 5 redirects"):
        f.fetch("r", feed_server.url("/r0"))
    feed_server.handlers["/to-file"] = redirect("file:///etc/passwd", 301)
    with pytest.raises(FetchError, match="unsupported URL scheme|non-http"):
        f.fetch("r", feed_server.url("/to-file"))
    feed_server.handlers["/perm"] = redirect(feed_server.url("/final.xml"), 301)
    feed_server.handlers["/temp"] = redirect(feed_server.url("/final.xml"), 307)
    assert f.fetch("r", feed_server.url("/perm")).permanent_url == feed_server.url("/final.xml")
    assert f.fetch("r", feed_server.url("/temp")).permanent_url is None
    f.close()


def status_json(cfg: Path) -> dict:
    r = run_cli("--config", str(cfg), "status", "--json")
    assert r.returncode == 0, r.stderr
    return {s["name"]: s for s in json.loads(r.stdout)["sources"]}


def test_permanent_redirect_updates_the_stored_url_after_a_few_successes(tmp_path, feed_server):
    feed_server.add("/new.xml", rss([{"title": "moved", "link": "https://m.example/1"}]))
    feed_server.handlers["/old.xml"] = redirect(feed_server.url("/new.xml"), 308)
    feed_server.handlers["/tmp.xml"] = redirect(feed_server.url("/new.xml"), 302)
    cfg = write_config(tmp_path, [{"name": "perm", "url": feed_server.url("/old.xml")},
                                  {"name": "temp", "url": feed_server.url("/tmp.xml")}])
    for _ in range(3):
        assert run_cli("--config", str(cfg), "refresh", "--full").returncode == 0
    st = status_json(cfg)
    assert st["perm"]["moved_to"] == feed_server.url("/new.xml")
    assert "moved to" in st["perm"]["state"]
    assert st["temp"]["moved_to"] is None
    before = len(feed_server.hits_for("/old.xml"))
    assert run_cli("--config", str(cfg), "refresh", "perm").returncode == 0
    assert len(feed_server.hits_for("/old.xml")) == before   # the new URL is fetched directly


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def runtime(tmp_path: Path, sources: list[dict], clock: Clock) -> Engine:
    cfg = write_config(tmp_path, sources)
    return Engine(load_config(cfg), clock=clock)


def test_410_gone_is_not_fetched_by_the_daemon_but_a_forced_refresh_tries(tmp_path, feed_server):
    feed_server.add("/gone.xml", b"gone", status=410)
    clock = Clock()
    rt = runtime(tmp_path, [{"name": "g", "url": feed_server.url("/gone.xml"), "interval": "1m"}], clock)
    src = rt.config.source("g")
    try:
        assert refresh_source(rt, src, force=False).status == "error"
        assert rt.storage.state("g").gone
        clock.now += timedelta(days=30)            # long after any back-off
        hits = len(feed_server.hits_for("/gone.xml"))
        assert refresh_source(rt, src, force=False).status == "skipped"
        assert len(feed_server.hits_for("/gone.xml")) == hits
        assert refresh_source(rt, src, force=True).status == "error"
        assert len(feed_server.hits_for("/gone.xml")) == hits + 1
    finally:
        rt.close()
    assert "gone" in status_json(tmp_path / "config.yaml")["g"]["state"]


def test_retry_after_is_honoured_and_backoff_grows_and_resets(tmp_path, feed_server):
    feed_server.add("/busy.xml", b"busy", status=429, headers={"Retry-After": "7200"})
    clock = Clock()
    rt = runtime(tmp_path, [{"name": "b", "url": feed_server.url("/busy.xml"), "interval": "1m"}], clock)
    src = rt.config.source("b")
    try:
        refresh_source(rt, src, force=False)
        st = rt.storage.state("b")
        assert st.retry_after >= clock.now + timedelta(seconds=7200)
        clock.now += timedelta(seconds=3600)
        assert refresh_source(rt, src, force=False).status == "skipped"     # still waiting
        # plain failures back off exponentially
        feed_server.add("/busy.xml", b"oops", status=500)
        delays = []
        for _ in range(4):
            clock.now = rt.storage.state("b").retry_after + timedelta(seconds=1)
            assert refresh_source(rt, src, force=False).status == "error"
            st = rt.storage.state("b")
            delays.append((st.retry_after - clock.now).total_seconds())
        assert delays[0] < delays[1] < delays[2] < delays[3]
        assert st.failures == 5
        # success resets
        feed_server.add("/busy.xml", rss([{"title": "back", "link": "https://b.example/1"}]))
        clock.now = st.retry_after + timedelta(seconds=1)
        assert refresh_source(rt, src, force=False).status == "ok"
        st = rt.storage.state("b")
        assert st.failures == 0 and st.retry_after is None and st.last_error is None
    finally:
        rt.close()


def test_backoff_is_capped_at_a_day():
    assert backoff_seconds(3600, 30, random.Random(1)) <= 24 * 3600
    assert 0.9 * 60 <= backoff_seconds(60, 1, random.Random(1)) <= 1.1 * 60


def test_feed_ttl_raises_the_interval_up_to_a_cap(tmp_path, feed_server):
    body = rss([{"title": "t", "link": "https://t.example/1"}]).replace("<description>d</description>",
                                                                       "<description>d</description><ttl>120</ttl>")
    feed_server.add("/ttl.xml", body)
    clock = Clock()
    rt = runtime(tmp_path, [{"name": "t", "url": feed_server.url("/ttl.xml"), "interval": "15m"}], clock)
    try:
        refresh_source(rt, rt.config.source("t"))
        assert effective_interval(rt.config.source("t").interval, rt.storage.state("t")) == 7200
    finally:
        rt.close()


def test_bozo_feed_with_entries_is_used_and_the_warning_recorded(tmp_path, feed_server):
    good = rss([{"title": "first", "link": "https://z.example/1", "guid": "https://z.example/1"}])
    feed_server.add("/z.xml", good)
    cfg = write_config(tmp_path, [{"name": "z", "url": feed_server.url("/z.xml")}])
    assert run_cli("--config", str(cfg), "refresh").returncode == 0
    # an undefined entity makes the XML malformed; feedparser's loose parser still yields entries
    broken = good.replace("<title>first</title>", "<title>second &hellip;</title>").replace("/1<", "/2<")
    feed_server.add("/z.xml", broken)
    r = run_cli("--config", str(cfg), "refresh")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warning" in r.stdout
    st = status_json(cfg)["z"]
    assert st["warning"] and st["items"] == 2
    # a body that yields nothing is an error for the source; its earlier items stay published
    feed_server.add("/z.xml", b"<html><body>Service temporarily unavailable</body></html>", content_type="text/html")
    r = run_cli("--config", str(cfg), "refresh")
    assert r.returncode == 1
    st = status_json(cfg)["z"]
    assert st["last_error"] and st["items"] == 2
    atom = (tmp_path / "public" / "atom.xml").read_text()
    assert "first" in atom and "second" in atom
