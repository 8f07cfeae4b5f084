#!/usr/bin/env python3
"""The first round of W ``feedsvc run`` workers on one store (SQLite or PostgreSQL), and the cost
of the store's claims. Not a test: nothing fails on a time.

    python3 benchmarks/workers_round.py CORPUS --store URL --workers W [--pg-data DIR]
    python3 benchmarks/workers_round.py --claim-bench --store URL [--store URL2 ...] [--sizes 1000 5000]

CORPUS is made by ``../shared/bench/make_corpus.py N 50 DIR``. URL is ``sqlite:////abs/path.db``
(or just ``sqlite``: a file in the work dir) or ``postgresql://USER@HOST:PORT/DB`` (an empty
database; needs psycopg, so run this with the project's venv python).

Round mode starts ``feedserver.py`` on CORPUS, writes a config (one source per feed, interval 1h,
max_items 500, ``store:`` for PostgreSQL), starts W ``feedsvc --config CFG run`` (the feedsvc on
PATH) and samples every 0.25 s: the items in the store, the server's /_stats s200, the summed RSS
of the workers and their children and, with ``--pg-data`` (the cluster's data directory), of the
postmaster and its children (this script's own sampling backend excluded). Done: every feed served
once, the item count unchanged for 3 s, atom.xml written. Prints one JSON line, then stops the
workers (SIGTERM, then SIGKILL) and the server, by pid.

``--claim-bench`` registers N sources in an empty store (one URL per size; for SQLite a file per
size is derived when one URL is given) and times ``claim`` (due_only, lease 60 s) of all of them,
``renew`` and ``release`` of that token, then 200 one-source claim + release pairs; prints
per-source microseconds (median of --repeat).

Binds 127.0.0.1 only; every loop is bounded by --max seconds or a count.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import shared_dir  # noqa: E402

BENCH = shared_dir() / "bench"
TCK = os.sysconf("SC_CLK_TCK")


# ---- /proc ------------------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                out += [int(k) for k in Path(f"/proc/{pid}/task/{t}/children").read_text().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def tree(pids: list[int]) -> list[int]:
    seen: list[int] = []
    todo = list(pids)
    while todo and len(seen) < 10000:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo += children(p)
    return seen


def rss_kb(pid: int) -> int:
    try:
        m = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


def pss_kb(pid: int) -> int:
    try:
        m = re.search(r"^Pss:\s+(\d+)", Path(f"/proc/{pid}/smaps_rollup").read_text(), re.M)
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


def stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_own(pid: int) -> float:
    """utime + stime of a live process."""
    f = stat_fields(pid)
    return (int(f[11]) + int(f[12])) / TCK if f else 0.0


def cpu_reaped(pid: int) -> float:
    """cutime + cstime: its children that ended and were waited for."""
    f = stat_fields(pid)
    return (int(f[13]) + int(f[14])) / TCK if f else 0.0


def start_time(pid: int) -> str | None:
    f = stat_fields(pid)
    return f[19] if f else None


def postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


# ---- the store --------------------------------------------------------------------------------

class ItemCounter:
    """Items in the store, read the way an outsider would (read-only)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pg = url.startswith(("postgresql:", "postgres:"))
        self.conn = None
        self.backend_pid: int | None = None
        if self.pg:
            import psycopg

            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="workers_round")
            self.backend_pid = self.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        else:
            self.path = Path(url[len("sqlite:///"):])

    def count(self) -> int:
        if self.pg:
            try:
                return int(self.conn.execute("SELECT COUNT(*) FROM item").fetchone()[0])
            except Exception:  # noqa: BLE001 - the schema is not there yet
                return -1
        if not self.path.exists():
            return -1
        try:
            c = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=1)
            try:
                return int(c.execute("SELECT COUNT(*) FROM item").fetchone()[0])
            finally:
                c.close()
        except sqlite3.Error:
            return -1

    def size_bytes(self) -> int | None:
        if self.pg:
            return int(self.conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
        total = 0
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                total += p.stat().st_size
        return total

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def atom_vs_store(url: str, atom: bytes, limit: int = 500) -> str:
    """How many of atom.xml's entry ids are among the store's newest ``limit`` items: "k/n"
    (n/n: the outputs show what the store holds now)."""
    from feedsvc.storage import open_url

    ids = re.findall(rb"<entry>\s*<id>([^<]*)</id>", atom)
    st = open_url(url, readonly=True)
    try:
        newest = {s.item.id for s in st.newest(limit)}
    finally:
        st.close()
    got = sum(1 for i in ids if html.unescape(i.decode()) in newest)
    return f"{got}/{len(ids)}"


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


# ---- round mode -------------------------------------------------------------------------------

def stop(procs: list[subprocess.Popen], extra: dict[int, str], wait: float = 15.0) -> list[str]:
    """SIGTERM every process, wait, SIGKILL what is left; then SIGKILL the descendants seen
    earlier (``extra``: pid → start time, so a reused pid is never hit) that outlived them."""
    notes = []
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.time() + wait
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            notes.append(f"pid {p.pid} ignored SIGTERM for {wait:.0f}s: killed")
            p.kill()
            p.wait(10)
    time.sleep(0.5)
    for pid, st in extra.items():
        if start_time(pid) == st:
            notes.append(f"child pid {pid} outlived its worker: killed")
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    return notes


def round_mode(a: argparse.Namespace) -> int:
    corpus = Path(a.corpus).resolve()
    root = Path(a.work)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"wr-{len(list(corpus.glob('feeds/*')))}-w{a.workers}-", dir=root))
    store = a.store[0]
    if store == "sqlite":
        store = f"sqlite:///{work / 'state' / 'feedsvc.db'}"
    pg = store.startswith(("postgresql:", "postgres:"))
    kind = "postgresql" if pg else "sqlite"
    if not pg:
        db_path = Path(store[len("sqlite:///"):])
        state_dir = db_path.parent if db_path.name == "feedsvc.db" else work / "state"
    else:
        state_dir = work / "state"
    pm = postmaster_pid(Path(a.pg_data)) if a.pg_data else None
    if a.pg_data and pm is None:
        print(f"no postmaster.pid in {a.pg_data}", file=sys.stderr)
        return 2

    srv = subprocess.Popen([sys.executable, str(BENCH / "feedserver.py"), str(corpus)],
                           stdout=subprocess.PIPE, stderr=open(work / "server.log", "w"), text=True)
    workers: list[subprocess.Popen] = []
    seen_children: dict[int, str] = {}
    counter: ItemCounter | None = None
    res: dict = {}
    try:
        line = srv.stdout.readline() if srv.stdout else ""
        if not line.startswith("PORT "):
            print(f"feedserver did not start: {line!r}", file=sys.stderr)
            return 1
        base = f"http://127.0.0.1:{int(line.split()[1])}"
        with urllib.request.urlopen(base + "/_urls", timeout=10) as r:
            urls = r.read().decode().split()
        lines = ['site:\n  title: "bench"\n  url: "http://127.0.0.1:8080/"',
                 f'output:\n  dir: "{work}/out"\n  max_items: 500', f'state_dir: "{state_dir}"',
                 'schedule:\n  interval: "1h"']
        if pg or store != f"sqlite:///{state_dir / 'feedsvc.db'}":
            lines.append(f'store: "{store}"')
        if a.config_extra:
            lines.append(a.config_extra.strip())
        lines.append("sources:")
        for i, u in enumerate(urls):
            lines.append(f'  - name: "f{i:04d}"\n    url: "{u}"')
        cfg = work / "config.yaml"
        cfg.write_text("\n".join(lines) + "\n")
        n_feeds = len(urls)
        counter = ItemCounter(store) if pg else None
        get_json(base + "/_stats?reset=1")

        pg_cpu0 = 0.0
        if pm:
            pg_cpu0 = cpu_own(pm) + cpu_reaped(pm) + sum(cpu_own(p) for p in tree(children(pm)))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("FEEDSVC_STORE", None)
        t0 = time.time()
        for i in range(a.workers):
            workers.append(subprocess.Popen(["feedsvc", "--config", str(cfg), "run"], cwd=work, env=env,
                                            stdout=subprocess.DEVNULL, stderr=open(work / f"worker{i}.log", "w")))
        if counter is None:
            counter = ItemCounter(store)
        atom = work / "out" / "atom.xml"
        peak = peak_pg = peak_pg_pss = peak_sum = 0.0
        peak_pg_procs = 0
        first = None
        last_n, stable_since = -1, time.time()
        served = 0
        samples = 0
        while time.time() - t0 < a.max:
            time.sleep(0.25)
            samples += 1
            wp = tree([w.pid for w in workers if w.poll() is None])
            for p in wp:
                if p not in seen_children and p not in (w.pid for w in workers):
                    st = start_time(p)
                    if st:
                        seen_children[p] = st
            mb = sum(rss_kb(p) for p in wp) / 1024
            peak = max(peak, mb)
            mb_pg = 0.0
            if pm:
                pp = [p for p in tree([pm]) if p != counter.backend_pid]
                mb_pg = sum(rss_kb(p) for p in pp) / 1024
                peak_pg = max(peak_pg, mb_pg)
                peak_pg_procs = max(peak_pg_procs, len(pp))
                if samples % 4 == 0:        # PSS (shared buffers counted once) once a second
                    peak_pg_pss = max(peak_pg_pss, sum(pss_kb(p) for p in pp) / 1024)
            peak_sum = max(peak_sum, mb + mb_pg)
            served = get_json(base + "/_stats").get("s200", 0)
            n = counter.count()
            if n != last_n:
                last_n, stable_since = n, time.time()
            if all(w.poll() is not None for w in workers):
                print("every worker exited", file=sys.stderr)
                break
            # a publish that would not change the newest items is skipped, so atom.xml may
            # predate the last store write (as in daemon_round.py)
            if served >= n_feeds and atom.exists() and n > 0 and time.time() - stable_since > 3:
                first = max(stable_since, atom.stat().st_mtime) - t0
                break
        wall = time.time() - t0
        # CPU: each worker, its live descendants, and the descendants it already reaped
        live = tree([w.pid for w in workers if w.poll() is None])
        cpu = sum(cpu_own(p) for p in live) + sum(cpu_reaped(w.pid) for w in workers if w.poll() is None)
        pg_cpu = None
        if pm:
            pg_cpu = cpu_own(pm) + cpu_reaped(pm) + sum(cpu_own(p) for p in tree(children(pm))) - pg_cpu0
        stats = get_json(base + "/_stats")
        res = {"feeds": n_feeds, "workers": a.workers, "store": kind,
               "first_round_s": round(first, 2) if first is not None else None,
               "peak_rss_mb": round(peak, 1),
               "peak_rss_pg_mb": round(peak_pg, 1) if pm else None,
               "peak_pss_pg_mb": round(peak_pg_pss, 1) if pm else None,
               "peak_pg_procs": peak_pg_procs if pm else None,
               "peak_rss_sum_mb": round(peak_sum, 1),
               "cpu_s": round(cpu, 2), "cpu_pg_s": round(pg_cpu, 2) if pg_cpu is not None else None,
               "items_stored": last_n, "s200": stats.get("s200", 0), "s304": stats.get("s304", 0),
               "requests": stats.get("requests", 0), "wall_s": round(wall, 1)}
        res["last_store_change_s"] = round(stable_since - t0, 2)
        if atom.exists():
            body = atom.read_bytes()
            res["atom_entries"] = len(re.findall(rb"<entry[\s>]", body))
            res["atom_mtime_s"] = round(atom.stat().st_mtime - t0, 2)
            res["atom_in_store_newest"] = atom_vs_store(store, body)
        if a.size:
            res["store_bytes"] = counter.size_bytes()
        logs = "".join((work / f"worker{i}.log").read_text(errors="replace") for i in range(a.workers))
        res["log_tracebacks"] = logs.count("Traceback")
        res["log_errors"] = len(re.findall(r"\bERROR\b", logs))
        res["log_warnings"] = len(re.findall(r"\bWARNING\b", logs))
        res["publishes"] = len(re.findall(r"INFO: published \d+ items", logs))
        res["publish_jobs_skipped"] = len(re.findall(r"_publish_job .*skipped", logs))
        res["work"] = str(work)
        if first is None:
            res["note"] = f"not done within {a.max:.0f}s"
    finally:
        if counter is not None:
            counter.close()
        notes = stop(workers, seen_children)
        if srv.poll() is None:
            srv.terminate()
            try:
                srv.wait(10)
            except subprocess.TimeoutExpired:
                srv.kill()
                srv.wait(5)
        if res:
            if notes:
                res["stop_notes"] = notes
            res["worker_rc"] = [w.returncode for w in workers]
            print(json.dumps(res), flush=True)
    return 0 if res.get("first_round_s") is not None else 1


