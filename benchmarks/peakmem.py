#!/usr/bin/env python3
"""Run a command and report its peak memory summed over all its processes (Linux /proc).

    python benchmarks/peakmem.py -- feedsvc --config config.yaml refresh

``/usr/bin/time -v`` reports the largest single process; a parse pool's workers are separate
processes, so this samples the whole process tree every 20 ms and prints, as one JSON line, the
wall time, the peak of the summed RSS, the peak of the summed PSS (shared pages divided among
the processes that share them: the fairer total) and the largest single RSS.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def _tree(root: int) -> list[int]:
    """The process and its descendants, from /proc/PID/task/TID/children (no /proc scan)."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return out


def _kb(pid: int, path: str, field: str) -> int:
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    t0 = time.monotonic()
    proc = subprocess.Popen(argv)
    peak_rss = peak_pss = peak_one = procs = 0
    while proc.poll() is None:
        pids = _tree(proc.pid)
        rss = [_kb(p, "status", "VmRSS:") for p in pids]
        pss = sum(_kb(p, "smaps_rollup", "Pss:") for p in pids)
        peak_rss = max(peak_rss, sum(rss))
        peak_pss = max(peak_pss, pss)
        peak_one = max([peak_one, *rss])
        procs = max(procs, len(pids))
        time.sleep(0.02)
    print(json.dumps({"rc": proc.returncode, "wall_s": round(time.monotonic() - t0, 2),
                      "peak_rss_sum_mb": round(peak_rss / 1024, 1), "peak_pss_sum_mb": round(peak_pss / 1024, 1),
                      "peak_rss_largest_mb": round(peak_one / 1024, 1), "processes": procs}), file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
