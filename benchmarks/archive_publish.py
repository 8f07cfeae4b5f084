#!/usr/bin/env python3
"""What archives cost a publish: a SQLite store of --months monthly periods of
--per-month items each (24 × 2000 = 48 000 by default, from 40 sources), ``output.archive:
monthly``, the newest 50 in the combined feeds, all three formats.

    python3 benchmarks/archive_publish.py [--months 24] [--per-month 2000] [--repeat 3]

Prints, for each case, the best of --repeat runs and what it wrote:

- first publish: every archive document written (once per store, or ``publish --archives``);
- nothing changed: the cheap check (the store's generation) skips everything;
- one new item this month: the current month's document and the subscription documents;
- one item edited in a completed month: that month's document and the front page's check;
- forced (``feedsvc publish``) with nothing changed: the subscription documents rendered, the
  archives only planned (a light read of every item's date and revision);
- ``publish --archives``: every document rendered again.

Not a test: nothing fails on a time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

NOW = datetime(2026, 5, 31, 12, 0, tzinfo=timezone.utc)
SOURCES = 40
TEXT = ("<p>The harbour board met on Tuesday and agreed, after a long debate about dredging, mooring fees "
        "and the winter timetable of the island ferries, to publish its minutes every month.</p>"
        "<p>Residents asked for a second pontoon and for the fish market to open on Sundays; both "
        "questions go to the next meeting, with a report from the harbour master on the spring tides.</p>")


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def build(tmp: Path, months: int, per_month: int):
    from feedsvc.config import load_config
    from feedsvc.items.decide import decide, lookups, resolve
    from feedsvc.items.normalise import SourceContext, normalise
    from feedsvc.model import Origin, RawEntry, SourceState
    from feedsvc.storage import SourceUpdate
    from feedsvc.storage.sqlite import SqliteStorage

    srcs = "".join(f'  - name: "s{i}"\n    url: "https://s{i}.example/feed.xml"\n' for i in range(SOURCES))
    (tmp / "config.yaml").write_text(
        'site:\n  title: "Bench Planet"\n  url: "http://127.0.0.1:8080/"\n'
        'output:\n  dir: "public"\n  max_items: 50\n  archive: monthly\n'
        'retention:\n  max_age: "5000d"\n  per_source: 100000\n'
        f'state_dir: "state"\nsources:\n{srcs}', encoding="utf-8")
    cfg = load_config(tmp / "config.yaml")
    store = SqliteStorage(tmp / "state" / "feedsvc.db")
    start = datetime(NOW.year, NOW.month, 1, tzinfo=timezone.utc)
    total = months * per_month
    span = (NOW - _months_back(start, months - 1)).total_seconds()
    t0 = time.perf_counter()
    for s in range(SOURCES):
        name = f"s{s}"
        ctx = SourceContext(name=name, origin=Origin(title=f"Source {s}", link=f"https://s{s}.example/feed.xml",
                                                     id=f"https://s{s}.example/", home=f"https://s{s}.example/"),
                            base_url=f"https://s{s}.example/feed.xml", site_url=cfg.site.url)
        proto = normalise(RawEntry(guid="x", guid_is_permalink=False, link=f"https://s{s}.example/x",
                                   title="x", title_is_html=False, authors=(), published=NOW, updated=None,
                                   summary=None, content=TEXT, categories=("harbour",), enclosures=(), base=None),
                          ctx, NOW)
        items = []
        for n in range(s, total, SOURCES):
            when = NOW - timedelta(seconds=span * n / total)
            link = f"https://s{s}.example/{n}"
            items.append(replace(proto, key=f"g:{link}", id=link, link=link, canonical_link=link, title=f"Minutes {n}",
                                 published=when, dedup_keys=("link:" + link,), content_hash=f"h{n}"))
        with store.write(name) as tx:
            own, keys = lookups(items)
            snap = tx.snapshot(own, keys)
            writes = resolve(decide(items, snap, {}, 1), snap, NOW, 1)
            tx.apply(SourceUpdate(state=SourceState(name=name, kind="feed", last_attempt=NOW, last_success=NOW),
                                  run=1, writes=writes, present=True))
    print(f"(store of {store.count_items()} items over {months} months built in {time.perf_counter() - t0:.1f} s)",
          flush=True)
    return cfg, store, proto


def _months_back(t: datetime, n: int) -> datetime:
    y, m = t.year, t.month - n
    while m < 1:
        y, m = y - 1, m + 12
    return t.replace(year=y, month=m)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--per-month", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    from feedsvc.items.decide import decide, lookups, resolve
    from feedsvc.model import SourceState
    from feedsvc.output.publisher import publish
    from feedsvc.storage import SourceUpdate

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cfg, store, proto = build(tmp, a.months, a.per_month)
        clock = Clock(NOW)
        counter = [0]

        def timed(label: str, fn, repeat: int = a.repeat) -> None:
            best, written = float("inf"), ()
            for _ in range(repeat):
                t = time.perf_counter()
                result = fn()
                best = min(best, time.perf_counter() - t)
                written = result.written
            arch = [w for w in written if w.startswith("archive/")]
            print(f"{label:<58} {best:7.3f} s   wrote {len(written)} files, {len(arch)} archive documents"
                  + (f" ({', '.join(arch[:3])}{'…' if len(arch) > 3 else ''})" if arch else ""), flush=True)

        def write(name: str, item) -> None:
            with store.write(name) as tx:
                own, keys = lookups([item])
                snap = tx.snapshot(own, keys)
                writes = resolve(decide([item], snap, {}, 2), snap, clock(), 2)
                tx.apply(SourceUpdate(state=SourceState(name=name, kind="feed", last_attempt=clock()),
                                      run=2, writes=writes))

        def new_item(config=cfg):
            counter[0] += 1
            clock.t += timedelta(seconds=1)
            link = f"https://s0.example/new-{counter[0]}"
            write("s0", replace(proto, key=f"g:{link}", id=link, link=link, canonical_link=link,
                                title=f"News {counter[0]}", published=clock.t, dedup_keys=("link:" + link,),
                                content_hash=f"new{counter[0]}"))
            return publish(store, config, clock)

        def edit_old():
            counter[0] += 1
            old = store.between(NOW - timedelta(days=400), NOW - timedelta(days=399))[0]
            write(old.item.source, replace(old.item, title=f"Minutes, corrected {counter[0]}",
                                           content_hash=f"edit{counter[0]}"))
            return publish(store, cfg, clock)

        timed("first publish: every archive document", lambda: publish(store, cfg, clock), repeat=1)
        timed("nothing changed", lambda: publish(store, cfg, clock))
        timed("one new item this month", new_item)
        timed("one item edited in a completed month", edit_old)
        timed("forced (feedsvc publish), nothing changed", lambda: publish(store, cfg, clock, force=True))
        from feedsvc.output import archive

        plan_times = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            archive.plan(store, cfg, "context")
            plan_times.append(time.perf_counter() - t)
        print(f"{'the archive plan alone (an aggregate a period, from an index)':<58} {min(plan_times):7.3f} s", flush=True)
        timed("publish --archives: every document again", lambda: publish(store, cfg, clock, archives=True),
              repeat=1)
        off = replace(cfg, output=replace(cfg.output, archive="off"))
        timed("archive: off (the documents removed)", lambda: publish(store, off, clock), repeat=1)
        timed("archive: off, one new item (the same store, for comparison)", lambda: new_item(off))
        store.close()


if __name__ == "__main__":
    main()