# ---- claim bench ------------------------------------------------------------------------------

def claim_bench(a: argparse.Namespace) -> int:
    from feedsvc.storage import Worker, open_url

    urls = list(a.store)
    if len(urls) == 1 and len(a.sizes) > 1:
        u = urls[0]
        if u == "sqlite" or u.startswith("sqlite:"):
            base = Path(tempfile.mkdtemp(prefix="claims-", dir=a.work)) if u == "sqlite" else Path(u[len("sqlite:///"):])
            urls = [f"sqlite:///{base / f'claims-{n}.db'}" if u == "sqlite" else f"sqlite:///{base}.{n}"
                    for n in a.sizes]
        else:
            print("PostgreSQL: give one empty database (--store) per size", file=sys.stderr)
            return 2
    if len(urls) != len(a.sizes):
        print("one --store per size", file=sys.stderr)
        return 2
    w = Worker(id=f"{socket.gethostname()}:{os.getpid()}:bench", host=socket.gethostname(), pid=os.getpid())
    out = []
    for n, url in zip(a.sizes, urls):
        kind = "postgresql" if url.startswith(("postgresql:", "postgres:")) else "sqlite"
        st = open_url(url)
        try:
            names = [f"s{i:05d}" for i in range(n)]
            t = time.perf_counter()
            st.register([(nm, "feed", f"http://127.0.0.1:9/{nm}.xml") for nm in names])
            reg = time.perf_counter() - t
            tc, tr, tl = [], [], []
            for _ in range(a.repeat):
                now = datetime.now(timezone.utc)
                t = time.perf_counter()
                c = st.claim(w, names, now, 60, due_only=True)
                tc.append(time.perf_counter() - t)
                if len(c.names) != n:
                    print(f"claim got {len(c.names)} of {n}", file=sys.stderr)
                t = time.perf_counter()
                st.renew([c.token], now, 60)
                tr.append(time.perf_counter() - t)
                t = time.perf_counter()
                st.release([c.token])
                tl.append(time.perf_counter() - t)
            one = []
            got = 0
            for _ in range(a.repeat):
                t = time.perf_counter()
                for i in range(200):
                    c = st.claim(w, [names[i % n]], datetime.now(timezone.utc), 60, due_only=True)
                    got += len(c.names)
                    st.release([c.token])
                one.append(time.perf_counter() - t)
            if got != 200 * a.repeat:
                print(f"one-source claims got {got} of {200 * a.repeat}", file=sys.stderr)
            med = statistics.median
            rec = {"store": kind, "sources": n,
                   "register_us_per_source": round(reg / n * 1e6, 2),
                   "claim_us_per_source": round(med(tc) / n * 1e6, 2),
                   "renew_us_per_source": round(med(tr) / n * 1e6, 2),
                   "release_us_per_source": round(med(tl) / n * 1e6, 2),
                   "claim_all_ms": round(med(tc) * 1e3, 2), "renew_all_ms": round(med(tr) * 1e3, 2),
                   "release_all_ms": round(med(tl) * 1e3, 2),
                   "one_source_claim_release_us": round(med(one) / 200 * 1e6, 1),
                   "repeat": a.repeat}
        finally:
            st.close()
        out.append(rec)
        print(json.dumps(rec), flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?")
    ap.add_argument("--store", action="append", required=True,
                    help="sqlite:////abs/path.db, 'sqlite' (a file in the work dir) or postgresql://USER@HOST:PORT/DB")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--pg-data", help="the PostgreSQL data directory (its postmaster.pid): sum its processes' RSS")
    ap.add_argument("--work", default=os.environ.get("WORKERS_ROUND_WORK", "/tmp/workers-round"))
    ap.add_argument("--max", type=float, default=1500, help="give up after this many seconds")
    ap.add_argument("--size", action="store_true", help="also report the store's size at the end")
    ap.add_argument("--config-extra", default="", help="top-level YAML appended to the config")
    ap.add_argument("--claim-bench", action="store_true")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    if a.claim_bench:
        Path(a.work).mkdir(parents=True, exist_ok=True)
        return claim_bench(a)
    if not a.corpus:
        ap.error("CORPUS is needed (or --claim-bench)")
    return round_mode(a)


if __name__ == "__main__":
    sys.exit(main())
