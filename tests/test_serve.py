"""`feedsvc serve`: output.dir only, feed media types, ETag/Last-Modified/304, HEAD, gzip."""

from __future__ import annotations

import gzip
import socket
import subprocess
import sys
import time

import pytest
import requests

from feedsvc.app.serve import StaticServer

from conftest import write_config

ATOM = b'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">' + b"<title>t</title>" * 50 + b"</feed>"  # noqa: E501
RSS = b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>' + b"<title>t</title>" * 50 + b"</channel></rss>"


@pytest.fixture
def site(tmp_path):
    out = tmp_path / "public"
    (out / "articles" / "a").mkdir(parents=True)
    (out / "atom.xml").write_bytes(ATOM)
    (out / "rss.xml").write_bytes(RSS)
    (out / "index.html").write_text("<!DOCTYPE html><title>home</title>" + "x" * 500)
    (out / "articles" / "a" / "p.html").write_text("<!DOCTYPE html><title>p</title>")
    (out / ".atom.xml.123.tmp").write_text("temporary")
    (tmp_path / "config.yaml").write_text("secret: yes\n")
    server = StaticServer(out, "127.0.0.1", 0)
    server.start()
    try:
        yield server, tmp_path
    finally:
        server.stop()


def raw_get(port: int, target: str) -> bytes:
    """Send a request line as given (no client-side normalisation of '..')."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def test_media_types_with_charset(site):
    server, _ = site
    r = requests.get(server.url + "atom.xml")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert requests.get(server.url + "rss.xml").headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    assert requests.get(server.url + "articles/a/p.html").headers["Content-Type"] == "text/html; charset=utf-8"
    # the directory serves its index.html, never a listing
    r = requests.get(server.url)
    assert r.status_code == 200 and "home" in r.text
    assert requests.get(server.url + "articles/").status_code == 404


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
READER_ACCEPT = "application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.8"


def test_a_browser_gets_the_feeds_as_xml_so_it_applies_their_stylesheet(site):
    server, _ = site
    for name, native in (("atom.xml", "application/atom+xml"), ("rss.xml", "application/rss+xml")):
        browser = requests.get(server.url + name, headers={"Accept": BROWSER_ACCEPT})
        assert browser.headers["Content-Type"] == "application/xml; charset=utf-8"
        reader = requests.get(server.url + name, headers={"Accept": READER_ACCEPT})
        assert reader.headers["Content-Type"] == f"{native}; charset=utf-8"
        assert browser.content == reader.content
        # caches keep the two apart, and a conditional GET revalidates each
        assert "Accept" in [v.strip() for v in reader.headers["Vary"].split(",")]
        assert browser.headers["ETag"] != reader.headers["ETag"]
        again = requests.get(server.url + name, headers={"Accept": READER_ACCEPT,
                                                         "If-None-Match": reader.headers["ETag"]})
        assert again.status_code == 304
    page = requests.get(server.url + "index.html", headers={"Accept": BROWSER_ACCEPT})
    assert page.headers["Content-Type"] == "text/html; charset=utf-8" and page.headers["Vary"] == "Accept-Encoding"


def test_conditional_get_gives_304(site):
    server, _ = site
    r = requests.get(server.url + "atom.xml", headers={"Accept-Encoding": "identity"})
    etag, lm = r.headers["ETag"], r.headers["Last-Modified"]
    r2 = requests.get(server.url + "atom.xml", headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert r2.status_code == 304 and r2.content == b""
    r3 = requests.get(server.url + "atom.xml", headers={"If-Modified-Since": lm, "Accept-Encoding": "identity"})
    assert r3.status_code == 304
    # a changed file is a new representation
    path = site[1] / "public" / "atom.xml"
    time.sleep(0.01)
    path.write_bytes(ATOM.replace(b"<title>t</title>", b"<title>u</title>", 1))
    r4 = requests.get(server.url + "atom.xml", headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert r4.status_code == 200 and b"<title>u</title>" in r4.content


def test_head_and_gzip(site):
    server, _ = site
    h = requests.head(server.url + "atom.xml", headers={"Accept-Encoding": "identity"})
    assert h.status_code == 200 and h.content == b""
    assert int(h.headers["Content-Length"]) == len(ATOM)
    r = requests.get(server.url + "atom.xml", headers={"Accept-Encoding": "gzip"}, stream=True)
    assert r.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in [v.strip() for v in r.headers["Vary"].split(",")]
    raw = r.raw.read(decode_content=False)
    assert gzip.decompress(raw) == ATOM and len(raw) < len(ATOM)
    # the gzip variant has its own ETag, and it revalidates too
    r2 = requests.get(server.url + "atom.xml", headers={"Accept-Encoding": "gzip",
                                                        "If-None-Match": r.headers["ETag"]})
    assert r2.status_code == 304
    plain = requests.get(server.url + "atom.xml", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in plain.headers and plain.content == ATOM


@pytest.mark.parametrize("target", ["/../config.yaml", "/..%2fconfig.yaml", "/%2e%2e/config.yaml",
                                    "/articles/../../config.yaml", "/.atom.xml.123.tmp",
                                    "//etc/passwd", "/articles/%00", "/nonexistent.xml"])
def test_nothing_outside_output_dir(site, target):
    server, _ = site
    resp = raw_get(server.port, target)
    status = resp.split(b"\r\n", 1)[0]
    assert b" 404 " in status, (target, status)
    assert b"secret" not in resp and b"temporary" not in resp and b"root:" not in resp


def test_symlink_out_of_the_output_dir_is_not_served(site):
    server, tmp = site
    (tmp / "public" / "leak.xml").symlink_to(tmp / "config.yaml")
    assert requests.get(server.url + "leak.xml").status_code == 404


def test_a_client_that_hangs_up_gets_a_log_line_not_a_traceback(site, capsys, caplog):
    import logging
    import struct

    server, _ = site
    caplog.set_level(logging.DEBUG, logger="feedsvc.app.serve")
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.sendall(b"GET /atom.xml HT")                     # half a request line, then a reset
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    deadline = time.monotonic() + 10
    while "connection closed by the client" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "connection closed by the client" in caplog.text
    assert "Traceback" not in capsys.readouterr().err
    assert requests.get(server.url + "atom.xml", timeout=5).status_code == 200   # still serving


def test_feedsvc_serve_command(tmp_path):
    cfg = write_config(tmp_path, [{"name": "a", "path": "articles"}])
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "atom.xml").write_bytes(ATOM)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "feedsvc", "--config", str(cfg), "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/atom.xml", timeout=2)
                break
            except (requests.ConnectionError, requests.Timeout):
                alive = time.monotonic() < deadline and proc.poll() is None
                assert alive, proc.stderr.read() if proc.poll() is not None else "timeout"
                time.sleep(0.1)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/atom+xml")
        assert b" 404 " in raw_get(port, "/../config.yaml").split(b"\r\n", 1)[0]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        proc.stderr.close()
