"""Real feed readers subscribed to the served feeds over HTTP on 127.0.0.1: newsboat (headless
``newsboat -x reload``, then its SQLite cache is read) and feedparser. What they show — items,
titles, links, authors, dates — must be what the store holds, in Atom and in RSS alike."""

from __future__ import annotations

import calendar
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import feedparser
import pytest
import requests

from feedsvc.app.serve import StaticServer
from feedsvc.storage.sqlite import SqliteStorage as Store

from conftest import need
from helpers_subscribers import make_site, refresh

FALLBACK = {"news": "Harbour News", "saved": "Town Hall Notes", "articles": "Harbour Desk"}


@pytest.fixture
def site(tmp_path, feed_server):
    """A published site served by feedsvc's own StaticServer (its URL is site.url)."""
    server = StaticServer(tmp_path / "public", "127.0.0.1", 0)
    server.start()
    try:
        make_site(tmp_path, feed_server, site_url=server.url)
        refresh(tmp_path)
        yield tmp_path, server.url
    finally:
        server.stop()


def expected(tmp: Path) -> dict[str, tuple[str, str, str, int]]:
    """id → (title, link, author, publication time) as the store has them."""
    store = Store(tmp / "state" / "feedsvc.db")
    try:
        items = store.newest(50)
    finally:
        store.close()
    assert len(items) == 9
    return {s.item.id: (s.item.title, s.item.link or "",
                        ", ".join(p.name for p in s.item.authors) or FALLBACK[s.item.source],
                        int(s.date.timestamp())) for s in items}


def newsboat(url: str, home: Path) -> dict[str, tuple[str, str, str, int]]:
    """Subscribe a fresh newsboat to ``url``, reload headless, return its cached items by guid."""
    home.mkdir()
    (home / "urls").write_text(url + "\n", encoding="utf-8")
    (home / "config").write_text("", encoding="utf-8")
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local"), "TERM": "dumb"}
    r = subprocess.run(["newsboat", "-x", "reload", "-u", str(home / "urls"), "-c", str(home / "cache.db"),
                        "-C", str(home / "config")], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    db = sqlite3.connect(home / "cache.db")
    try:
        feeds = db.execute("SELECT rssurl, title FROM rss_feed").fetchall()
        rows = db.execute("SELECT guid, title, url, author, pubDate, feedurl FROM rss_item").fetchall()
    finally:
        db.close()
    assert feeds == [(url, "Harbour Planet")], feeds
    assert {r[5] for r in rows} == {url}
    return {g: (t, u, a, d) for g, t, u, a, d, _f in rows}


@pytest.mark.parametrize("fmt", ["atom.xml", "rss.xml"])
def test_newsboat_shows_what_the_store_holds(site, fmt, tmp_path_factory):
    need(shutil.which("newsboat") is not None, "newsboat is not installed (Debian package newsboat)")
    tmp, url = site
    got = newsboat(url + fmt, tmp_path_factory.mktemp("newsboat") / "home")
    assert got == expected(tmp)


@pytest.mark.parametrize("fmt", ["atom.xml", "rss.xml"])
def test_feedparser_shows_what_the_store_holds(site, fmt):
    tmp, url = site
    resp = requests.get(url + fmt, timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == ("application/atom+xml; charset=utf-8" if fmt == "atom.xml"
                                            else "application/rss+xml; charset=utf-8")
    d = feedparser.parse(resp.content, response_headers={k.lower(): v for k, v in resp.headers.items()})
    assert not d.bozo, d.get("bozo_exception")
    assert d.version == ("atom10" if fmt == "atom.xml" else "rss20")
    assert d.feed.title == "Harbour Planet"
    got = {e.id: (e.title, e.link, ", ".join(a.name for a in e.authors), calendar.timegm(e.published_parsed))
           for e in d.entries}
    assert len(got) == len(d.entries)
    assert got == expected(tmp)


def test_the_other_outputs_are_served_with_their_types(site):
    _tmp, url = site
    types = {"feed.json": "application/feed+json", "sources.opml": "text/x-opml", "feed.xsl": "text/xsl",
             "index.html": "text/html", "": "text/html"}
    for name, ctype in types.items():
        resp = requests.get(url + name, timeout=10)
        assert resp.status_code == 200, name
        assert resp.headers["Content-Type"] == f"{ctype}; charset=utf-8", name
