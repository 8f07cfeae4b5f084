#!/usr/bin/env python3
"""feedsvc through the shared harness's rounds (cold / warm / mutated), beside the floors.

    python3 benchmarks/rounds.py 200 50            # N feeds x ITEMS items (~2 min at 200)
    python3 benchmarks/rounds.py 1000 50 --peers "floor-net naive-cond reader project"

Drives ../shared/bench/run.sh (override with --harness or $FEEDSVC_BENCH) with this checkout's
``feedsvc`` first on PATH (installed as a wheel in a venv of its own, see ``install``), twice:
the timed pass runs plain ``feedsvc`` beside the floor; the memory pass (skip it with
--no-memory) runs the same three rounds of feedsvc alone wrapped in benchmarks/peakmem.py, so
the memory of every feedsvc process is counted (the harness's own figure is the largest single
process). The wrapper is a Python
process sampling /proc every 20 ms: it costs ~0.1 s a round, a fifth of a 200-feed warm round,
so its rounds are never the timed ones. Then prints the table: wall seconds per round, each as a
ratio to the network floor of the same run, peak RSS of the largest process, and the summed RSS /
PSS of the whole tree (from the memory pass).
Results stay in $BENCH_ROOT (default /tmp/feedsvc-bench). Not a test: nothing fails on a time.

Targets of the first pass: cold <= 2x the floor, warm <= 1.2x, mutated <= 1.5x, memory <= 100 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import shared_dir  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ROUNDS = ("cold", "warm", "mutated")
TARGET = {"cold": 2.0, "warm": 1.2, "mutated": 1.5}


def table(results: Path) -> str:
    recs = [json.loads(ln) for ln in results.read_text().splitlines() if ln.strip()]
    by: dict[str, dict[str, dict]] = {}
    for r in recs:
        by.setdefault(r["peer"], {})[r["round"]] = r
    floor = by.get("floor-net", {})
    size = recs[0]["size"] if recs else "?"
    out = [f"### {size}", "",
           "| peer | cold s (x floor) | warm s (x floor) | mutated s (x floor) | peak RSS MB largest (c/w/m) "
           "| feedsvc RSS / PSS sum MB (c/w/m) |",
           "|---|---:|---:|---:|---|---|"]
    for peer, rounds in by.items():
        if "once" in rounds:
            r = rounds["once"]
            pj = r.get("peer_json") or {}
            out.append(f"| {peer} | {r.get('wall_s', '?')}"
                       f"{' (' + str(pj['ms_per_feed']) + ' ms/feed)' if 'ms_per_feed' in pj else ''} | | | | |")
            continue
        cells, rss, sums = [], [], []
        for rnd in ROUNDS:
            r = rounds.get(rnd)
            if r is None:
                cells.append("–")
                rss.append("–")
                sums.append("–")
                continue
            wall = r.get("wall_s")
            f = floor.get(rnd, {}).get("wall_s")
            ratio = f" ({wall / f:.2f}x)" if wall and f and peer != "floor-net" else ""
            mark = " ✗" if ratio and wall / f > TARGET[rnd] and peer == "project" else ""
            cells.append(f"{wall}{ratio}{mark}" if r.get("rc") == 0 else f"{wall} (rc {r.get('rc')})")
            rss.append(f"{r.get('maxrss_mb', 0):.0f}")
            pj = r.get("peer_json") or {}
            sums.append(f"{pj['peak_rss_sum_mb']:.0f}/{pj['peak_pss_sum_mb']:.0f}" if "peak_pss_sum_mb" in pj else "–")
        out.append(f"| {peer} | {' | '.join(cells)} | {'/'.join(rss)} | {' · '.join(sums)} |")
    return "\n".join(out)


def merge_memory(timed: str, memory: str) -> str:
    """The timed pass's records, each feedsvc round given the memory pass's figures of that round."""
    mem = {}
    for ln in memory.splitlines():
        if ln.strip():
            r = json.loads(ln)
            if r.get("peer") == "project":
                mem[r["round"]] = r
    out = []
    for ln in timed.splitlines():
        if not ln.strip():
            continue
        r = json.loads(ln)
        m = mem.get(r.get("round")) if r.get("peer") == "project" else None
        if m is not None:
            r["peer_json"] = {**(m.get("peer_json") or {}), "memory_pass_wall_s": m.get("wall_s")}
        out.append(json.dumps(r))
    return "\n".join(out) + "\n"


def install(root: Path) -> Path:
    """This checkout installed the way a user installs it, a built wheel in a venv of its own
    (``$BENCH_ROOT/feedsvc-venv``, made once, the checkout reinstalled each run); returns its
    bin directory. Measured from an editable install in a shared interpreter instead, every
    feedsvc process started ~60 ms later (the editable import hook, the other packages' .pth
    files, and with PYTHONDONTWRITEBYTECODE set no byte-compiled modules): the benchmark's cost,
    not feedsvc's, and 5% of a warm round of 1000 feeds."""
    venv = root / "feedsvc-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", str(REPO)], check=True)
    else:
        # a dependency added since the venv was made comes in first; then the checkout itself
        subprocess.run([str(py), "-m", "pip", "install", "-q", str(REPO)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(REPO)],
                       check=True)
    return venv / "bin"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int)
    ap.add_argument("items", type=int)
    ap.add_argument("--peers", default="floor-net project")
    ap.add_argument("--floors", default="expat")
    ap.add_argument("--harness", default=os.environ.get("FEEDSVC_BENCH", str(shared_dir() / "bench")))
    ap.add_argument("--table-only", action="store_true", help="print the table of the last run")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory pass")
    a = ap.parse_args()
    root = Path(os.environ.get("BENCH_ROOT", "/tmp/feedsvc-bench"))
    results = root / "results" / f"{a.n}x{a.items}.jsonl"
    if not a.table_only:
        bindir = install(root)
        plain = f"{bindir / 'feedsvc'} --config CONFIG refresh"
        env = {**os.environ, "BENCH_ROOT": str(root), "PEERS": a.peers, "FLOORS": a.floors,
               "PATH": f"{bindir}:{os.environ.get('PATH', '')}", "PROJECT_CMD": plain}
        if not (Path(a.harness) / "run.sh").is_file():
            sys.exit(f"no benchmark harness at {a.harness} (give --harness DIR or set FEEDSVC_BENCH)")
        run_sh = [str(Path(a.harness) / "run.sh"), str(a.n), str(a.items)]
        rc = subprocess.run(run_sh, env=env).returncode
        if rc != 0:
            return rc
        timed = results.read_text()
        if not a.no_memory and "project" in a.peers.split():
            rc = subprocess.run(run_sh, env={**env, "PEERS": "project", "FLOORS": "",
                                             "PROJECT_CMD": f"{sys.executable} {REPO / 'benchmarks' / 'peakmem.py'} -- {plain}"}).returncode  # noqa: E501
            memory = results.read_text() if rc == 0 else ""
            results.write_text(merge_memory(timed, memory))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
