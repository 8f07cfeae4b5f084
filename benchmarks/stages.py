#!/usr/bin/env python3
"""Micro-benchmarks of the stages of a round: parse, normalise, decide, publish, local rescan.

    python3 benchmarks/stages.py            # small sizes, well under a minute
    python3 benchmarks/stages.py --targets  # the target sizes: publish 500 of a
                                            # 50 000-item store, rescan 10 000 unchanged files

Each figure is the best of --repeat runs (plain timeit-style timing with time.perf_counter).
Prints one line per stage. Not a test: nothing fails on a time.

- parse: ``parse.parse_document`` (fast path, else feedparser) and ``parse.parse_feed``
  (feedparser alone) per feed, over feeds from ../shared/bench/make_corpus.py;
- normalise: ``normalise_all`` per feed (nh3 sanitising dominates);
- outline / changed feed: ``outline.outline`` alone, and ``pool.parse_and_normalise`` of a feed
  that gained two entries since its last parse (the rest known), against the whole feed;
- decide: ``dedup.decide`` of one feed's items against a snapshot that knows them all;
- publish: ``refresh.publish`` rendering the newest 500 items of a store of --store items
  (forced, i.e. the render a changed round pays), and the unchanged case (skipped);
- rescan: a refresh of one local source of --files unchanged article files, and its publish.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import shared_dir  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MAKE_CORPUS = shared_dir() / "bench" / "make_corpus.py"
URL = "https://bench.example.org/feed.xml"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def line(name: str, seconds: float, per: str = "") -> None:
    print(f"{name:<48} {seconds * 1000:9.2f} ms{('  ' + per) if per else ''}", flush=True)


def corpus(tmp: Path, feeds: int, items: int) -> list[bytes]:
    out = tmp / "corpus"
    subprocess.run([sys.executable, str(MAKE_CORPUS), str(feeds), str(items), str(out), "--seed", "7"],
                   check=True, capture_output=True)
    return [p.read_bytes() for p in sorted((out / "feeds").glob("*.xml"))]


def write_config(d: Path, sources: str, max_items: int = 500) -> Path:
    p = d / "config.yaml"
    p.write_text(f'site:\n  title: "bench"\n  url: "http://127.0.0.1:8080/"\n'
                 f'output:\n  dir: "public"\n  max_items: {max_items}\nstate_dir: "state"\n'
                 f'schedule:\n  interval: "1h"\nsources:\n{sources}', encoding="utf-8")
    return p


def bench_parse_normalise_decide(tmp: Path, feeds: int, repeat: int) -> None:
    from feedsvc.items.decide import Known, Snapshot, decide
    from feedsvc.items.normalise import SourceContext, normalise_all
    from feedsvc.model import Origin
    from feedsvc.parsing import document as parse

    bodies = corpus(tmp, feeds, 50)
    t_doc = sum(best(lambda b=b: parse.parse_document("b", b, URL), repeat) for b in bodies) / len(bodies)
    t_fp = sum(best(lambda b=b: parse.parse_feed("b", b, URL), 1) for b in bodies[:3]) / 3
    line("parse: parse_document (fast path) per feed", t_doc, "50 entries")
    line("parse: parse_feed (feedparser) per feed", t_fp, f"{t_fp / t_doc:.1f}x the fast path")
    parsed = [parse.parse_document("b", b, URL) for b in bodies]
    ctx = SourceContext(name="b", origin=Origin(title="t", link=URL, id=URL, home=URL), base_url=URL,
                        site_url="http://127.0.0.1:8080/")
    t_norm = sum(best(lambda p=p: normalise_all(p.entries, ctx, NOW), repeat) for p in parsed) / len(parsed)
    line("normalise: normalise_all per feed", t_norm, "nh3 sanitising of summary + content")
    # a feed that gained two entries since its last parse: outline, cut, parse and normalise the two
    from feedsvc.model import Seen
    from feedsvc.parsing.incremental import ParseJob, parse_and_normalise
    from feedsvc.parsing.outline import outline

    changed = []
    for b in bodies:
        shape = outline(b)
        older = shape.without({0, 1}) if shape is not None and len(shape.spans) > 2 else b
        job = ParseJob(source="b", content=older, url=URL, feed_url=URL, site_url="http://127.0.0.1:8080/", now=NOW)
        first = parse_and_normalise(job)
        known = {fp: Seen(i.key, i.dedup_keys) for fp, i in zip(first.fingerprints, first.items) if fp}
        changed.append(ParseJob(source="b", content=b, url=URL, feed_url=URL,
                                site_url="http://127.0.0.1:8080/", now=NOW, known=known))
    t_out = sum(best(lambda b=b: outline(b), repeat) for b in bodies) / len(bodies)
    line("outline: entry spans per feed", t_out, "one expat pass, no entry parsed")
    t_chg = sum(best(lambda j=j: parse_and_normalise(j), repeat) for j in changed) / len(changed)
    t_full = sum(best(lambda j=j: parse_and_normalise(ParseJob(
        source="b", content=j.content, url=URL, feed_url=URL, site_url=j.site_url, now=NOW)), 1)
        for j in changed[:3]) / 3
    line("changed feed: 2 new of 50, parse + normalise", t_chg, f"whole feed: {t_full * 1000:.1f} ms")
    items = normalise_all(parsed[0].entries, ctx, NOW)
    snap = Snapshot(own={i.key: Known(n, "b", i.content_hash, 1) for n, i in enumerate(items)},
                    by_dedup_key={})
    line("decide: one feed's items, all known", best(lambda: decide(items, snap, {"b": 0}, 2), repeat * 20))


def bench_publish(tmp: Path, store_items: int, repeat: int) -> None:
    from feedsvc.app.engine import Engine, publish
    from feedsvc.config import load_config
    from feedsvc.items.decide import decide, lookups, resolve
    from feedsvc.items.normalise import SourceContext, normalise_all
    from feedsvc.model import Origin, SourceState
    from feedsvc.parsing.document import parse_document
    from feedsvc.storage import SourceUpdate

    d = tmp / "publish"
    d.mkdir()
    per = 500
    n_sources = max(1, store_items // per)
    srcs = "".join(f'  - name: "s{i}"\n    url: "https://s{i}.example/feed.xml"\n' for i in range(n_sources))
    cfg = load_config(write_config(d, srcs))
    sample = parse_document("b", corpus(tmp / "pub-corpus", 1, 50)[0], URL)
    ctx = SourceContext(name="s0", origin=Origin(title="t", link=URL, id=URL, home=URL), base_url=URL,
                        site_url="http://127.0.0.1:8080/")
    base_items = normalise_all(sample.entries, ctx, NOW)
    rt = Engine(cfg, parse_workers=0)
    try:
        st = rt.storage
        t0 = time.perf_counter()
        for s in range(n_sources):
            batch = []
            for n in range(per):
                it = base_items[n % len(base_items)]
                link = f"https://s{s}.example/{n}"
                batch.append(replace(it, source=f"s{s}", key=f"g:s{s}-{n}", id=link, dedup_keys=("link:" + link,),
                                     link=link, canonical_link=link, content_hash=f"h{s}-{n}",
                                     published=NOW - timedelta(minutes=s * per + n)))
            with st.write(f"s{s}") as tx:
                own, keys = lookups(batch)
                snap = tx.snapshot(own, keys)
                tx.apply(SourceUpdate(state=SourceState(name=f"s{s}", kind="feed", last_attempt=NOW, last_success=NOW),
                                      run=1, writes=resolve(decide(batch, snap, {}, 1), snap, NOW, 1), present=True))
        print(f"(store of {st.count_items()} items built in {time.perf_counter() - t0:.1f} s)", flush=True)
        line(f"publish: render newest 500 of {st.count_items()} (forced)",
             best(lambda: publish(rt, force=True), repeat))
        line("publish: nothing changed (skipped)", best(lambda: publish(rt), repeat))
    finally:
        rt.close()


def bench_rescan(tmp: Path, files: int, repeat: int) -> None:
    from feedsvc.app.engine import Engine, publish, refresh_source
    from feedsvc.config import load_config

    d = tmp / "rescan"
    arts = d / "articles"
    for i in range(files):
        sub = arts / f"d{i // 500:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"a{i:05d}.txt").write_text(f"Article {i}\n\nBody of article {i}.\n\nDate: 2025-01-01T00:00:00Z\n",
                                           encoding="utf-8")
    cfg = load_config(write_config(d, '  - name: "arts"\n    path: "articles"\n', max_items=50))
    rt = Engine(cfg, parse_workers=0)
    try:
        t0 = time.perf_counter()
        refresh_source(rt, cfg.sources[0])
        publish(rt)
        print(f"(first scan of {files} files and their pages: {time.perf_counter() - t0:.1f} s)", flush=True)

        def again() -> None:
            o = refresh_source(rt, cfg.sources[0])
            assert o.status == "not-modified", o
            publish(rt)
        line(f"rescan: {files} unchanged local files + publish", best(again, repeat))
    finally:
        rt.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", action="store_true", help="the target sizes (50 000 items, 10 000 files)")
    ap.add_argument("--feeds", type=int, default=6)
    ap.add_argument("--store", type=int, default=None, help="items in the store for publish")
    ap.add_argument("--files", type=int, default=None, help="local article files for the rescan")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    store_items = a.store or (50_000 if a.targets else 5_000)
    files = a.files or (10_000 if a.targets else 1_000)
    with tempfile.TemporaryDirectory(prefix="feedsvc-stages-") as t:
        tmp = Path(t)
        bench_parse_normalise_decide(tmp, a.feeds, a.repeat)
        bench_publish(tmp, store_items, a.repeat)
        bench_rescan(tmp, files, a.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
