"""HttpFetcher against a real HTTP server on 127.0.0.1: headers sent, conditional GET, gzip,
size caps, errors, file: URLs. No mocking of requests."""

from __future__ import annotations

import gzip
import os
import socket
import threading

import pytest

import feedsvc
from feedsvc.app.engine import Engine, refresh
from feedsvc.config import load_config
from feedsvc.errors import FetchError
from feedsvc.sources.fetch import HttpFetcher

from conftest import rss, write_config

FEED = rss([{"title": "One", "link": "https://e.org/1", "guid": "g1"}])


@pytest.fixture
def fetcher(tmp_path):
    f = HttpFetcher(user_agent="feedsvc-test/1 (+http://127.0.0.1:8080/)", base_dir=tmp_path,
                    connect_timeout=5, timeout=10, max_bytes=64 * 1024)
    try:
        yield f
    finally:
        f.close()


def test_user_agent_is_feedsvc_version_and_site_url(tmp_path, feed_server):
    url = feed_server.add("/feed.xml", FEED)
    cfg = load_config(write_config(tmp_path, [{"name": "f", "url": url}],
                                   site={"url": "https://planet.example.org/"}))
    rt = Engine(cfg)
    try:
        report = refresh(rt, cfg.sources)
    finally:
        rt.close()
    assert report.outcomes[0].status == "ok"
    (hit,) = feed_server.hits_for("/feed.xml")
    assert hit.headers["User-Agent"] == f"feedsvc/{feedsvc.__version__} (+https://planet.example.org/)"
    assert "gzip" in hit.headers["Accept-Encoding"]


def test_conditional_get_and_304(feed_server, fetcher):
    url = feed_server.add("/feed.xml", FEED)
    first = fetcher.fetch("f", url)
    assert not first.not_modified and first.content == FEED.encode() and first.etag
    assert first.last_modified
    second = fetcher.fetch("f", url, first.etag, first.last_modified)
    assert second.not_modified and second.status == 304 and second.content == b""
    h1, h2 = feed_server.hits_for("/feed.xml")
    assert "If-None-Match" not in h1.headers
    assert h2.headers["If-None-Match"] == first.etag
    assert h2.headers["If-Modified-Since"] == first.last_modified
    assert h2.status == 304


def test_gzip_response_is_decoded(feed_server, fetcher):
    url = feed_server.add("/gz.xml", FEED, gzip=True)
    result = fetcher.fetch("f", url)
    assert result.content == FEED.encode()
    assert result.headers["content-encoding"] == "gzip"


def test_declared_size_over_the_cap_is_refused(feed_server, fetcher):
    url = feed_server.add("/big.xml", b"x" * (64 * 1024 + 1))
    with pytest.raises(FetchError) as ei:
        fetcher.fetch("big", url)
    assert "limit" in str(ei.value) and ei.value.source == "big" and ei.value.url == url


def test_undeclared_size_over_the_cap_is_cut_off_while_streaming(feed_server, fetcher):
    def endless(h):  # no Content-Length, more bytes than the cap, then close
        h.send_response(200)
        h.send_header("Content-Type", "application/xml")
        h.send_header("Connection", "close")
        h.end_headers()
        try:
            for _ in range(40):
                h.wfile.write(b"<x>" + b"y" * 4096 + b"</x>")
        except OSError:
            pass
        h.close_connection = True

    feed_server.handlers["/stream.xml"] = endless
    with pytest.raises(FetchError, match="limit"):
        fetcher.fetch("s", feed_server.url("/stream.xml"))


def test_gzip_bomb_is_cut_off_at_the_decompressed_cap(feed_server, fetcher):
    bomb = gzip.compress(b"<rss>" + b" " * (4 * 1024 * 1024))
    assert len(bomb) < 64 * 1024

    def serve(h):
        h.send_response(200)
        h.send_header("Content-Encoding", "gzip")
        h.send_header("Content-Length", str(len(bomb)))
        h.end_headers()
        h.wfile.write(bomb)

    feed_server.handlers["/bomb.xml"] = serve
    with pytest.raises(FetchError, match="decompressed"):
        fetcher.fetch("b", feed_server.url("/bomb.xml"))


