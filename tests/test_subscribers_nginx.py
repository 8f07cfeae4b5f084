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
