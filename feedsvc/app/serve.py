"""A small static file server for ``output.dir`` (``feedsvc serve`` and ``feedsvc run --serve``).

Serves files under one directory only: no path traversal, no directory listings, no dotfiles
(feedsvc's own temporary files start with a dot). Feed media types with ``charset=utf-8``
(atom/rss told apart by the root element for any ``.xml``), ``ETag`` and ``Last-Modified`` with
``304`` on conditional GET, ``HEAD``, and gzip when the client accepts it. Meant for a laptop or a
small box; production setups put nginx in front (docs/nginx.conf).
"""

from __future__ import annotations

import gzip
import logging
import os
import socket
import sys
import threading
from collections import OrderedDict
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

TYPES = {
    ".html": "text/html", ".htm": "text/html", ".json": "application/json",
    ".opml": "text/x-opml", ".xsl": "text/xsl", ".xslt": "text/xsl", ".css": "text/css",
    ".txt": "text/plain", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon",
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp", ".avif": "image/avif",
}
TEXTUAL = ("text/", "application/atom+xml", "application/rss+xml", "application/xml",
           "application/json", "application/feed+json", "image/svg+xml")
GZIP_MIN = 256
CACHE_SECONDS = 60


FEED_TYPES = ("application/atom+xml", "application/rss+xml")


def for_browser(ctype: str, accept: str | None) -> str:
    """A browser that opens a feed (it asks for text/html) gets it as application/xml, the type
    browsers render and style with the feed's XSLT stylesheet; served as application/atom+xml
    or application/rss+xml they show raw text or a download. Feed readers do not ask for
    text/html and keep the feed types."""
    if ctype.startswith(FEED_TYPES) and accept and "text/html" in accept.lower():
        return "application/xml; charset=utf-8"
    return ctype


def media_type(path: Path, head: bytes) -> str:
    """The Content-Type of a file, with the feed types told apart by their root element."""
    suffix = path.suffix.lower()
    if suffix == ".xml":
        sniff = head[:1024].lower()
        if b"<feed" in sniff:
            kind = "application/atom+xml"
        elif b"<rss" in sniff or b"<rdf:rdf" in sniff:
            kind = "application/rss+xml"
        else:
            kind = "application/xml"
    elif suffix == ".json" and path.name == "feed.json" or (suffix == ".json" and b"jsonfeed.org" in head[:512]):
        kind = "application/feed+json"
    else:
        kind = TYPES.get(suffix, "application/octet-stream")
    if kind.startswith(TEXTUAL):
        kind += "; charset=utf-8"
    return kind


