"""A small published site for the subscriber-facing tests: local articles (the repository's
samples), a remote RSS feed on the test's own 127.0.0.1 server, and a saved feed read from a
``file:`` URL. Everything is real: files, the HTTP server, the CLI subprocess, the store."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import REPO, FeedServer, rss, write_config
from helpers_feedsvc import cli

REMOTE = [
    {"title": "Tides &amp; times", "link": "https://news.example/tides", "guid": "https://news.example/tides",
     "permalink": True, "date": "Mon, 20 May 2024 08:00:00 +0000", "author": "Ines Ortega",
     "description": "High tide at 08:14.", "categories": ["coast"]},
    {"title": "Ferry timetable, winter edition", "link": "https://news.example/ferry?utm_source=rss",
     "guid": "ferry-2024", "date": "Sun, 19 May 2024 18:30:00 +0200",
     "content": '<p>The <a href="/ferries">ferries</a> run hourly.</p><img src="/img/ferry.png" alt="ferry">'},
    {"title": "Ünïcode ✓ title", "link": "https://news.example/u", "guid": "tag:news.example,2024:u",
     "date": "Sat, 18 May 2024 10:00:00 GMT", "description": "<p>Grüße</p>"},
]


def remote_feed(items: list[dict] = REMOTE) -> str:
    return rss(items, title="Harbour News", link="https://news.example/")


def make_site(tmp: Path, server: FeedServer, site_url: str = "http://127.0.0.1:8080/",
              items: list[dict] = REMOTE, **overrides: object) -> Path:
    """Write articles/, samples/ and config.yaml into ``tmp``; the remote feed is served at /news.xml."""
    shutil.copytree(REPO / "articles", tmp / "articles")
    (tmp / "samples").mkdir()
    shutil.copy(REPO / "samples" / "feed.xml", tmp / "samples" / "feed.xml")
    server.add("/news.xml", remote_feed(items), content_type="application/rss+xml")
    site = {"title": "Harbour Planet", "url": site_url, "description": "Everything from the harbour",
            "author": "Harbour Desk", "language": "en"}
    site.update(overrides.pop("site", {}))  # type: ignore[arg-type]
    return write_config(tmp, [{"name": "articles", "path": "articles", "title": "Our articles"},
                              {"name": "news", "url": server.url("/news.xml")},
                              {"name": "saved", "url": "file:samples/feed.xml"}],
                        site=site, **overrides)


def refresh(tmp: Path, ok: bool = True):
    r = cli("refresh", cwd=tmp)
    assert "Traceback" not in r.stderr, r.stderr
    if ok:
        assert r.returncode == 0, (r.stdout, r.stderr)
    return r
