"""``feedsvc status``: each source's state, lease and next attempt, the store's live workers, and the
output files with their item counts. Reads the store only (opened read-only)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from feedsvc.config import Config
from feedsvc.storage import Storage

LIVE_AFTER = 30.0               # a worker silent this long is not listed (as in the daemon)
COMPACT_OVER = 20               # more sources than this: one line each, unless --long
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
    from feedsvc.storage import open_storage

    store = open_storage(config, readonly=True)
    try:
        return collect(config, store, utcnow())
    finally:
        store.close()


def collect(config: Config, store: Storage, now: datetime) -> dict[str, Any]:
    """Everything ``status`` (and the operator's report) shows: each source's state, health and
    problems, the store's live workers, the output files."""
    from feedsvc.items.health import Policy, assess, urgency
    from feedsvc.items.source_state import effective_interval, interval_reason
    from feedsvc.output.curate import gather
    from feedsvc.sources.politeness import group_of, host_of

    policy = Policy(silent_after=config.health.silent_after, max_share=config.health.max_share)
    states = store.states()
    backlog = store.backlog()            # new sources' older items, off the front page
    chosen = gather(store.newest, config, now)
    combined = chosen.combined
    hidden = chosen.hidden_by_source()   # filters, max_items, max_age, among the items the publish reads
    per_source: dict[str, int] = {}
    for it in combined:
        per_source[it.item.source] = per_source.get(it.item.source, 0) + 1
    pauses = store.host_pauses()
    rows: list[dict[str, Any]] = []
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
        if backlog.get(src.name):
            state += f"; {backlog[src.name]} items held back as backlog (archived, not on the front page)"
        if st.first_seen_order:
            state += f"; ordered by first-seen time: {st.first_seen_order}"
        share = per_source.get(src.name, 0) / len(combined) if len(combined) >= 10 else None
        problems = assess(st, now, policy, share, feed=src.kind == "feed") if st.last_attempt else []
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
            "error_class": st.error_class,
            "backlog": backlog.get(src.name, 0), "first_seen_order": st.first_seen_order,
            "hidden": sum(hidden.get(src.name, {}).values()), "hidden_by": hidden.get(src.name, {}),
            "health": {"answers": st.fetches, "not_modified": st.not_modified, "stale_200": st.stale_200,
                       "items_seen": st.items_seen, "undated": st.undated, "future_dated": st.future_dated,
                       "redated": st.redated, "last_new_item": _iso(st.last_new_at),
                       "share_of_combined_feed": round(share, 3) if share is not None else None},
            "problems": [{"kind": p.kind, "severity": p.severity, "text": p.text, "since": _iso(p.since)}
                         for p in problems],
            "_urgency": urgency(problems),
        })
    total = store.count_items()
    outputs = []
    feeds = config.output.feed_files
    for name in (*feeds, *(f"{t.path}/{f}" for t in config.outputs for f in feeds)):
        path = config.output.dir / name
        outputs.append({"file": str(path), "exists": path.exists(),
                        "items": _count_items(path) if path.exists() else 0})
    for r in rows:
        r.pop("_urgency")
    data = {"config": str(config.path), "store": config.store_url, "store_items": total, "sources": rows,
            "hidden_counted_over": chosen.read,
            "outputs": outputs, "workers": workers, "generated": _iso(now),
            "problems": [{"source": r["name"], **p} for r in sorted(rows, key=lambda r: urgency_of(r))
                         for p in r["problems"]]}
    if config.site.websub_hub:
        from feedsvc.output.websub import load_pending

        data["websub"] = {"hub": config.site.websub_hub, "pending": load_pending(config.state_dir)}
    return data


def urgency_of(row: dict[str, Any]) -> tuple[int, int]:
    from feedsvc.items.health import SEVERITY

    return (min((SEVERITY[p["severity"]] for p in row["problems"]), default=9), -len(row["problems"]))


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
    if getattr(args, "problems", False):
        return _problems(data, args.json)
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    if len(data["sources"]) > COMPACT_OVER and not getattr(args, "long", False):
        _compact(data)
    else:
        _long(data)
    _footer(data)
    return EXIT_OK


def _compact(data: dict[str, Any]) -> None:
    """One line a source (for many sources; ``--long`` for the detail)."""
    rows = [(r["name"], _word(r), _human(r["interval_seconds"]), (r["last_success"] or "never")[:16].replace("T", " "),
             str(r["items"]), str(r.get("hidden", 0)), "; ".join(p["text"] for p in r["problems"])[:80])
            for r in data["sources"]]
    head = ("SOURCE", "STATE", "EVERY", "LAST SUCCESS", "ITEMS", "HIDDEN", "PROBLEMS")
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(6)]
    for row in [head, *rows]:
        print("  ".join(c.ljust(w) if i not in (4, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
              + "  " + row[6])


def _word(r: dict[str, Any]) -> str:
    if r["last_attempt"] is None:
        return "never"
    if r["gone"]:
        return "gone"
    if r["last_error"]:
        return "error"
    return "paused" if r.get("host_paused_until") else "ok"


def _long(data: dict[str, Any]) -> None:
    for r in data["sources"]:
        print(f"{r['name']} ({r['kind']}: {r['location']})")
        print(f"  state:        {r['state']}")
        print(f"  last attempt: {r['last_attempt'] or '-'}   last success: {r['last_success'] or '-'}")
        if r["last_error"]:
            n = r['failures']
            print(f"  last error:   {r['last_error']}  ({n} consecutive failure{'s' if n != 1 else ''})")
        if r["warning"]:
            print(f"  warning:      {r['warning'][:200]}")
        for prob in r["problems"]:
            print(f"  problem:      {prob['severity']}: {prob['text']}")
        if r["kind"] == "feed":
            print(f"  etag:         {r['etag'] or '-'}   last-modified: {r['last_modified'] or '-'}")
            print(f"  interval:     {_human(r['interval_seconds'])} ({r['interval_set_by']})")
        print(f"  items stored: {r['items']}")
        if r.get("hidden"):
            by = ", ".join(f"{n} by {why}" for why, n in r["hidden_by"].items())
            print(f"  hidden:       {r['hidden']} ({by}) among the newest {data['hidden_counted_over']} stored items")


def _footer(data: dict[str, Any]) -> None:
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




def _problems(data: dict[str, Any], as_json: bool) -> int:
    """``status --problems``: the sources that need attention, most urgent first; exit 1 when
    there is one (a monitoring check), 0 when none."""
    problems = data["problems"]
    if as_json:
        print(json.dumps({"generated": data["generated"], "problems": problems}, indent=2))
    elif not problems:
        print(f"no problems ({len(data['sources'])} sources)")
    else:
        width = max(len(p["source"]) for p in problems)
        for p in problems:
            print(f"{p['source']:<{width}}  {p['severity']:<7}  {p['text']}")
    return 1 if problems else EXIT_OK
