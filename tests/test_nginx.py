"""docs/nginx.conf against a real nginx on 127.0.0.1, serving a real published output.

The test publishes with ``feedsvc refresh`` (a subprocess), wraps docs/nginx.conf in a minimal
nginx.conf whose pid, logs and temp paths live in tmp_path, substitutes the lines the example marks
"CHANGE" (listen, root), starts nginx in the foreground as a single process, and checks what a feed
reader sees: media types with charset, 304 on conditional GET (ETag and If-Modified-Since), gzip
(on the fly and gzip_static), Cache-Control, and that dotfiles and directories are not served.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from conftest import REPO, need, run_cli, write_config

SITE_CONF = REPO / "docs" / "nginx.conf"
# The lines of docs/nginx.conf marked "CHANGE" that the test replaces, exactly as written there.
LISTEN = "    listen 80;"
LISTEN6 = "    listen [::]:80;"
ROOT = "    root /var/lib/feedsvc/public;"

MINIMAL_TYPES = """types {
    text/html html htm;
    text/xml xml;
    application/json json;
    text/plain txt;
}"""


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mime_types_include(binary: str) -> str:
    """`include .../mime.types;` from nginx's own conf dir (what the http{} block of a packaged
    nginx.conf includes), or a minimal types block when there is none."""
    out = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=30)
    m = re.search(r"--conf-path=(\S+)", out.stdout + out.stderr)
    if m:
        mime = Path(m.group(1)).parent / "mime.types"
        if mime.is_file():
            return f"include {mime};"
    return MINIMAL_TYPES


def site_conf(port: int, root: Path) -> str:
    text = SITE_CONF.read_text(encoding="utf-8")
    for old, new in ((LISTEN, f"    listen 127.0.0.1:{port};"),
                     (LISTEN6, "    # (IPv6 listen removed by the test)"),
                     (ROOT, f"    root {root};")):
        lines = [ln for ln in text.splitlines() if ln.split("#", 1)[0].rstrip() == old]
        assert len(lines) == 1, f"docs/nginx.conf must contain the line {old.strip()!r} exactly once"
        text = text.replace(lines[0], new)
    return text


@dataclass
class Nginx:
    port: int
    root: Path
    error_log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, **headers: str) -> requests.Response:
        return requests.get(self.url(path), headers=headers, timeout=10)


def publish(tmp_path: Path) -> Path:
    """A real published output: the bundled articles, refreshed by `feedsvc refresh`."""
    articles = tmp_path / "articles"
    articles.mkdir()
    for src in sorted((REPO / "articles").iterdir()):
        if src.suffix in (".txt", ".md"):
            shutil.copy(src, articles / src.name)
    cfg = write_config(tmp_path, [{"name": "articles", "path": "articles"}], output={"archive": "monthly"})
    res = run_cli("--config", str(cfg), "refresh", cwd=REPO)
    assert res.returncode == 0, res.stdout + res.stderr
    public = tmp_path / "public"
    assert (public / "atom.xml").is_file() and (public / "rss.xml").is_file()
    return public


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    binary = nginx_binary()
    need(binary is not None, "nginx not installed")
    assert binary is not None
    public = publish(tmp_path)
    run = tmp_path / "nginx"
    run.mkdir()
    port = free_port()
    (run / "site.conf").write_text(site_conf(port, public), encoding="utf-8")
    temp = "\n".join(f"    {kind}_temp_path {run / (kind + '_temp')};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    error_log = run / "error.log"
    (run / "nginx.conf").write_text(f"""# written by tests/test_nginx.py