def test_http_error_is_a_fetch_error_with_the_status(feed_server, fetcher):
    with pytest.raises(FetchError) as ei:
        fetcher.fetch("gone", feed_server.url("/missing.xml"))
    assert ei.value.status == 404 and "404" in str(ei.value)
    url = feed_server.add("/busy.xml", "busy", status=503, headers={"Retry-After": "120"}, etag=False)
    with pytest.raises(FetchError) as ei:
        fetcher.fetch("busy", url)
    assert ei.value.status == 503 and ei.value.retry_after == 120


def test_connection_refused_is_a_fetch_error(fetcher):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                          # nothing listens there now
    with pytest.raises(FetchError, match="connection failed") as info:
        fetcher.fetch("down", f"http://127.0.0.1:{port}/feed.xml")
    # one readable line: urllib3's reason, without the repr brackets requests wraps it in
    assert str(info.value).rstrip().endswith("Connection refused"), str(info.value)


def test_read_timeout_is_a_fetch_error(feed_server, tmp_path):
    release = threading.Event()

    def stall(h):
        release.wait(10)

    feed_server.handlers["/slow.xml"] = stall
    f = HttpFetcher(user_agent="t", base_dir=tmp_path, connect_timeout=0.3, timeout=0.3)
    try:
        with pytest.raises(FetchError, match="timed out|took longer"):
            f.fetch("slow", feed_server.url("/slow.xml"))
    finally:
        release.set()
        f.close()


def test_permanent_redirect_is_reported(feed_server, fetcher):
    new = feed_server.add("/new.xml", FEED)

    def moved(h):
        h.send_response(301)
        h.send_header("Location", new)
        h.send_header("Content-Length", "0")
        h.end_headers()

    feed_server.handlers["/old.xml"] = moved
    result = fetcher.fetch("m", feed_server.url("/old.xml"))
    assert result.content == FEED.encode() and result.permanent_url == new


def test_a_cookie_set_on_a_redirect_is_sent_after_it_and_next_time(feed_server, fetcher):
    # hosts behind some CDNs answer the first request with a cookie and a redirect to the same
    # URL; the session keeps the cookie for the following fetches too
    def gate(h):
        if "seen=1" in (h.headers.get("Cookie") or ""):
            body = FEED.encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/rss+xml")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        else:
            h.send_response(302)
            h.send_header("Set-Cookie", "seen=1; Path=/")
            h.send_header("Location", feed_server.url("/gated.xml"))
            h.send_header("Content-Length", "0")
            h.end_headers()

    feed_server.handlers["/gated.xml"] = gate
    url = feed_server.url("/gated.xml")
    assert fetcher.fetch("c", url).content == FEED.encode()
    assert fetcher.fetch("c", url).content == FEED.encode()
    assert [h.headers.get("Cookie") for h in feed_server.hits_for("/gated.xml")] == [None, "seen=1", "seen=1"]


def test_redirect_to_a_file_url_is_refused(feed_server, fetcher):
    def evil(h):
        h.send_response(302)
        h.send_header("Location", "file:///etc/passwd")
        h.send_header("Content-Length", "0")
        h.end_headers()

    feed_server.handlers["/evil.xml"] = evil
    with pytest.raises(FetchError):
        fetcher.fetch("e", feed_server.url("/evil.xml"))


def test_file_urls_relative_to_the_config_dir(tmp_path, fetcher):
    (tmp_path / "feeds").mkdir()
    path = tmp_path / "feeds" / "saved.xml"
    path.write_text(FEED)
    first = fetcher.fetch("f", "file:feeds/saved.xml")
    assert first.content == FEED.encode() and first.etag
    assert fetcher.fetch("f", "file:feeds/saved.xml", first.etag).not_modified
    os.utime(path, ns=(1, 1))                           # touched: fetched again
    assert not fetcher.fetch("f", "file:feeds/saved.xml", first.etag).not_modified
    assert fetcher.fetch("f", path.as_uri()).content == FEED.encode()
    with pytest.raises(FetchError, match="cannot read"):
        fetcher.fetch("f", "file:feeds/missing.xml")


def test_unsupported_scheme(fetcher):
    with pytest.raises(FetchError, match="scheme"):
        fetcher.fetch("f", "ftp://e.org/feed")
