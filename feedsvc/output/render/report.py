"""The operator's report (pure): ``report.html`` (one table, problems first, in index.html's
style, no JavaScript, nothing loaded from elsewhere), ``report.json`` (what ``status --json``
gives), and ``problems.xml``, an Atom feed with one entry each time a problem appears or clears,
with stable ids, so the operator's feed reader shows each once.

``track`` keeps the history the feed is made of: the problems open now (with when each appeared)
and the last ``MAX_EVENTS`` appearances and clearances.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from feedgen.feed import FeedGenerator
from jinja2 import Environment, PackageLoader, StrictUndefined

MAX_EVENTS = 200


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=PackageLoader("feedsvc.output", "templates"), autoescape=True,
                       undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def track(history: dict[str, Any], problems: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The history after this report: a problem (source + kind) not open before appears, an open
    one no longer reported clears. Pure; ``history`` is what the last call returned (or {})."""
    t = int(now.timestamp())
    open_before: dict[str, Any] = dict(history.get("open", {}))
    events: list[dict[str, Any]] = list(history.get("events", []))
    current = {f"{p['source']}|{p['kind']}": p for p in problems}
    still: dict[str, Any] = {}
    for key, p in current.items():
        if key in open_before:
            still[key] = {**open_before[key], "text": p["text"], "severity": p["severity"]}
        else:
            still[key] = {"source": p["source"], "kind": p["kind"], "text": p["text"], "severity": p["severity"],
                          "since": t}
            events.append({"event": "appeared", "at": t, **still[key]})
    for key, was in open_before.items():
        if key not in current:
            events.append({"event": "cleared", "at": t, **was})
    return {"open": still, "events": events[-MAX_EVENTS:]}


def _event_id(site_id: str, e: dict[str, Any]) -> str:
    h = hashlib.sha256(f"{e['source']}\n{e['kind']}\n{e['since']}\n{e['event']}".encode()).hexdigest()[:16]
    return f"{site_id.rstrip('/')}/problems/{e['event']}/{h}"


def render_problems(history: dict[str, Any], site_title: str, site_id: str, self_url: str) -> bytes:
    """problems.xml: the appearances and clearances, newest first; deterministic."""
    events = sorted(history.get("events", []), key=lambda e: (e["at"], e["event"], e["source"], e["kind"]),
                    reverse=True)
    fg = FeedGenerator()
    fg.id(f"{site_id.rstrip('/')}/problems")
    fg.title(f"{site_title}: source problems")
    fg.subtitle("Each entry is a problem of a source that appeared or cleared (feedsvc status --problems)")
    fg.author({"name": "feedsvc"})
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.generator("feedsvc")
    newest = max((e["at"] for e in events), default=0)
    fg.updated(datetime.fromtimestamp(newest, timezone.utc))
    used: set[datetime] = set()
    for e in reversed(events):                   # feedgen writes the last added first
        fe = fg.add_entry()
        eid = _event_id(site_id, e)
        fe.id(eid)
        fe.author({"name": e["source"]})
        verb = "cleared" if e["event"] == "cleared" else e["severity"]
        fe.title(f"{e['source']}: {verb}: {e['kind']}")
        # distinct atom:updated (events of one report share a second): an offset from the id
        when = datetime.fromtimestamp(e["at"], timezone.utc) + timedelta(
            microseconds=int(hashlib.sha256(eid.encode()).hexdigest()[:8], 16) % 1_000_000)
        while when in used:
            when += timedelta(microseconds=1)
        used.add(when)
        fe.updated(when)
        fe.published(when)
        text = e["text"] if e["event"] == "appeared" else f"No longer reported: {e['text']}"
        fe.content(text, type="text")
    out: bytes = fg.atom_str(pretty=True)
    return out


def render_html(data: dict[str, Any], site_title: str) -> bytes:
    rows = sorted(data["sources"], key=lambda r: (min((_SEV[p["severity"]] for p in r["problems"]), default=9),
                                                  -len(r["problems"]), r["name"]))
    html = _env().get_template("report.html").render(
        title=f"{site_title}: sources report", data=data, rows=rows,
        counts={s: sum(1 for p in data["problems"] if p["severity"] == s) for s in _SEV})
    return html.encode("utf-8")


def render_json(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


_SEV = {"error": 0, "warning": 1, "notice": 2}