daemon off;
master_process off;      # one foreground process, running as the test's user
pid {run / 'nginx.pid'};
error_log {error_log} info;
events {{ worker_connections 64; }}
http {{
    {mime_types_include(binary)}
    default_type application/octet-stream;
    sendfile on;
    access_log {run / 'access.log'};
{temp}
    include {run / 'site.conf'};
}}
""", encoding="utf-8")
    base = [binary, "-p", str(run), "-e", str(error_log), "-c", str(run / "nginx.conf")]
    check = subprocess.run([*base, "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, f"nginx -t failed:\n{check.stderr}"
    with open(run / "stderr.log", "wb") as stderr:
        proc = subprocess.Popen(base, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                pytest.fail(f"nginx exited with {proc.returncode}:\n"
                            f"{(run / 'stderr.log').read_text()}\n{error_log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"nginx did not listen on 127.0.0.1:{port} within 15 s:\n"
                                f"{error_log.read_text()}")
                time.sleep(0.05)
        yield Nginx(port=port, root=public, error_log=error_log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    log = error_log.read_text(encoding="utf-8", errors="replace")
    assert "[emerg]" not in log and "[alert]" not in log, log


def article_page(public: Path) -> str:
    pages = sorted(public.glob("articles/**/*.html"))
    assert pages, "feedsvc refresh wrote no article pages"
    return "/" + pages[0].relative_to(public).as_posix()


def test_media_types_with_charset(nginx: Nginx) -> None:
    expected = {
        "/atom.xml": "application/atom+xml; charset=utf-8",
        "/rss.xml": "application/rss+xml; charset=utf-8",
        article_page(nginx.root): "text/html; charset=utf-8",
    }
    if not (nginx.root / "feed.json").exists():  # until feedsvc publishes JSON Feed itself
        (nginx.root / "feed.json").write_text('{"version": "https://jsonfeed.org/version/1.1", '
                                               '"title": "t", "items": []}', encoding="utf-8")
    expected["/feed.json"] = "application/feed+json; charset=utf-8"
    for path, ctype in expected.items():
        r = nginx.get(path)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"] == ctype, path
        assert r.content == (nginx.root / path.lstrip("/")).read_bytes(), path
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/atom.xml", "/rss.xml"):
        r = nginx.get(path)
        assert r.headers["Cache-Control"] == "public, max-age=300", path
        assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert nginx.get(article_page(nginx.root)).headers["Cache-Control"] == "public, max-age=3600"


def test_archive_documents_are_atom_and_a_browser_gets_them_as_xml(nginx: Nginx) -> None:
    docs = sorted(nginx.root.glob("archive/*.xml"))
    assert docs, "feedsvc refresh wrote no archive documents"
    path = "/" + docs[0].relative_to(nginx.root).as_posix()
    r = nginx.get(path)
    assert r.status_code == 200 and r.content == docs[0].read_bytes()
    assert r.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert "Accept" in r.headers["Vary"].split(", ") and r.headers["Access-Control-Allow-Origin"] == "*"
    b = requests.get(nginx.url(path), headers={"Accept": "text/html,application/xml;q=0.9"}, timeout=10)
    assert b.status_code == 200 and b.headers["Content-Type"] == "application/xml; charset=utf-8"


def test_head(nginx: Nginx) -> None:
    r = requests.head(nginx.url("/atom.xml"), headers={"Accept-Encoding": "identity"}, timeout=10)
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["Content-Length"]) == (nginx.root / "atom.xml").stat().st_size
    assert r.headers["Content-Type"] == "application/atom+xml; charset=utf-8"


@pytest.mark.parametrize("path", ["/atom.xml", "/rss.xml"])
def test_conditional_get_gives_304(nginx: Nginx, path: str) -> None:
    first = nginx.get(path, **{"Accept-Encoding": "identity"})
    assert first.status_code == 200
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]

    by_etag = nginx.get(path, **{"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert by_etag.status_code == 304 and by_etag.content == b""
    assert by_etag.headers["ETag"] == etag
    assert by_etag.headers["Cache-Control"] == "public, max-age=300"

    by_date = nginx.get(path, **{"If-Modified-Since": last_modified, "Accept-Encoding": "identity"})
    assert by_date.status_code == 304 and by_date.content == b""

    # a gzip-accepting reader gets a weak ETag, and revalidating with it also gives 304
    zipped = nginx.get(path, **{"Accept-Encoding": "gzip"})
    assert zipped.status_code == 200
    again = nginx.get(path, **{"If-None-Match": zipped.headers["ETag"], "Accept-Encoding": "gzip"})
    assert again.status_code == 304

    stale = nginx.get(path, **{"If-None-Match": '"0-0"', "Accept-Encoding": "identity"})
    assert stale.status_code == 200 and stale.content == (nginx.root / path.lstrip("/")).read_bytes()


def test_conditional_get_after_republish_gives_200(nginx: Nginx) -> None:
    first = nginx.get("/atom.xml", **{"Accept-Encoding": "identity"})
    atom = nginx.root / "atom.xml"
    body = atom.read_bytes().replace(b"</feed>", b"<!-- changed --></feed>")
    tmp = atom.with_name(".atom.xml.test.tmp")  # what feedsvc does: temp file, then rename
    tmp.write_bytes(body)
    os.utime(tmp, (time.time() + 5, time.time() + 5))
    os.replace(tmp, atom)
    r = nginx.get("/atom.xml", **{"If-None-Match": first.headers["ETag"], "Accept-Encoding": "identity"})
    assert r.status_code == 200 and r.content == body


def test_gzip_on_the_fly(nginx: Nginx) -> None:
    for path in ("/atom.xml", "/rss.xml", article_page(nginx.root)):
        raw = (nginx.root / path.lstrip("/")).read_bytes()
        assert len(raw) > 256, path  # above gzip_min_length
        r = nginx.get(path, **{"Accept-Encoding": "gzip"})
        assert r.status_code == 200
        assert r.headers.get("Content-Encoding") == "gzip", path
        assert "Accept-Encoding" in r.headers.get("Vary", ""), path
        assert r.content == raw, path  # requests decompressed it
        plain = nginx.get(path, **{"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers and plain.content == raw


def test_gzip_static_serves_precompressed_sibling(nginx: Nginx) -> None:
    raw = (nginx.root / "rss.xml").read_bytes()
    packed = gzip.compress(raw, mtime=0)
    (nginx.root / "rss.xml.gz").write_bytes(packed)
    r = requests.get(nginx.url("/rss.xml"), headers={"Accept-Encoding": "gzip"}, timeout=10, stream=True)
    try:
        assert r.status_code == 200
        assert r.headers["Content-Encoding"] == "gzip"
        assert r.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
        # the file itself, not a fresh compression: exact length, exact bytes
        assert int(r.headers["Content-Length"]) == len(packed)
        assert r.raw.read(decode_content=False) == packed
    finally:
        r.close()


def test_dotfiles_and_directories_are_not_served(nginx: Nginx) -> None:
    (nginx.root / ".secret").write_text("s3cret", encoding="utf-8")
    (nginx.root / ".atom.xml.abc123.tmp").write_text("<feed>half written", encoding="utf-8")
    page = article_page(nginx.root)
    hidden = Path(page).parent / ".page.html.x1.tmp"
    (nginx.root / hidden.as_posix().lstrip("/")).write_text("<p>tmp</p>", encoding="utf-8")
    for path in ("/.secret", "/.atom.xml.abc123.tmp", hidden.as_posix(), "/%2esecret"):
        r = nginx.get(path)
        assert r.status_code in (403, 404), path
        assert b"s3cret" not in r.content and b"half written" not in r.content
    r = nginx.get("/articles/")
    assert r.status_code in (403, 404) and b"Index of" not in r.content
    r = nginx.get("/")
    if (nginx.root / "index.html").exists():  # a front page, once feedsvc writes one
        assert r.status_code == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
    else:
        assert r.status_code in (403, 404) and b"Index of" not in r.content
    # nothing outside the root
    (nginx.root.parent / "outside.txt").write_text("outside", encoding="utf-8")
    for path in ("/../outside.txt", "/%2e%2e/outside.txt", "/articles/../../outside.txt"):
        r = nginx.get(path)
        assert r.status_code in (400, 403, 404), path
        assert b"outside" not in r.content
