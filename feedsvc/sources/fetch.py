"""Fetching: the only code that talks HTTP (and reads ``file:`` feed URLs).

``Fetcher`` is the seam: one method, ``fetch(source, url, etag, last_modified) → FetchResult``,
so tests and the daemon can swap it. ``HttpFetcher`` is the real one:

- one ``requests.Session`` per worker thread (connection reuse), a real User-Agent;
- conditional GET (If-None-Match / If-Modified-Since); 304 → ``not_modified``;
- connect timeout, and a deadline on the *whole* response (a server trickling bytes is cut off);
- a cap on the body, enforced while streaming, on the compressed and the decompressed size
  (gzip/deflate are decoded here, in bounded steps, so a gzip bomb never inflates in memory);
- at most 5 redirects, never to a non-http(s) scheme; a chain of only permanent redirects
  (301/308) is reported as ``permanent_url``.
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests
import requests.auth

from feedsvc.clock import Clock, utcnow
from feedsvc.config import file_url_path
from feedsvc.errors import FetchError
from feedsvc.model import FetchResult

ACCEPT = ("application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
          "application/xml;q=0.8, text/xml;q=0.8, application/feed+json;q=0.7, "
          "application/json;q=0.6, */*;q=0.5")
CHUNK = 64 * 1024
MAX_REDIRECTS = 5


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """A source's own request settings (private feeds): sent only to the feed's own origin."""
    headers: tuple[tuple[str, str], ...] = ()
    auth: tuple[str, ...] | None = None     # ("basic"|"digest", user, password) or ("bearer", token)
    proxy: str | None = None
    verify: bool | str = True

    @property
    def default(self) -> bool:
        return not self.headers and self.auth is None and self.proxy is None and self.verify is True


class Fetcher(Protocol):
    def fetch(self, source: str, url: str, etag: str | None = None,
              last_modified: str | None = None, options: RequestOptions | None = None) -> FetchResult: ...

    def close(self) -> None: ...

    def release_idle(self) -> None:
        """Close what threads that have ended left open (their HTTP sessions)."""
        ...


class HttpFetcher:
    """Fetches http(s) and file: URLs. Thread-safe: each thread gets its own Session."""

    def __init__(self, user_agent: str, base_dir: Path, connect_timeout: float = 10.0,
                 timeout: float = 30.0, max_bytes: int = 10 * 1024 * 1024, clock: Clock = utcnow) -> None:
        self.clock = clock               # for a Retry-After given as a date
        self.user_agent = user_agent
        self.base_dir = base_dir
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._local = threading.local()
        self._sessions: list[tuple[threading.Thread, requests.Session]] = []
        self._lock = threading.Lock()

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            s.max_redirects = MAX_REDIRECTS
            s.headers.update({"User-Agent": self.user_agent, "Accept": ACCEPT,
                              "Accept-Encoding": "gzip, deflate"})
            s.trust_env = False  # no proxies or .netrc from the environment of a daemon
            self._local.session = s
            with self._lock:
                self._sessions.append((threading.current_thread(), s))
        return s

    def release_idle(self) -> None:
        with self._lock:
            done = [s for t, s in self._sessions if not t.is_alive()]
            self._sessions = [(t, s) for t, s in self._sessions if t.is_alive()]
        for s in done:
            s.close()

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for _, s in sessions:
            s.close()

    def fetch(self, source: str, url: str, etag: str | None = None,
              last_modified: str | None = None, options: RequestOptions | None = None) -> FetchResult:
        scheme = urlsplit(url).scheme.lower()
        if scheme == "file":
            return self._fetch_file(source, url, etag)
        if scheme not in ("http", "https"):
            raise FetchError(source, f"unsupported URL scheme {scheme!r}", url)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        deadline = time.monotonic() + self.timeout
        session = self._session()
        if options is not None and not options.default:
            return self._fetch_with(source, url, headers, options, session, deadline)
        try:
            # what Session.get does, minus merging settings this session never has (params, auth,
            # proxies, hooks; trust_env is off): requests checks each of those against typing
            # Protocols, ~15% of the CPU of a request that gets a 304. Session.send still does the
            # redirects, the cookies and the connection pool.
            prepared = requests.PreparedRequest()
            prepared.prepare(method="GET", url=url, headers={**session.headers, **headers},
                             cookies=session.cookies.copy())
            resp = session.send(prepared, stream=True, allow_redirects=True,
                                timeout=(self.connect_timeout, min(self.timeout, self.connect_timeout + 5)))
        except requests.TooManyRedirects:
            raise FetchError(source, f"more than {MAX_REDIRECTS} redirects", url) from None
        except requests.exceptions.InvalidSchema as exc:
            raise FetchError(source, f"redirected to an unsupported URL scheme ({exc})", url) from None
        except requests.Timeout:
            raise FetchError(source, "timed out connecting or waiting for the response", url) from None
        except requests.RequestException as exc:
            raise FetchError(source, f"connection failed: {_scrub(_short(exc), url, RequestOptions())}", url) from None
        try:
            result = self._response(source, url, resp, deadline)
        except BaseException:
            resp.close()
            raise
        _release(resp)
        return result

    def _fetch_with(self, source: str, url: str, conditional: dict[str, str], options: RequestOptions,
                    session: requests.Session, deadline: float) -> FetchResult:
        """A request with the source's own headers, credentials, proxy and TLS settings. Redirects
        are followed here: the credentials and the configured headers go to the feed's own origin
        only (scheme, host and port), never to where a redirect points elsewhere."""
        origin = _origin(url)
        current, hops = url, []
        while True:
            mine = _origin(current) == origin
            headers = {**session.headers, **conditional}
            auth: Any = None
            if mine:
                headers.update(options.headers)
                if options.auth and options.auth[0] == "bearer":
                    headers["Authorization"] = f"Bearer {options.auth[1]}"
                elif options.auth and options.auth[0] == "digest":
                    auth = requests.auth.HTTPDigestAuth(options.auth[1], options.auth[2])
                elif options.auth:
                    auth = requests.auth.HTTPBasicAuth(options.auth[1], options.auth[2])
            prepared = requests.PreparedRequest()
            prepared.prepare(method="GET", url=current, headers=headers, cookies=session.cookies.copy(), auth=auth)
            proxies = {"http": options.proxy, "https": options.proxy} if options.proxy else {}
            try:
                resp = session.send(prepared, stream=True, allow_redirects=False, proxies=proxies,
                                    verify=options.verify,
                                    timeout=(self.connect_timeout, min(self.timeout, self.connect_timeout + 5)))
            except requests.Timeout:
                raise FetchError(source, "timed out connecting or waiting for the response", url) from None
            except requests.RequestException as exc:
                raise FetchError(source, f"connection failed: {_scrub(_short(exc), url, options)}", url) from None
            if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("location"):
                target = urljoin(current, resp.headers["location"])
                resp.close()
                if urlsplit(target).scheme.lower() not in ("http", "https"):
                    raise FetchError(source, "redirected to an unsupported URL scheme", url)
                hops.append(resp.status_code)
                if len(hops) > MAX_REDIRECTS:
                    raise FetchError(source, f"more than {MAX_REDIRECTS} redirects", url)
                current = target
                continue
            resp.url = current
            try:
                result = self._response(source, url, resp, deadline,
                                        permanent=current if hops and all(h in (301, 308) for h in hops) else None)
            except BaseException:
                resp.close()
                raise
            _release(resp)
            return result

    def _response(self, source: str, url: str, resp: requests.Response, deadline: float,
                  permanent: str | None = None) -> FetchResult:
        final = resp.url or url
        if urlsplit(final).scheme.lower() not in ("http", "https"):
            raise FetchError(source, f"redirected to a non-http(s) URL {final!r}", url)
        if resp.history and all(r.status_code in (301, 308) for r in resp.history):
            permanent = final
        hdrs = {k.lower(): v for k, v in resp.headers.items()}
        if resp.status_code == 304:
            return FetchResult(url=final, not_modified=True, headers=hdrs, status=304,
                               etag=hdrs.get("etag"), last_modified=hdrs.get("last-modified"),
                               permanent_url=permanent)
        if resp.status_code != 200:
            retry = _retry_after(hdrs.get("retry-after"), self.clock()) if resp.status_code in (429, 503) else None
            reason = resp.reason or ""
            raise FetchError(source, f"HTTP {resp.status_code} {reason}".strip(), url,
                             status=resp.status_code, retry_after=retry, body=_head(resp))
        body = self._read_body(source, url, resp, hdrs, deadline)
        return FetchResult(url=final, not_modified=False, content=body, headers=hdrs, status=200,
                           etag=hdrs.get("etag"), last_modified=hdrs.get("last-modified"),
                           permanent_url=permanent)

    def _read_body(self, source: str, url: str, resp: requests.Response, hdrs: dict[str, str],
                   deadline: float) -> bytes:
        encoding = hdrs.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            decoder = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            decoder = zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
        else:
            raise FetchError(source, f"unsupported Content-Encoding {encoding!r}", url)
        declared = hdrs.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(source, f"response too large ({declared} bytes; the limit is {self.max_bytes})", url)
        raw = resp.raw
        limit = self.max_bytes
        received = 0
        out = bytearray()
        first = True
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FetchError(source, f"response took longer than {self.timeout:g}s", url)
                sock = getattr(getattr(raw, "connection", None), "sock", None)
                if sock is not None:
                    sock.settimeout(max(0.05, min(remaining, self.connect_timeout + 5)))
                chunk = raw.read1(CHUNK, decode_content=False)
                if not chunk:
                    break
                received += len(chunk)
                if received > limit:
                    raise FetchError(source, f"response larger than the limit of {limit} bytes", url)
                if decoder is None:
                    out += chunk
                    continue
                try:
                    data = decoder.decompress(chunk, limit + 1 - len(out))
                    while len(out) + len(data) <= limit and decoder.unconsumed_tail:
                        out += data
                        data = decoder.decompress(decoder.unconsumed_tail, limit + 1 - len(out))
                except zlib.error:
                    if first and encoding == "deflate":   # raw deflate without zlib header
                        decoder = zlib.decompressobj(wbits=-15)
                        data = decoder.decompress(chunk, limit + 1)
                    else:
                        raise FetchError(source, "corrupt compressed response", url) from None
                first = False
                out += data
                if len(out) > limit:
                    raise FetchError(source, f"decompressed response larger than the limit of {limit} bytes", url)
        except FetchError:
            raise
        except (requests.RequestException, OSError, ValueError) as exc:
            if time.monotonic() >= deadline:
                raise FetchError(source, f"response took longer than {self.timeout:g}s", url) from None
            raise FetchError(source, f"reading the response failed: {_scrub(_short(exc), url, RequestOptions())}", url) from None
        except Exception as exc:  # urllib3 protocol errors (IncompleteRead, ProtocolError, timeouts)
            if time.monotonic() >= deadline or "timed out" in str(exc).lower():
                raise FetchError(source, f"response took longer than {self.timeout:g}s", url) from None
            raise FetchError(source, f"reading the response failed: {_scrub(_short(exc), url, RequestOptions())}", url) from None
        return bytes(out)

    def _fetch_file(self, source: str, url: str, etag: str | None) -> FetchResult:
        try:
            path = file_url_path(url, self.base_dir)
            st = os.stat(path)
            tag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
            if etag == tag:
                return FetchResult(url=url, not_modified=True, status=304, etag=tag)
            if st.st_size > self.max_bytes:
                raise FetchError(source, f"file larger than the limit of {self.max_bytes} bytes", url)
            with open(path, "rb") as fh:
                data = fh.read(self.max_bytes + 1)
        except FetchError:
            raise
        except (OSError, ValueError) as exc:
            raise FetchError(source, f"cannot read {url}: {getattr(exc, 'strerror', None) or exc}", url) from None
        mtime = datetime.fromtimestamp(st.st_mtime, timezone.utc)
        return FetchResult(url=url, not_modified=False, content=data, status=200, etag=tag,
                           headers={"last-modified": mtime.strftime("%a, %d %b %Y %H:%M:%S GMT")})


def _release(resp: requests.Response) -> None:
    """Give the connection back to the session for the next request (keep-alive). ``close()``
    on a streamed response closes the socket instead, so every fetch paid a new connection;
    only a response read to its end can be reused."""
    try:
        if resp.raw.read(CHUNK, decode_content=False) == b"":
            resp.raw.release_conn()
            return
    except Exception:  # noqa: BLE001 - a broken connection is simply not reused
        pass
    resp.close()


def _head(resp: requests.Response, limit: int = 16384) -> bytes | None:
    """The start of an error page (a bot-protection challenge says so in it), bounded."""
    try:
        return bytes(resp.raw.read(limit, decode_content=True) or b"")[:limit]
    except Exception:  # noqa: BLE001 - only a hint for the health report
        return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


def _scrub(text: str, url: str, options: RequestOptions) -> str:
    """A message without anything secret of the request: the URL's query and credentials, the
    configured header values and passwords."""
    parts = urlsplit(url)
    for secret in (parts.query, parts.password, *(v for _, v in options.headers), *(options.auth or ())[1:]):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _short(exc: BaseException) -> str:
    text = str(exc)
    # requests nests urllib3's reason inside long reprs; keep the innermost, readable part
    for marker in ("Caused by ", "Failed to establish a new connection: "):
        if marker in text:
            text = text.split(marker, 1)[1].rstrip("')\"")
    return " ".join(text.split())[:200] or type(exc).__name__