class _GzipCache:
    """Compressed bodies by (path, mtime_ns, size); a few entries, evicted oldest first."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.data: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, int, int], body: bytes) -> bytes:
        with self.lock:
            hit = self.data.get(key)
            if hit is not None:
                self.data.move_to_end(key)
                return hit
        packed = gzip.compress(body, compresslevel=6, mtime=0)
        with self.lock:
            self.data[key] = packed
            while len(self.data) > self.size:
                self.data.popitem(last=False)
        return packed


def _accepts_gzip(header: str | None) -> bool:
    for part in (header or "").split(","):
        token, _, params = part.strip().partition(";")
        if token.strip().lower() in ("gzip", "*"):
            q = params.strip()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False


def make_handler(root: Path) -> type[BaseHTTPRequestHandler]:
    real_root = os.path.realpath(root)
    cache = _GzipCache()

    class Handler(BaseHTTPRequestHandler):
        server_version = "feedsvc"
        sys_version = ""
        protocol_version = "HTTP/1.1"

        def version_string(self) -> str:
            return "feedsvc"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, fmt: str, *args: object) -> None:
            log.debug("%s %s", self.address_string(), fmt % args)

        def do_GET(self) -> None:
            self._serve(head=False)

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def _error(self, status: HTTPStatus, head: bool) -> None:
            body = f"{status.value} {status.phrase}\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _resolve(self) -> str | None:
            raw = unquote(urlsplit(self.path).path)
            if "\x00" in raw or "\\" in raw:
                return None
            parts = [p for p in raw.split("/") if p not in ("", ".")]
            if any(p == ".." or p.startswith(".") for p in parts):
                return None
            full = os.path.join(real_root, *parts) if parts else real_root
            if os.path.isdir(full):
                full = os.path.join(full, "index.html")
            real = os.path.realpath(full)
            if real != real_root and not real.startswith(real_root + os.sep):
                return None
            return real if os.path.isfile(real) else None

        def _serve(self, head: bool) -> None:
            path = self._resolve()
            if path is None:
                self._error(HTTPStatus.NOT_FOUND, head)
                return
            try:
                with open(path, "rb") as fh:
                    st = os.fstat(fh.fileno())
                    body = fh.read()
            except OSError:
                self._error(HTTPStatus.NOT_FOUND, head)
                return
            native = media_type(Path(path), body[:1024])
            ctype = for_browser(native, self.headers.get("Accept"))
            vary = "Accept, Accept-Encoding" if native.startswith(FEED_TYPES) else "Accept-Encoding"
            use_gzip = (_accepts_gzip(self.headers.get("Accept-Encoding")) and len(body) >= GZIP_MIN
                        and ctype.startswith(TEXTUAL))
            variant = ("-gz" if use_gzip else "") + ("-x" if ctype != native else "")
            etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}{variant}"'
            last_modified = formatdate(st.st_mtime, usegmt=True)
            if self._not_modified(etag, st.st_mtime):
                self.send_response(HTTPStatus.NOT_MODIFIED)
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", last_modified)
                self.send_header("Cache-Control", f"max-age={CACHE_SECONDS}")
                self.send_header("Vary", vary)
                self.end_headers()
                return
            if use_gzip:
                body = cache.get((path, st.st_mtime_ns, st.st_size), body)
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
            self.send_header("Cache-Control", f"max-age={CACHE_SECONDS}")
            self.send_header("Vary", vary)
            self.send_header("X-Content-Type-Options", "nosniff")
            if use_gzip:
                self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _not_modified(self, etag: str, mtime: float) -> bool:
            inm = self.headers.get("If-None-Match")
            if inm is not None:
                tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
                return "*" in tags or etag in tags
            ims = self.headers.get("If-Modified-Since")
            if ims:
                try:
                    since = parsedate_to_datetime(ims).timestamp()
                except (TypeError, ValueError, IndexError):
                    return False
                return int(mtime) <= since
            return False

    return Handler


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client hanging up mid-request is its own business (a debug line); anything else is
        one line in the log. Never socketserver's traceback on stderr."""
        exc = sys.exc_info()[1]
        host = client_address[0] if isinstance(client_address, tuple) else client_address
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("%s: connection closed by the client (%s)", host, exc)
        else:
            log.error("serving a request from %s failed: %s: %s", host, type(exc).__name__, exc)
            log.debug("traceback", exc_info=True)


class StaticServer:
    """A threaded server for ``root``; ``start()`` in the background, ``stop()`` to end it."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 8080) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.httpd = _Server((host, port), make_handler(root))
        bound, self.port = self.httpd.server_address[:2]
        # getsockname() gives an AF_INET/AF_INET6 host as text; the stub also allows bytes
        self.host = bound if isinstance(bound, str) else bytes(bound).decode("ascii")
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="serve", daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def self_link_warning(site_url: str, served_url: str) -> str | None:
    """When site.url names another port (or host) than the one served here, the feeds' self links
    and the article links will not resolve for someone reading them from this server."""
    from urllib.parse import urlsplit

    site, here = urlsplit(site_url), urlsplit(served_url)
    loopback = {"127.0.0.1", "localhost", "::1"}

    def port(u: object) -> int:
        p = getattr(u, "port", None)
        return p if p else (443 if getattr(u, "scheme", "") == "https" else 80)

    same_host = site.hostname == here.hostname or {site.hostname, here.hostname} <= loopback
    if site.hostname in loopback and (not same_host or port(site) != port(here)):
        return (f"site.url is {site_url} but this serves {served_url}: the feeds' self links and article "
                "links will not resolve here (set site.url to where the files are served)")
    return None
