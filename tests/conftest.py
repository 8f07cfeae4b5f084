"""Shared fixtures: a real HTTP server on 127.0.0.1 (port 0), config writing, CLI runs.

Nothing here mocks requests or feedparser: the server is real, the files are real, the store is
real SQLite in a temporary directory.
"""

from __future__ import annotations

import csv
import email.utils
import gzip
import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent



def _shared() -> Path:
    """../shared beside the checkout (FEEDSVC_SHARED overrides; /work/shared for a clone elsewhere)."""
    for cand in (os.environ.get("FEEDSVC_SHARED"), REPO.parent / "shared", "/work/shared"):
        if cand and (Path(cand) / "corpus").is_dir():
            return Path(cand)
    return REPO.parent / "shared"


CORPUS = _shared() / "corpus"


def corpus_files() -> list[str]:
    """The paths (relative to CORPUS) listed in the corpus MANIFEST.tsv; [] without a corpus."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        return []
    with manifest.open(encoding="utf-8", newline="") as f:
        return [row["path"] for row in csv.DictReader(f, delimiter="\t")]


# Every subprocess a test starts (python -m feedsvc) imports this checkout, not whatever
# feedsvc happens to be installed.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    """Skip outside CI when a real component is missing; in CI, fail instead."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


@dataclass
class Resource:
    body: bytes
    content_type: str = "application/xml"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True              # send ETag/Last-Modified and honour conditional requests
    gzip: bool = False             # gzip the body when the client accepts it
    mtime: float = field(default_factory=time.time)


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    status: int
    t: float = field(default_factory=time.monotonic)   # when it arrived
    conn: int = 0                # the client's port: one per TCP connection


class FeedServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 serving in-memory resources."""

    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.handlers: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path in server.handlers:
                    with server._lock:
                        server.hits.append(Hit(self.path, dict(self.headers), 0, conn=self.client_address[1]))
                    server.handlers[path](self)
                    return
                res = server.resources.get(path)
                status = 404 if res is None else res.status
                headers: dict[str, str] = {}
                body = b"not found" if res is None else res.body
                if res is not None:
                    headers.update(res.headers)
                    if res.etag and status == 200:
                        etag = '"' + hashlib.sha1(res.body).hexdigest()[:16] + '"'
                        lm = email.utils.formatdate(res.mtime, usegmt=True)
                        headers["ETag"] = etag
                        headers["Last-Modified"] = lm
                        if self.headers.get("If-None-Match") == etag:
                            status, body = 304, b""
                    if res.gzip and status == 200 and "gzip" in self.headers.get("Accept-Encoding", ""):
                        body = gzip.compress(body)
                        headers["Content-Encoding"] = "gzip"
                    headers.setdefault("Content-Type", res.content_type)
                with server._lock:
                    server.hits.append(Hit(self.path, dict(self.headers), status, conn=self.client_address[1]))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:
                pass  # clients that hang up early (size caps, timeouts) are expected here

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes | str, **kw: object) -> str:
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.resources[path] = Resource(body=body, **kw)  # type: ignore[arg-type]
        return self.url(path)

    def hits_for(self, path: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path.split("?", 1)[0] == path]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def feed_server():
    srv = FeedServer()
    try:
        yield srv
    finally:
        srv.stop()


def write_config(directory: Path, sources: list[dict], **overrides: object) -> Path:
    """Write a config.yaml into ``directory`` and return its path."""
    cfg: dict[str, object] = {
        "site": {"title": "Test Planet", "url": "http://127.0.0.1:8080/"},
        "output": {"dir": "public", "max_items": 50},
        "state_dir": "state",
        "schedule": {"interval": "15m", "min_interval": "1s"},   # the daemon tests poll every second
        # every loopback source is one host group: lift the politeness limits (tests of them set
        # their own), as the benchmark harness does
        "fetch": {"per_host": {"concurrency": 8, "spacing": "0s"}},
        "sources": sources,
    }
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}  # type: ignore[dict-item]
        else:
            cfg[k] = v
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m feedsvc ARGS`` as a real subprocess."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("FEEDSVC_CONFIG", None) if env is None or "FEEDSVC_CONFIG" not in env else None
    return subprocess.run([sys.executable, "-m", "feedsvc", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=full_env)


def rss(items: list[dict], title: str = "Feed", link: str = "https://example.org/") -> str:
    """A small RSS 2.0 document from dicts with title/link/guid/date/description/author/content."""
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
             f'xmlns:dc="http://purl.org/dc/elements/1.1/" '
             f'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
             f"<title>{title}</title><link>{link}</link><description>d</description>"]
    for it in items:
        parts.append("<item>")
        for tag in ("title", "link", "description", "pubDate"):
            key = {"pubDate": "date"}.get(tag, tag)
            if it.get(key) is not None:
                parts.append(f"<{tag}>{it[key]}</{tag}>")
        if it.get("guid") is not None:
            perma = it.get("permalink", False)
            parts.append(f'<guid isPermaLink="{"true" if perma else "false"}">{it["guid"]}</guid>')
        if it.get("author"):
            parts.append(f"<dc:creator>{it['author']}</dc:creator>")
        if it.get("content"):
            parts.append(f"<content:encoded><![CDATA[{it['content']}]]></content:encoded>")
        for c in it.get("categories", []):
            parts.append(f"<category>{c}</category>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts)


# ---- a real PostgreSQL, for the shared store ---------------------------------------------------

@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway cluster (tests/pgcluster.py), started once for the session and removed after."""
    from pgcluster import Cluster

    cluster = Cluster()
    if not cluster.available:
        cluster.remove()
        need(False, "PostgreSQL server binaries (Debian package postgresql) are not installed")
    try:
        cluster.start()
    except Exception as exc:  # noqa: BLE001 - report why, then skip or fail
        log = (cluster.dir / "log").read_text(errors="replace")[-2000:] if (cluster.dir / "log").exists() else ""
        cluster.remove()
        need(False, f"cannot start PostgreSQL: {exc} {getattr(exc, 'stderr', '')} {log}")
    yield cluster
    cluster.remove()


@pytest.fixture
def pg_url(pg_cluster):
    """A fresh, empty database for one test: its libpq URL."""
    return pg_cluster.new_database()


# ---- daemons and a WebSub hub (tests/helpers_daemon.py) -------------------------------------------

@pytest.fixture
def daemons():
    from helpers_daemon import Daemon

    started: list[Daemon] = []

    def start(config: Path, **kw) -> Daemon:
        d = Daemon(config, **kw)
        started.append(d)
        return d

    yield start
    for d in started:
        d.kill()


@pytest.fixture
def hub():
    from helpers_daemon import Hub

    h = Hub()
    try:
        yield h
    finally:
        h.stop()


