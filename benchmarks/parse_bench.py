#!/usr/bin/env python3
"""Per-feed parse cost: ``parse.parse_feed`` (feedparser) vs ``fastparse.parse_fast``.

    python3 benchmarks/parse_bench.py [CORPUS_DIR] [--feeds N] [--items N] [--repeat N]

Without CORPUS_DIR it generates a corpus with ../shared/bench/make_corpus.py (N feeds × N items)
into a temporary directory. Prints, per parser, the mean over feeds of the
fastest of --repeat runs (parsers interleaved feed by feed), the expat floor, and ``normalise``
of every entry (the next stage, for scale). Not a test: nothing fails on a time.
"""

from __future__ import annotations

import argparse
import pyexpat
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import shared_dir  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from feedsvc.items.normalise import SourceContext, normalise  # noqa: E402
from feedsvc.model import Origin  # noqa: E402
from feedsvc.parsing import document as parse  # noqa: E402
from feedsvc.parsing import fast as fastparse  # noqa: E402


def _expat_floor(bodies: list[bytes]):
    """The floor under parse_fast: expat with no-op callbacks over the bytes parse_fast gives it
    (after the same unwrapping and re-encoding, done beforehand)."""
    ready = {id(b): fastparse._decode(parse.unwrap("bench", b, URL, 1 << 30), "application/xml")[0]
             for b in bodies}

    def run(body: bytes) -> None:
        p = pyexpat.ParserCreate("utf-8", " ")
        p.namespace_prefixes = True
        p.buffer_text = True
        p.StartElementHandler = lambda name, attrs: None
        p.EndElementHandler = lambda name: None
        p.CharacterDataHandler = lambda text: None
        p.Parse(ready[id(body)], True)
    return run


MAKE_CORPUS = shared_dir() / "bench" / "make_corpus.py"
URL = "https://bench.example.org/feed.xml"


def per_feed_min(fns: dict[str, object], bodies: list[bytes], repeat: int) -> dict[str, float]:
    """Mean over feeds of the fastest of ``repeat`` runs per feed, for each parser. Runs of the
    parsers are interleaved feed by feed, so a noisy neighbour slows both alike; the minimum
    is the usual estimate of the cost without interference."""
    best: dict[str, list[float]] = {name: [] for name in fns}
    for body in bodies:
        times: dict[str, float] = {name: float("inf") for name in fns}
        for _ in range(repeat):
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn(body)  # type: ignore[operator]
                times[name] = min(times[name], time.perf_counter() - t0)
        for name in fns:
            best[name].append(times[name])
    return {name: statistics.fmean(v) for name, v in best.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", nargs="?", help="a directory of feed files (default: generate one)")
    ap.add_argument("--feeds", type=int, default=40)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        if a.corpus:
            files = sorted(p for p in Path(a.corpus).rglob("*") if p.is_file() and p.suffix == ".xml")
        else:
            subprocess.run([sys.executable, str(MAKE_CORPUS), str(a.feeds), str(a.items), tmp],
                           check=True, stdout=subprocess.DEVNULL)
            files = sorted(Path(tmp, "feeds").glob("*.xml"))
        bodies = [f.read_bytes() for f in files]
    if not bodies:
        print("no feeds found", file=sys.stderr)
        return 1
    fast_ok = [b for b in bodies if fastparse.parse_fast("bench", b, URL) is not None]
    size = sum(len(b) for b in bodies) / len(bodies) / 1024
    print(f"{len(bodies)} feeds, mean {size:.0f} KB; fast path taken for {len(fast_ok)}/{len(bodies)}")

    t = per_feed_min({
        "parse.parse_feed (feedparser)": lambda b: parse.parse_feed("bench", b, URL),
        "fastparse.parse_fast": lambda b: fastparse.parse_fast("bench", b, URL),
        "  of which expat alone": _expat_floor(fast_ok),
    }, fast_ok, a.repeat)
    ctx = SourceContext(name="bench", origin=Origin(title="bench"), base_url=URL,
                        site_url="http://127.0.0.1:8080/")
    now = datetime(2025, 6, 1, tzinfo=timezone.utc)
    parsed = {id(b): parse.parse_feed("bench", b, URL) for b in fast_ok}
    norm = per_feed_min({"normalise (every entry), for scale": lambda b: [
        normalise(e, ctx, now) for e in parsed[id(b)].entries]}, fast_ok, 2)
    print(f"{'stage':<34}{'ms / feed':>10}")
    for name, sec in {**t, **norm}.items():
        print(f"{name:<34}{sec * 1e3:>10.2f}")
    slow, fast = t["parse.parse_feed (feedparser)"], t["fastparse.parse_fast"]
    print(f"parse stage: parse_fast is {slow / fast:.1f}x faster than parse_feed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
