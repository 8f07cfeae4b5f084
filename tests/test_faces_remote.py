"""A source's ``face:`` given as an http(s) URL: downloaded by the fetching side when the source is
refreshed (``Engine.run_round``: ``feedsvc refresh`` and the daemon's rounds), kept in
``state_dir/faces/``, copied into ``output.dir/faces/`` by the publisher like a local face.
``feedsvc publish`` never contacts the face's host; a face that is not an image is a warning, once,
never a failed refresh.

Real HTTP servers on 127.0.0.1 (the face on a server of its own, a "third party"), the CLI as a
subprocess, and the engine in process with our own fake clock to let a day pass."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import lxml.html
import pytest
from test_planet_pages import png

from feedsvc.app.engine import Engine
from feedsvc.config import load_config

from conftest import FeedServer, rss, write_config
from helpers_feedsvc import T0, Clock, cli


@pytest.fixture
def face_host():
    srv = FeedServer()
    try:
        yield srv
    finally:
        srv.stop()


def feed(name: str, days_before: int = 0) -> str:
    link = f"https://{name}.example/p/1"
    return rss([{"title": f"{name} post", "link": link, "guid": link, "permalink": True,
                 "date": format_datetime(T0 - timedelta(days=days_before)), "description": "<p>Text.</p>"}],
               title=f"{name} blog")


def ok(r):
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    return r


def imgs(tmp) -> list[str]:
    return lxml.html.fromstring((tmp / "public" / "index.html").read_bytes()).xpath("//img/@src")


def test_a_url_face_is_downloaded_at_refresh_and_publish_never_asks_its_host(tmp_path, feed_server, face_host):
    feed_server.add("/alice.xml", feed("alice"))
    face_host.add("/me.png", png(), content_type="image/png")
    write_config(tmp_path, [{"name": "alice", "url": feed_server.url("/alice.xml"), "face": face_host.url("/me.png")}])
    ok(cli("check", cwd=tmp_path))
    # publish alone: the face's host is never asked, and until a download no face is shown
    ok(cli("publish", cwd=tmp_path))
    assert face_host.hits == [] and imgs(tmp_path) == [] and not (tmp_path / "public" / "faces").exists()

    r = ok(cli("refresh", cwd=tmp_path))
    assert "face" not in r.stderr
    assert len(face_host.hits) == 1 and face_host.hits[0].headers["User-Agent"].startswith("feedsvc/")
    assert (tmp_path / "state" / "faces" / "alice.png").read_bytes() == png()
    assert (tmp_path / "public" / "faces" / "alice.png").read_bytes() == png()
    assert set(imgs(tmp_path)) == {"faces/alice.png"}       # beside the post and in the sources list
    assert len(imgs(tmp_path)) == 2
    page = (tmp_path / "public" / "index.html").read_text(encoding="utf-8")
    assert face_host.url("/") not in page                    # never hot-linked

    ok(cli("publish", cwd=tmp_path))
    ok(cli("publish", "--archives", cwd=tmp_path))
    assert len(face_host.hits) == 1                          # publishing never fetches
    ok(cli("refresh", cwd=tmp_path))
    assert len(face_host.hits) == 1                          # a copy checked less than a day ago is kept
    assert (tmp_path / "public" / "faces" / "alice.png").read_bytes() == png()

    # the face taken out of the config: removed from the output at the next publish
    write_config(tmp_path, [{"name": "alice", "url": feed_server.url("/alice.xml")}])
    ok(cli("publish", cwd=tmp_path))
    assert not (tmp_path / "public" / "faces").exists() and imgs(tmp_path) == []


def test_a_face_that_is_not_an_image_is_reported_once_and_the_source_is_still_refreshed(
        tmp_path, feed_server, face_host):
    face_host.add("/svg", "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
                  content_type="image/svg+xml")
    face_host.add("/html", "<!doctype html><html><body>Sign in</body></html>", content_type="text/html")
    face_host.add("/big.png", png() + b"\0" * (1024 * 1024), content_type="image/png")
    sources = []
    for name, path in [("gone", "/missing.png"), ("vector", "/svg"), ("page", "/html"), ("huge", "/big.png")]:
        feed_server.add(f"/{name}.xml", feed(name))
        sources.append({"name": name, "url": feed_server.url(f"/{name}.xml"), "face": face_host.url(path)})
    write_config(tmp_path, sources)
    ok(cli("check", cwd=tmp_path))
    r = ok(cli("refresh", cwd=tmp_path))                     # exit 0: every source refreshed
    for name, why in [("gone", "HTTP 404"), ("vector", "an SVG image, which is not accepted"),
                      ("page", "not a PNG, JPEG, GIF, WebP or AVIF image (the server sent text/html)"),
                      ("huge", "larger than 1 MiB")]:
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith(f"feedsvc: WARNING: {name}: its face ")]
        assert len(lines) == 1, (name, r.stderr)
        assert why in lines[0] and lines[0].endswith("published without a face"), lines[0]
    titles = lxml.html.fromstring((tmp_path / "public" / "index.html").read_bytes()).xpath("//main//article//h3")
    assert len(titles) == 4                                  # every source's post is published
    assert imgs(tmp_path) == [] and not (tmp_path / "public" / "faces").exists()
    assert not list((tmp_path / "state" / "faces").glob("*.svg"))

    # the same failures again: tried again (a forced refresh), not reported again
    hits = len(face_host.hits)
    r = ok(cli("refresh", cwd=tmp_path))
    assert "face" not in r.stderr, r.stderr
    assert len(face_host.hits) == hits + 4

    # the server mends the picture: the next refresh shows it
    face_host.add("/missing.png", png(), content_type="image/png")
    ok(cli("refresh", cwd=tmp_path))
    assert (tmp_path / "public" / "faces" / "gone.png").read_bytes() == png()
    assert set(imgs(tmp_path)) == {"faces/gone.png"}


def test_a_changed_face_is_picked_up_once_a_day_has_passed(tmp_path, feed_server, face_host, caplog):
    feed_server.add("/alice.xml", feed("alice"))
    face_host.add("/me.png", png(), content_type="image/png")
    write_config(tmp_path, [{"name": "alice", "url": feed_server.url("/alice.xml"), "face": face_host.url("/me.png")}])
    clock = Clock(T0)
    engine = Engine(load_config(tmp_path / "config.yaml"), clock=clock)
    out = tmp_path / "public" / "faces" / "alice.png"
    try:
        (outcome,) = engine.run_round(engine.config.sources, force=False)
        assert outcome.face_changed and outcome.changed      # the daemon publishes after such a round
        engine.publish()
        assert out.read_bytes() == png()

        face_host.add("/me.png", png(rgb=(10, 90, 200)), content_type="image/png")   # changed upstream
        clock.advance(hours=23)
        (outcome,) = engine.run_round(engine.config.sources, force=False)
        assert not outcome.face_changed and len(face_host.hits) == 1     # not asked within the day
        engine.publish()
        assert out.read_bytes() == png()

        clock.advance(hours=2)
        (outcome,) = engine.run_round(engine.config.sources, force=False)
        assert outcome.face_changed and len(face_host.hits) == 2
        assert face_host.hits[1].headers.get("If-None-Match")           # a conditional GET
        engine.publish()
        assert out.read_bytes() == png(rgb=(10, 90, 200))

        # unchanged a day later: the server says 304, the copy stays, nothing to publish
        clock.advance(days=1, minutes=1)
        (outcome,) = engine.run_round(engine.config.sources, force=False)
        assert not outcome.face_changed and face_host.hits[2].status == 304
        assert out.read_bytes() == png(rgb=(10, 90, 200))

        # the host fails a day later: the copy held is kept (and still published), one warning
        del face_host.resources["/me.png"]
        clock.advance(days=1, minutes=1)
        (outcome,) = engine.run_round(engine.config.sources, force=False)
        assert outcome.status in ("ok", "not-modified") and not outcome.face_changed
        engine.publish(force=True)
        assert out.read_bytes() == png(rgb=(10, 90, 200))
        clock.advance(minutes=30)                            # a failed download waits an hour
        engine.run_round(engine.config.sources, force=False)
        assert len(face_host.hits) == 4
        clock.advance(minutes=31)
        engine.run_round(engine.config.sources, force=False)
        assert len(face_host.hits) == 5
        warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "its face" in r.getMessage()]
        assert len(warned) == 1 and "HTTP 404" in warned[0] and "the copy downloaded before is kept" in warned[0]
    finally:
        engine.close()


def test_check_accepts_an_http_face_url_only(tmp_path):
    for face in ("https://alice.example/me.png", "http://127.0.0.1:9/me"):
        write_config(tmp_path, [{"name": "alice", "url": "https://alice.example/feed", "face": face}])
        ok(cli("check", cwd=tmp_path))
    for face, message in [("https://alice.example/me.svg", "SVG is not accepted"),
                          ("http:///me.png", "is not a URL with a host"),
                          ("data:image/png;base64,iVBORw0KGgo=", "a face is a local image file or an http(s) URL"),
                          ("file:///etc/passwd", "a face is a local image file or an http(s) URL")]:
        write_config(tmp_path, [{"name": "alice", "url": "https://alice.example/feed", "face": face}])
        r = cli("check", cwd=tmp_path)
        assert r.returncode == 2, (face, r.stdout)
        assert "sources[0].face" in r.stderr and message in r.stderr, (face, r.stderr)
