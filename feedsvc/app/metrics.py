"""``feedsvc run --metrics HOST:PORT``: Prometheus metrics, ``/healthz`` and ``/readyz`` on one
small HTTP server (127.0.0.1 unless told otherwise).

Metrics (a registry of our own, no global state):
- ``feedsvc_fetches_total{group, outcome}``: fetches by host group and outcome (ok,
  not_modified, error, skipped) — label cardinality: the number of host groups;
- ``feedsvc_http_responses_total{class}``: 2xx, 3xx, 4xx, 5xx, none (no answer);
- ``feedsvc_fetched_bytes_total``; ``feedsvc_items_total{kind}``: new, updated, duplicate;
- ``feedsvc_round_seconds`` and ``feedsvc_publish_seconds``: histograms;
- ``feedsvc_sources{state}``: ok, erroring, gone, never (a gauge read from the store at scrape);
- ``feedsvc_source_last_success_timestamp_seconds{source}``: one series per source — cardinality
  is the number of sources (10 000 sources: 10 000 series; drop it with a relabel if too many);
- ``feedsvc_store_items``; and the process's own (CPU, memory, open files).

``/healthz``: 200 when the scheduler ticked within two ticks and the store answered a query,
else 503 with the reason on one line. ``/readyz``: 200 once the first tick completed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from feedsvc.errors import FeedsvcError
from feedsvc.model import SourceOutcome
from feedsvc.storage import Storage


class Metrics:
    """What the engine and the daemon report; the registry the server exposes."""

    def __init__(self, storage: Callable[[], Storage]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.fetches = Counter("feedsvc_fetches", "Fetches by host group and outcome", ["group", "outcome"],
                               registry=self.registry)
        self.responses = Counter("feedsvc_http_responses", "HTTP answers by status class", ["class"],
                                 registry=self.registry)
        self.bytes = Counter("feedsvc_fetched_bytes", "Bytes of feed bodies fetched", registry=self.registry)
        self.items = Counter("feedsvc_items", "Items stored, by kind", ["kind"], registry=self.registry)
        self.round = Histogram("feedsvc_round_seconds", "Duration of a round", registry=self.registry,
                               buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600))
        self.publish = Histogram("feedsvc_publish_seconds", "Duration of a publish", registry=self.registry,
                                 buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10))
        self.registry.register(_StoreCollector(storage))

    def outcome(self, o: SourceOutcome) -> None:
        outcome = {"not-modified": "not_modified"}.get(o.status, o.status)
        self.fetches.labels(o.group or "local", outcome).inc()
        self.responses.labels(f"{o.http_status // 100}xx" if o.http_status else "none").inc()
        if o.bytes:
            self.bytes.inc(o.bytes)
        for kind, n in (("new", o.new), ("updated", o.updated), ("duplicate", o.duplicates)):
            if n:
                self.items.labels(kind).inc(n)


class _StoreCollector:
    """Gauges read from the store when scraped."""

    def __init__(self, storage: Callable[[], Storage]) -> None:
        self.storage = storage

    def collect(self) -> Iterator[Any]:
        try:
            store = self.storage()
            states = store.states()
            total = store.count_items()
        except FeedsvcError:
            return
        by_state = GaugeMetricFamily("feedsvc_sources", "Sources by state", labels=["state"])
        counts = {"ok": 0, "erroring": 0, "gone": 0, "never": 0}
        last = GaugeMetricFamily("feedsvc_source_last_success_timestamp_seconds",
                                 "When each source last succeeded", labels=["source"])
        for st in states.values():
            key = ("gone" if st.gone else "erroring" if st.last_error else
                   "never" if st.last_attempt is None else "ok")
            counts[key] += 1
            if st.last_success is not None:
                last.add_metric([st.name], st.last_success.timestamp())
        for k, v in counts.items():
            by_state.add_metric([k], v)
        yield by_state
        yield last
        yield GaugeMetricFamily("feedsvc_store_items", "Items in the store", value=total)


class MetricsServer:
    """/metrics, /healthz, /readyz on ``host:port``; ``health()`` gives (ok, reason)."""

    def __init__(self, metrics: Metrics, host: str, port: int,
                 health: Callable[[], tuple[bool, str]], ready: Callable[[], bool]) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    owner._send(self, 200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    ok, reason = health()
                    owner._send(self, 200 if ok else 503, (reason + "\n").encode(), "text/plain; charset=utf-8")
                elif path == "/readyz":
                    r = ready()
                    owner._send(self, 200 if r else 503, b"ready\n" if r else b"not ready: no tick yet\n",
                                "text/plain; charset=utf-8")
                else:
                    owner._send(self, 404, b"not found\n", "text/plain; charset=utf-8")

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="metrics", daemon=True)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
