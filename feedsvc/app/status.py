"""``feedsvc status``: each source's state, lease and next attempt, the store's live workers, and the
output files with their item counts. Reads the store only (opened read-only)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from feedsvc.config import Config

LIVE_AFTER = 30.0               # a worker silent this long is not listed (as in the daemon)
EXIT_OK = 0


def _worker_name(owner: str | None) -> str:
    """``host:pid:nonce`` as people read it: ``host pid N``."""
    host, _, rest = (owner or "").partition(":")
    return f"{host} pid {rest.partition(':')[0]}" if rest else (owner or "")


def _human(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat(timespec="seconds") if dt else None


def _source_status(config: Config) -> dict[str, Any]:
    from feedsvc.clock import utcnow
    from feedsvc.items.source_state import effective_interval, interval_reason
    from feedsvc.sources.politeness import group_of, host_of
    from feedsvc.storage import open_storage

    store = open_storage(config, readonly=True)
    try:
        now = utcnow()
        states = store.states()
        pauses = store.host_pauses()
        rows = []
        workers = [{"id": w.id, "host": w.host, "pid": w.pid, "started": _iso(w.started),
                    "heartbeat": _iso(w.heartbeat), "seconds_since_heartbeat": round((now - w.heartbeat).total_seconds(), 1)}
                   for w in store.workers() if (now - w.heartbeat).total_seconds() < LIVE_AFTER]
        for src in config.sources:
            st = states.get(src.name) or store.state(src.name, src.kind, src.shown_url)
            if st.last_attempt is None:
                state = "never refreshed"
            elif st.gone:
                state = "gone (HTTP 410): no longer fetched by the daemon"
            elif st.last_error:
                state = f"erroring since {_iso(st.error_since)}"
                if st.retry_after and st.retry_after > now:
                    state += f", backing off until {_iso(st.retry_after)}"
            else:
                state = "ok"
            if st.moved_to:
                state += f"; moved to {st.moved_to}"
            group = group_of(host_of(src.url)) if src.url and src.kind == "feed" else None
            pause = pauses.get(group) if group else None
            if pause is not None and pause[0] > now:
                state += f"; host {group} paused until {_iso(pause[0])}"
            if src.verify is False:
                state += "; TLS certificates NOT verified (verify: false)"
            leased = st.lease_owner is not None and st.lease_until is not None and st.lease_until > now
            if leased:
                state += f"; being refreshed by {_worker_name(st.lease_owner)}"
            rows.append({
                "name": src.name, "kind": src.kind, "location": src.shown_url or str(src.path),
                "state": state, "last_attempt": _iso(st.last_attempt),
                "last_success": _iso(st.last_success), "last_error": st.last_error,
                "failures": st.failures, "warning": st.warning, "etag": st.etag,
                "last_modified": st.last_modified, "items": st.item_count,
                "moved_to": st.moved_to, "gone": st.gone,
                "interval_seconds": effective_interval(src.interval, st),
                "interval_set_by": interval_reason(src.interval, st),
                "host_group": group,
                "host_paused_until": _iso(pause[0]) if pause is not None and pause[0] > now else None,
                "next_attempt_not_before": _iso(st.retry_after),
                "next_due": _iso(st.next_due),
                "lease_owner": st.lease_owner if leased else None,
                "lease_until": _iso(st.lease_until) if leased else None,
            })
        total = store.count_items()
    finally:
        store.close()
    outputs = []
    feeds = config.output.feed_files
    for name in (*feeds, *(f"{t.path}/{f}" for t in config.outputs for f in feeds)):
        path = config.output.dir / name
        outputs.append({"file": str(path), "exists": path.exists(),
                        "items": _count_items(path) if path.exists() else 0})
    data = {"config": str(config.path), "store": config.store_url, "store_items": total, "sources": rows,
            "outputs": outputs, "workers": workers}
    if config.site.websub_hub:
        from feedsvc.output.websub import load_pending

        data["websub"] = {"hub": config.site.websub_hub, "pending": load_pending(config.state_dir)}
    return data


def _count_items(path: Path) -> int | None:
    from lxml import etree

    if path.suffix == ".json":
        try:
            return len(json.loads(path.read_bytes()).get("items", []))
        except (OSError, ValueError, AttributeError):
            return None
    try:
        n = 0
        for _ev, el in etree.iterparse(str(path), events=("end",), resolve_entities=False, no_network=True):
            if etree.QName(el).localname in ("entry", "item"):
                n += 1
            el.clear(keep_tail=False) if etree.QName(el).localname in ("entry", "item") else None
        return n
    except (OSError, etree.XMLSyntaxError):
        return None


def cmd_status(config: Config, args: argparse.Namespace) -> int:
    data = _source_status(config)
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    for r in data["sources"]:
        print(f"{r['name']} ({r['kind']}: {r['location']})")
        print(f"  state:        {r['state']}")
        print(f"  last attempt: {r['last_attempt'] or '-'}   last success: {r['last_success'] or '-'}")
        if r["last_error"]:
            print(f"  last error:   {r['last_error']}  ({r['failures']} consecutive failures)")
        if r["warning"]:
            print(f"  warning:      {r['warning'][:200]}")
        if r["kind"] == "feed":
            print(f"  etag:         {r['etag'] or '-'}   last-modified: {r['last_modified'] or '-'}")
            print(f"  interval:     {_human(r['interval_seconds'])} (set by {r['interval_set_by']})")
        print(f"  items stored: {r['items']}")
    print(f"store: {data['store_items']} items ({data['store']})")
    for w in data["workers"]:
        print(f"worker: {w['host']} pid {w['pid']}, last heartbeat {w['seconds_since_heartbeat']:.0f}s ago")
    for o in data["outputs"]:
        shown = f"{o['items']} items" if o["exists"] else "not written yet"
        print(f"output: {o['file']}: {shown}")
    if "websub" in data:
        pending = data["websub"]["pending"]
        print(f"websub: hub {data['websub']['hub']}: "
              + (f"{len(pending)} ping(s) pending, retried at the next publish" if pending else "no ping pending"))
    return EXIT_OK


