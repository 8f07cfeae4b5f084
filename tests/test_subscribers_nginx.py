"""docs/nginx.conf serves the subscriber outputs (feed.json, sources.opml, feed.xsl, index.html)
with the media types browsers and readers need (a real nginx, see test_nginx.py)."""

from __future__ import annotations

from test_nginx import Nginx, nginx  # noqa: F401  (the fixture: a real nginx on docs/nginx.conf)


def test_subscriber_outputs_have_their_media_types(nginx: Nginx) -> None:  # noqa: F811
    expected = {
        "/feed.json": "application/feed+json; charset=utf-8",
        "/sources.opml": "text/x-opml; charset=utf-8",
        "/feed.xsl": "text/xsl; charset=utf-8",          # browsers apply an XSLT only as XML
        "/index.html": "text/html; charset=utf-8",
        "/": "text/html; charset=utf-8",
    }
    for path, ctype in expected.items():
        r = nginx.get(path)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"] == ctype, path
        assert r.content == (nginx.root / (path.lstrip("/") or "index.html")).read_bytes(), path
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_browsers_get_feeds_as_xml_and_topic_feeds_have_feed_types(nginx: Nginx) -> None:  # noqa: F811
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    reader = "application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.8"
    topic = nginx.root / "releases"
    topic.mkdir()
    for name in ("atom.xml", "rss.xml", "feed.json"):
        (topic / name).write_bytes((nginx.root / name).read_bytes())
    for path, native in (("/atom.xml", "application/atom+xml"), ("/rss.xml", "application/rss+xml"),
                         ("/releases/atom.xml", "application/atom+xml"),
                         ("/releases/rss.xml", "application/rss+xml")):
        r = nginx.get(path, Accept=reader)
        assert r.status_code == 200 and r.headers["Content-Type"] == f"{native}; charset=utf-8", path
        assert "Accept" in r.headers["Vary"]
        b = nginx.get(path, Accept=browser)
        assert b.status_code == 200 and b.headers["Content-Type"] == "application/xml; charset=utf-8", path
        assert b.content == r.content and b.headers["X-Content-Type-Options"] == "nosniff"
        assert nginx.get(path, Accept=reader, **{"If-None-Match": r.headers["ETag"]}).status_code == 304
    r = nginx.get("/releases/feed.json")
    assert r.headers["Content-Type"] == "application/feed+json; charset=utf-8"
