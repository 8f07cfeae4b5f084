"""index.html in a real browser: headless Chromium loads it from feedsvc's own server and the
rendered document holds the newest items (scripts/screenshot.py takes the pictures to look at)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import lxml.html

from feedsvc.app.serve import StaticServer

from conftest import need
from helpers_feedsvc import published
from helpers_subscribers import make_site, refresh


@contextmanager
def served_site(tmp_path, feed_server) -> Iterator[tuple[str, StaticServer]]:
    """Chromium, and a refreshed site served by feedsvc's own server (stopped on exit)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    need(chromium is not None, "chromium is not installed (Debian package chromium)")
    server = StaticServer(tmp_path / "public", "127.0.0.1", 0)
    server.start()
    try:
        make_site(tmp_path, feed_server, site_url=server.url)
        refresh(tmp_path)
        yield chromium, server
    finally:
        server.stop()


def headless(chromium: str, profile, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-background-networking", f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def test_chromium_renders_the_index(tmp_path, feed_server):
    with served_site(tmp_path, feed_server) as (chromium, server):
        profile = tmp_path / "profile"
        png = tmp_path / "index-400.png"
        r = headless(chromium, profile, "--dump-dom", server.url)
        assert r.returncode == 0, r.stderr[-2000:]
        shot = headless(chromium, profile, f"--screenshot={png}", "--window-size=400,1200", server.url)
        assert shot.returncode == 0, shot.stderr[-2000:]
    dom = lxml.html.fromstring(r.stdout)
    titles = [h.text_content() for h in dom.xpath("//main//article//h3")]
    assert titles == published(tmp_path / "public").titles()
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 10_000


def test_chromium_applies_the_feed_stylesheet(tmp_path, feed_server):
    """A person who opens atom.xml or rss.xml in a browser (here Chromium, from feedsvc's own
    server) sees a readable page with a subscribe hint, not raw XML: the server sends feeds as
    application/xml to a client asking for text/html, and the browser applies feed.xsl."""
    with served_site(tmp_path, feed_server) as (chromium, server):
        pub = tmp_path / "public"
        want = published(pub).titles()
        for name in ("atom.xml", "rss.xml"):
            r = headless(chromium, tmp_path / "profile", "--dump-dom", server.url + name)
            assert r.returncode == 0, r.stderr[-2000:]
            dom = lxml.html.fromstring(r.stdout)
            assert "This is a web feed" in dom.text_content(), name
            assert [a.text_content() for a in dom.xpath("//li//h2/a")] == want, name
