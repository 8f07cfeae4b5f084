#!/usr/bin/env python3
"""Where the time of one COLD ``feedsvc refresh`` round goes, per thread and per process.

    python3 benchmarks/timeline.py 200              # ~30-60 s on the shared 2-core VM
    python3 benchmarks/timeline.py 1000             # the issue's size, ~1.5-2 min
    python3 benchmarks/timeline.py 200 --plain      # the same round without instrumentation
    python3 benchmarks/timeline.py 200 --coarse     # stages only, not normalise's insides
    python3 benchmarks/timeline.py 200 --pyspy      # GIL profile (py-spy --native; no stages)
    python3 benchmarks/timeline.py 200 --levers     # + micro-benchmarks of the levers

Makes (or reuses) a corpus with ../shared/bench/make_corpus.py (N feeds x --items, seed 42,
cached under --root), serves it with ../shared/bench/feedserver.py in a process of its own on
127.0.0.1 (as the harness does), writes a config with one source per feed (per-host politeness
lifted: every feed is on one loopback host), and runs ``Engine.refresh`` in this process as
``feedsvc refresh`` does (arenas capped, CLI logging), into an empty state directory.

Instrumentation is added at run time, in this script only: functions of feedsvc, requests,
pickle and sqlite3 are wrapped with recorders that note, per thread, wall time
(``perf_counter``) and thread CPU time (``thread_time``), inclusive and exclusive of the wrapped
calls inside them, and accumulate exclusive time into 50 ms buckets (the timeline). The parse
worker process is started as ``timeline.py --worker`` (the same ``worker_main`` with the same
recorders) and writes its figures to a file when its input ends. Nothing under feedsvc/ is
changed. wall - CPU of a stage that is pure CPU work is time runnable but not running: waiting
for the interpreter lock, or for a core (the worker process, one busy thread, shows the core
share alone).

``--pyspy`` runs the round under ``py-spy record --native --idle --threads`` (py-spy from
$PYSPY, else /tmp/prof-venv/bin/py-spy, else PATH) and counts, per thread, the samples whose
native stack is in ``take_gil`` (waiting for the interpreter lock), blocked in a system call,
or running. Not a test: nothing fails on a time.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
from _shared import shared_dir  # noqa: E402

BENCH = shared_dir() / "bench"
BUCKET = 0.05                     # seconds per timeline bucket
perf = time.perf_counter          # CLOCK_MONOTONIC on Linux: one time base for both processes
cpu = time.thread_time

# ---- the recorder ---------------------------------------------------------------------------

T0 = float(os.environ.get("TIMELINE_T0", "0")) or perf()
_tls = threading.local()
_threads: list[ThreadRec] = []
_reg = threading.Lock()


def role_of(name: str) -> str:
    if name.startswith("fetch"):
        return "fetch threads"
    if name.startswith("parse_"):
        return "parse thread"
    if name == "parse-worker-reader":
        return "worker reader"
    if name == "MainThread":
        return "worker process" if os.environ.get("TIMELINE_WORKER") else "main thread"
    return name


class ThreadRec:
    __slots__ = ("name", "role", "stack", "agg", "buckets", "total", "ctx")

    def __init__(self) -> None:
        self.name = threading.current_thread().name
        self.role = role_of(self.name)
        self.stack: list[list] = []
        self.agg: dict[str, list] = {}
        self.buckets: dict[str, dict[int, float]] = {}
        self.total: tuple[float, float, float, float] | None = None   # wall, cpu, start, end
        self.ctx: tuple[int, int] = (0, 0)

    def as_json(self) -> dict:
        return {"name": self.name, "role": self.role, "agg": self.agg, "total": self.total, "ctx": self.ctx,
                "buckets": {k: {str(i): v for i, v in b.items()} for k, b in self.buckets.items()}}


def _rec() -> ThreadRec:
    r = getattr(_tls, "r", None)
    if r is None:
        r = ThreadRec()
        _tls.r = r
        with _reg:
            _threads.append(r)
    return r


def _seg(r: ThreadRec, name: str, s: float, e: float) -> None:
    if e <= s:
        return
    b = r.buckets.get(name)
    if b is None:
        b = r.buckets[name] = {}
    i, j = int((s - T0) / BUCKET), int((e - T0) / BUCKET)
    if i == j:
        b[i] = b.get(i, 0.0) + (e - s)
        return
    for k in range(i, j + 1):
        lo, hi = max(s, T0 + k * BUCKET), min(e, T0 + (k + 1) * BUCKET)
        if hi > lo:
            b[k] = b.get(k, 0.0) + (hi - lo)


def enter(name: str) -> ThreadRec:
    r = _rec()
    w, c = perf(), cpu()
    st = r.stack
    if st:
        p = st[-1]
        _seg(r, p[0], p[5], w)
    st.append([name, w, c, 0.0, 0.0, w])
    return r


def leave(r: ThreadRec) -> None:
    w, c = perf(), cpu()
    name, w0, c0, cw, cc, seg = r.stack.pop()
    dw, dc = w - w0, c - c0
    _seg(r, name, seg, w)
    a = r.agg.get(name)
    if a is None:
        a = r.agg[name] = [0, 0.0, 0.0, 0.0, 0.0]    # calls, wall, cpu, self wall, self cpu
    a[0] += 1
    a[1] += dw
    a[2] += dc
    a[3] += dw - cw
    a[4] += dc - cc
    if r.stack:
        p = r.stack[-1]
        p[3] += dw
        p[4] += dc
        p[5] = w


def wrap(owner: object, attr: str, name: str) -> None:
    f = getattr(owner, attr)
    if getattr(f, "_timeline", False):
        return

    @functools.wraps(f)
    def w(*a, **k):  # type: ignore[no-untyped-def]
        r = enter(name)
        try:
            return f(*a, **k)
        finally:
            leave(r)

    w._timeline = True  # type: ignore[attr-defined]
    setattr(owner, attr, w)


def _thread_totals() -> None:
    """Per thread: wall and CPU of its whole life, context switches (for the hand-off count)."""
    orig = threading.Thread.run

    def run(self):  # type: ignore[no-untyped-def]
        r = _rec()
        w0, c0 = perf(), cpu()
        try:
            orig(self)
        finally:
            r.total = (perf() - w0, cpu() - c0, w0 - T0, perf() - T0)
            r.ctx = _ctx_switches()

    threading.Thread.run = run  # type: ignore[method-assign]


def _ctx_switches() -> tuple[int, int]:
    try:
        text = Path("/proc/thread-self/status").read_text()
    except OSError:
        return (0, 0)
    vol = int(re.search(r"voluntary_ctxt_switches:\s+(\d+)", text).group(1))        # type: ignore[union-attr]
    invol = int(re.search(r"nonvoluntary_ctxt_switches:\s+(\d+)", text).group(1))   # type: ignore[union-attr]
    return (vol, invol)


# ---- what is wrapped ------------------------------------------------------------------------

def instrument_parse(fine: bool) -> None:
    """The parse job (both processes): outline, parse, fingerprints, normalise, pickling."""
    import pickle

    import feedsvc.app.workers as workers
    import feedsvc.parsing.document as document
    import feedsvc.parsing.fast as fast
    import feedsvc.parsing.incremental as inc
    from feedsvc.items import keys, normalise

    wrap(pickle, "dumps", "pickle.dumps")
    wrap(pickle, "loads", "pickle.loads")
    wrap(workers, "parse_and_normalise", "parse job (other)")
    wrap(inc, "_outline", "outline (expat spans)")
    wrap(document, "parse_document", "parse: dispatch")
    wrap(fast, "parse_fast", "parse: fast path")
    wrap(document, "parse_feed", "parse: feedparser")
    wrap(inc, "span_fingerprints", "entry fingerprints")
    wrap(inc, "entry_fingerprints", "entry fingerprints")
    wrap(normalise, "normalise_all", "normalise (other)")
    if not fine:
        return
    wrap(normalise, "sanitise_html", "norm: sanitise (nh3)")
    wrap(normalise, "plain_text", "norm: plain_text (title, names, cats)")
    wrap(normalise, "absolute_url", "norm: URLs")
    wrap(normalise, "canonical_link", "norm: URLs")
    wrap(keys, "canonical_link", "norm: URLs")
    wrap(keys, "link_identity", "norm: URLs")
    wrap(normalise, "entry_key", "norm: entry key")
    wrap(normalise, "published_id", "norm: id (uuid5)")
    wrap(normalise, "content_hash", "norm: content hash (json+sha)")
    wrap(normalise, "dedup_keys", "norm: match keys")
    wrap(normalise, "with_derived_keys", "norm: match keys")
    wrap(keys, "text_of", "norm: fp text (2nd nh3 pass)")
    wrap(keys, "_norm_head", "norm: fp normalise (NFKC, regex)")
    wrap(normalise, "normalise_origin", "norm: origin")


def instrument_main(fine: bool) -> dict:
    """The refreshing process: fetch, hand-offs, decide, store, publish."""
    import requests

    import feedsvc.app.engine as engine
    import feedsvc.app.workers as workers
    import feedsvc.items.decide as decide
    import feedsvc.sources.fetch as fetch
    import feedsvc.storage.sql as sql
    import feedsvc.storage.sql_tx as sql_tx
    import feedsvc.storage.sqlite as sqlite_mod

    instrument_parse(fine)
    E = engine.Engine
    wrap(E, "_refresh_source", "source: engine (hash, state, job)")
    wrap(fetch.HttpFetcher, "fetch", "fetch: other (headers, release)")
    wrap(requests.PreparedRequest, "prepare", "fetch: prepare request")
    wrap(requests.Session, "send", "fetch: send + response head")
    wrap(fetch.HttpFetcher, "_read_body", "fetch: body read + gunzip")
    wrap(workers.ParsePool, "run", "pool: wait for the parse")
    wrap(workers.ParsePool, "_submit", "pool: submit")
    wrap(workers._Worker, "submit", "pool: send to worker (pipe)")
    wrap(workers.ParsePool, "_parse_timed", "parse job (other)")
    for n in ("decide", "lookups", "resolve"):
        wrap(decide, n, "decide")
    for n in ("first_seen_order", "hold_back", "count_items", "tally", "decide_source"):
        wrap(engine, n, "decide")
    wrap(sql.SqlStorage, "seen", "store: seen read")
    wrap(sql_tx.Transaction, "resolve", "store: tx reads")
    wrap(sql_tx.Transaction, "snapshot", "store: tx reads")
    wrap(sql_tx.Transaction, "apply", "store: apply (python)")
    wrap(sql_tx.Transaction, "_set_seen", "store: apply (python)")
    wrap(sql_tx, "item_to_json", "store: item JSON encode")
    wrap(sql_tx, "bump", "store: apply (python)")
    wrap(E, "register", "main: register, claim, states")
    wrap(sql.SqlStorage, "claim", "main: register, claim, states")
    wrap(sql.SqlStorage, "states", "main: register, claim, states")
    wrap(sql.SqlStorage, "next_run", "main: register, claim, states")
    wrap(E, "_flush", "main: unchanged states")
    wrap(E, "_end", "main: end round (pool stop, trim)")
    wrap(E, "publish", "publish")
    wrap(E, "_record_failure", "source failed")

    # SQLite: every statement (the module's sqlite3.connect gives a timed connection) ...
    import sqlite3

    class TimedCursor(sqlite3.Cursor):
        def execute(self, s, p=()):  # type: ignore[no-untyped-def]
            r = enter(_sql_label(s))
            try:
                return super().execute(s, p)
            finally:
                leave(r)

        def executemany(self, s, p):  # type: ignore[no-untyped-def]
            r = enter(_sql_label(s) + " (executemany)")
            try:
                return super().executemany(s, p)
            finally:
                leave(r)

    class TimedConnection(sqlite3.Connection):
        def execute(self, s, p=()):  # type: ignore[no-untyped-def]
            r = enter(_sql_label(s))
            try:
                return super().execute(s, p)
            finally:
                leave(r)

        def cursor(self, factory=TimedCursor):  # type: ignore[no-untyped-def]
            return super().cursor(factory)

    class Shim:
        def __getattr__(self, n):  # type: ignore[no-untyped-def]
            return getattr(sqlite3, n)

        @staticmethod
        def connect(*a, **k):  # type: ignore[no-untyped-def]
            k.setdefault("factory", TimedConnection)
            return sqlite3.connect(*a, **k)

    sqlite_mod.sqlite3 = Shim()   # type: ignore[assignment]

    # ... and the writer lock: time waiting for it, and the transaction while it is held
    stats = {"log_records": 0}

    class TimedLock:
        def __init__(self) -> None:
            self._l = threading.Lock()
            self._held: list[ThreadRec] = []

        def __enter__(self):  # type: ignore[no-untyped-def]
            r = enter("store: lock wait")
            self._l.acquire()
            leave(r)
            self._held.append(enter("store: tx (BEGIN, lease, COMMIT, engine)"))
            return self

        def __exit__(self, *exc):  # type: ignore[no-untyped-def]
            leave(self._held.pop())
            self._l.release()
            return False

    orig_init = sql.SqlStorage.__init__

    def init(self, *a, **k):  # type: ignore[no-untyped-def]
        orig_init(self, *a, **k)
        self._write_lock = TimedLock()

    sql.SqlStorage.__init__ = init  # type: ignore[method-assign]

    import logging

    orig_handle = logging.Logger.handle

    def handle(self, record):  # type: ignore[no-untyped-def]
        stats["log_records"] += 1
        return orig_handle(self, record)

    logging.Logger.handle = handle  # type: ignore[method-assign]
    return stats


_SQL_CACHE: dict[str, str] = {}


def _sql_label(s: str) -> str:
    lab = _SQL_CACHE.get(s)
    if lab is None:
        t = " ".join(s.split())
        m = re.match(r"(INSERT INTO|UPDATE|DELETE FROM|SELECT .*? FROM|BEGIN|COMMIT|ROLLBACK|PRAGMA)\s*(\w+)?", t)
        if m:
            verb = m.group(1).split()[0]
            lab = f"sqlite: {verb} {m.group(2) or ''}".rstrip()
            if verb == "UPDATE" and "present" in t and "WHERE pk IN" in t:
                lab += " (present flags)"
            elif verb == "UPDATE" and "rev" in t:
                lab += " (rev)"
        else:
            lab = "sqlite: " + t[:20]
        _SQL_CACHE[s] = lab
    return lab


# ---- levers tried in a real round (this script only) ----------------------------------------

def install_levers(levers: str, worker: bool = False) -> None:
    """Replace feedsvc functions at run time with the variants the report weighs. Each gives the
    same stored items on the corpus (checked by ``--levers``: same bytes, same hashes)."""
    chosen = {x.strip() for x in levers.split(",") if x.strip()}
    unknown = chosen - {"regex-fp", "no-inline"}
    if unknown:
        raise SystemExit(f"unknown lever(s): {', '.join(sorted(unknown))}")
    if "regex-fp" in chosen:
        import html as _html

        from feedsvc.items import keys

        tag = re.compile(r"<(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")

        def text_of(h: str) -> str:
            if not h:
                return ""
            return keys._URL_IN_TEXT.sub(" ", _html.unescape(tag.sub("", h)))

        keys.text_of = text_of
    if "no-inline" in chosen and not worker:
        import feedsvc.app.workers as workers

        workers.INLINE_SHARE = 0.0


# ---- the parse worker process -----------------------------------------------------------------

def worker_entry() -> None:
    """``timeline.py --worker``: ``worker_main`` with the parse recorders; figures to a file."""
    install_levers(os.environ.get("TIMELINE_LEVERS", ""), worker=True)
    if os.environ.get("TIMELINE_INSTRUMENT", "1") == "1":
        instrument_parse(os.environ.get("TIMELINE_FINE") == "1")
    from feedsvc.app.workers import worker_main

    r = _rec()
    w0, c0 = perf(), cpu()
    worker_main()
    r.total = (perf() - w0, cpu() - c0, w0 - T0, perf() - T0)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    r.ctx = (ru.ru_nvcsw, ru.ru_nivcsw)
    out = os.environ.get("TIMELINE_WORKER_OUT")
    if out:
        Path(out).with_name(f"{Path(out).stem}-{os.getpid()}.json").write_text(json.dumps({
            "pid": os.getpid(), "threads": [t.as_json() for t in _threads],
            "rusage": {"utime": ru.ru_utime, "stime": ru.ru_stime}}))


def redirect_worker(worker_out: Path, fine: bool, instrument: bool = True, levers: str = "") -> None:
    """Start the parse worker as ``timeline.py --worker`` (same interpreter, same env)."""
    orig = subprocess.Popen.__init__

    def init(self, args, *a, **k):  # type: ignore[no-untyped-def]
        if isinstance(args, list) and len(args) == 3 and args[1] == "-c" and "worker_main" in args[2]:
            args = [args[0], str(Path(__file__).resolve()), "--worker"]
            env = dict(k.get("env") or os.environ)
            env.update(TIMELINE_WORKER="1", TIMELINE_T0=repr(T0), TIMELINE_WORKER_OUT=str(worker_out),
                       TIMELINE_FINE="1" if fine else "0", TIMELINE_INSTRUMENT="1" if instrument else "0",
                       TIMELINE_LEVERS=levers)
            k["env"] = env
        orig(self, args, *a, **k)

    subprocess.Popen.__init__ = init  # type: ignore[method-assign]


# ---- corpus, server, config --------------------------------------------------------------------

def corpus(root: Path, n: int, items: int, seed: int) -> Path:
    out = root / f"corpus-{n}x{items}-s{seed}"
    if not (out / "manifest.json").exists():
        subprocess.run([sys.executable, str(BENCH / "make_corpus.py"), str(n), str(items), str(out),
                        "--seed", str(seed)], check=True, capture_output=True)
    return out


def start_server(corpus_dir: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, str(BENCH / "feedserver.py"), str(corpus_dir), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("PORT"):
            return proc, int(line.split()[1])
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("feedserver.py did not start")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def proc_cpu(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def write_config(work: Path, port: int, corpus_dir: Path) -> Path:
    names = sorted(p.stem for p in (corpus_dir / "feeds").glob("*.xml"))
    lines = ["site:", '  title: "bench"', '  url: "http://127.0.0.1:8080/"',
             "output:", f'  dir: "{work / "out"}"', "  max_items: 500",
             f'state_dir: "{work / "state"}"', "schedule:", '  interval: "1h"',
             "fetch:", "  per_host:", "    concurrency: 8", "    spacing: 0", "sources:"]
    for n in names:
        lines += [f'  - name: "{n}"', f'    url: "http://127.0.0.1:{port}/feeds/{n}.xml"']
    p = work / "config.yaml"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def busy_others(exclude: set[int]) -> list[str]:
    """Other processes using CPU now (the shared machine's load), sampled over 0.5 s."""
    def snap() -> dict[int, tuple[float, str]]:
        out = {}
        for d in Path("/proc").iterdir():
            if d.name.isdigit() and int(d.name) not in exclude:
                try:
                    out[int(d.name)] = (proc_cpu(int(d.name)), (d / "comm").read_text().strip())
                except (OSError, IndexError, ValueError):
                    pass
        return out
    a = snap()
    time.sleep(0.5)
    b = snap()
    busy = [(b[p][0] - a[p][0], b[p][1]) for p in b if p in a and b[p][0] - a[p][0] > 0.05]
    return [f"{name} {100 * d / 0.5:.0f}%" for d, name in sorted(busy, reverse=True)[:5]]


# ---- one round --------------------------------------------------------------------------------

def run_round(args: argparse.Namespace) -> dict:
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    corpus_dir = corpus(root, args.feeds, args.items, args.seed)
    work = root / f"run-{os.getpid()}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    worker_out = work / "worker.json"
    stats: dict = {}
    instrumented = not args.plain and not args.pyspy
    install_levers(args.lever)
    if instrumented:
        stats = instrument_main(fine=not args.coarse)
        _thread_totals()
    if instrumented or args.lever:
        redirect_worker(worker_out, fine=not args.coarse, instrument=instrumented, levers=args.lever)
    server, port = start_server(corpus_dir)
    try:
        cfg_path = write_config(work, port, corpus_dir)
        before_load, others = loadavg(), busy_others({os.getpid(), server.pid})
        from feedsvc.app import memory
        from feedsvc.app.cli import setup_logging
        from feedsvc.app.engine import Engine, select_sources
        from feedsvc.config import load_config

        memory.cap_arenas()
        setup_logging(0, 0)
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        ruc0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        srv0 = proc_cpu(server.pid)
        main = _rec()
        w0, c0 = perf(), cpu()
        r = enter("main: config, engine") if instrumented else None
        config = load_config(cfg_path)
        sources = select_sources(config, None)
        engine = Engine(config)
        if r:
            leave(r)
        t_round = perf()
        try:
            report = engine.refresh(sources)
        finally:
            t_end = perf()
            in_workers = engine.pool.in_workers
            engine.close()
        wall = perf() - w0
        main.total = (wall, cpu() - c0, w0 - T0, perf() - T0)
        main.ctx = _ctx_switches()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        ruc = resource.getrusage(resource.RUSAGE_CHILDREN)   # the worker (waited for); not the server
        srv = proc_cpu(server.pid) - srv0
        after_load = loadavg()
    finally:
        stop(server)
    failed = [o for o in report.outcomes if o.status == "error"]
    new = sum(o.new for o in report.outcomes)
    workers_json = [json.loads(p.read_text()) for p in sorted(work.glob("worker-*.json"))]
    res = {
        "feeds": args.feeds, "items": args.items, "levers": args.lever, "mode": "plain" if not instrumented else
        ("coarse" if args.coarse else "fine"),
        "wall": wall, "round_wall": t_end - t_round, "publish_wall": None,
        "main_user": ru1.ru_utime - ru0.ru_utime, "main_sys": ru1.ru_stime - ru0.ru_stime,
        "children_user": ruc.ru_utime - ruc0.ru_utime, "children_sys": ruc.ru_stime - ruc0.ru_stime, "server_cpu": srv,
        "jobs_in_worker": in_workers, "new": new, "failed": len(failed),
        "published": report.published.items if report.published else None,
        "load_before": before_load, "load_after": after_load, "others": others,
        "log_records": stats.get("log_records"),
        "threads": [t.as_json() for t in _threads], "worker": workers_json,
    }
    if failed:
        print(f"warning: {len(failed)} sources failed, e.g. {failed[0].name}: {failed[0].error}", file=sys.stderr)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return res


# ---- the report -------------------------------------------------------------------------------

GROUPS = [  # (stage group, labels starting with)
    ("fetch: requests + socket (prepare, send, headers)", ("fetch: prepare", "fetch: send", "fetch: other")),
    ("fetch: body read + gunzip", ("fetch: body",)),
    ("engine per source (hash, state, job, outcome)", ("source: engine",)),
    ("hand-off: wait for the parse result", ("pool: wait",)),
    ("hand-off: submit (queue, pipe write)", ("pool: submit", "pool: send")),
    ("pickling (jobs and results)", ("pickle.",)),
    ("outline (expat spans) + entry fingerprints", ("outline", "entry fingerprints")),
    ("parse (fast path / feedparser)", ("parse: ",)),
    ("normalise: sanitise (nh3) summary + content", ("norm: sanitise",)),
    ("normalise: fingerprint text (2nd nh3 pass)", ("norm: fp text",)),
    ("normalise: fingerprint normalise (NFKC, regex)", ("norm: fp normalise",)),
    ("normalise: URLs (absolute, canonical)", ("norm: URLs",)),
    ("normalise: keys, id, content hash", ("norm: match", "norm: entry", "norm: id", "norm: content")),
    ("normalise: plain text (titles, names, categories)", ("norm: plain",)),
    ("normalise: the rest (Item, dates, loops)", ("normalise (other)", "norm: origin")),
    ("parse job: the rest", ("parse job",)),
    ("decide (lookups, decide, resolve, state)", ("decide",)),
    ("store: seen read (before the job)", ("store: seen",)),
    ("store: waiting for the writer lock", ("store: lock wait",)),
    ("store: item JSON encode", ("store: item JSON",)),
    ("store: SQLite INSERT item", ("sqlite: INSERT item",)),
    ("store: SQLite INSERT dkey (executemany)", ("sqlite: INSERT dkey",)),
    ("store: SQLite seen rows", ("sqlite: INSERT seen", "sqlite: SELECT seen", "sqlite: DELETE seen")),
    ("store: SQLite COMMIT", ("sqlite: COMMIT",)),
    ("store: SQLite other statements", ("sqlite:",)),
    ("store: transaction, Python (apply, reads, BEGIN..COMMIT glue)", ("store:",)),
    ("main: config, register, claim, states", ("main: config", "main: register")),
    ("main: end of round (unchanged states, pool stop, trim)", ("main: unchanged", "main: end")),
    ("publish (render, write)", ("publish",)),
]


def group_of_label(label: str) -> str:
    for g, prefixes in GROUPS:
        if label.startswith(prefixes):
            return g
    return "other: " + label


def summarise(res: dict) -> dict:
    """(group, where) → calls, self wall, self cpu; per-thread-role totals; worker totals."""
    feeds = res["feeds"]
    rows: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    roles: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0, 0])  # n, wall, cpu, tracked, vol, invol
    threads = [("main", t) for t in res["threads"]] + [("worker", t) for w in res["worker"] for t in w["threads"]]
    for proc, t in threads:
        where = "worker process" if proc == "worker" else t["role"]
        for label, (n, _w, _c, sw, sc) in t["agg"].items():
            row = rows[(group_of_label(label), where)]
            row[0] += n
            row[1] += sw
            row[2] += sc
        ro = roles[where]
        ro[0] += 1
        if t["total"]:
            ro[1] += t["total"][0]
            ro[2] += t["total"][1]
        ro[3] += sum(a[3] for a in t["agg"].values() if True)   # self wall summed = tracked wall
        ro[4] += t["ctx"][0] if t["ctx"] else 0
        ro[5] += t["ctx"][1] if t["ctx"] else 0
    return {"rows": rows, "roles": roles, "feeds": feeds}


def timeline_text(res: dict, cols: int = 24) -> list[str]:
    """Per thread group, the dominant stage in each of ``cols`` slices of the round."""
    start, end = None, 0.0
    groups: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
    for proc, threads in (("main", res["threads"]), *(("worker", w["threads"]) for w in res["worker"])):
        for t in threads:
            where = "worker process" if proc == "worker" else t["role"]
            for label, b in t["buckets"].items():
                g = group_of_label(label)
                for i, v in b.items():
                    groups[where][g][int(i)] += v
                    start = int(i) if start is None else min(start, int(i))
                    end = max(end, int(i))
    if start is None:
        return []
    # the round: from the main thread's first bucket to its last
    span = end - start + 1
    per = max(1, -(-span // cols))
    letters: dict[str, str] = {}
    letters.update({
        "fetch: requests + socket (prepare, send, headers)": "F", "fetch: body read + gunzip": "B",
        "engine per source (hash, state, job, outcome)": "E", "hand-off: wait for the parse result": "w",
        "hand-off: submit (queue, pipe write)": "s", "pickling (jobs and results)": "k",
        "outline (expat spans) + entry fingerprints": "o", "parse (fast path / feedparser)": "P",
        "normalise: sanitise (nh3) summary + content": "N", "normalise: fingerprint text (2nd nh3 pass)": "T",
        "normalise: fingerprint normalise (NFKC, regex)": "t", "normalise: URLs (absolute, canonical)": "U",
        "normalise: keys, id, content hash": "K", "normalise: plain text (titles, names, categories)": "x",
        "normalise: the rest (Item, dates, loops)": "n", "parse job: the rest": "j",
        "decide (lookups, decide, resolve, state)": "D",
        "store: seen read (before the job)": "r", "store: waiting for the writer lock": "L",
        "store: item JSON encode": "J", "store: SQLite INSERT item": "I", "store: SQLite INSERT dkey (executemany)": "Y",
        "store: SQLite seen rows": "Z", "store: SQLite COMMIT": "C", "store: SQLite other statements": "Q",
        "store: transaction, Python (apply, reads, BEGIN..COMMIT glue)": "A",
        "main: config, register, claim, states": "M", "main: end of round (unchanged states, pool stop, trim)": "e",
        "publish (render, write)": "p"})
    n_threads = defaultdict(int)
    for proc, threads in (("main", res["threads"]), *(("worker", w["threads"]) for w in res["worker"])):
        for t in threads:
            n_threads["worker process" if proc == "worker" else t["role"]] += 1
    out = [f"one column = {per * BUCKET:.2f} s; a letter: the stage holding most of that thread group's time "
           f"in the slice ('.': under 5% of the group's thread time tracked), then the group's busy share "
           f"in tenths (0-9, * = all) of its threads' time"]
    for where in ("main thread", "fetch threads", "parse thread", "worker reader", "worker process"):
        if where not in groups:
            continue
        line, busy = [], []
        cap = per * BUCKET * n_threads[where]
        for c in range(cols):
            tot: dict[str, float] = defaultdict(float)
            for g, b in groups[where].items():
                for i in range(start + c * per, start + (c + 1) * per):
                    tot[g] += b.get(i, 0.0)
            share = sum(tot.values()) / cap if tot else 0.0
            busy.append("*" if share >= 0.95 else str(min(9, int(10 * share))))
            if not tot or max(tot.values()) < 0.05 * cap:
                line.append(".")
                continue
            g = max(tot, key=tot.get)  # type: ignore[arg-type]
            line.append(letters.get(g, "?"))
        out.append(f"{where:<16} ({n_threads[where]:>2}) |{''.join(line)}|")
        out.append(f"{'':<16}      |{''.join(busy)}|")
    used = sorted({ch for ln in out[1:] for ch in ln.split("|")[1] if not ch.isdigit()} - {".", "*"})
    inv = {v: k for k, v in letters.items()}
    out.append("  " + "; ".join(f"{c}={inv.get(c, '?')}" for c in used))
    return out


def report(res: dict, plain: dict | None = None) -> str:
    s = summarise(res)
    feeds = res["feeds"]
    rows, roles = s["rows"], s["roles"]
    main_cpu = res["main_user"] + res["main_sys"]
    wk_cpu = res["children_user"] + res["children_sys"]
    total_cpu = main_cpu + wk_cpu
    tracked_cpu = sum(r[2] for r in rows.values())
    L = []
    L.append(f"### One cold round, {feeds} feeds x {res['items']} items ({res['mode']} instrumentation)")
    L.append("")
    L.append(f"- wall {res['wall']:.2f} s (round {res['round_wall']:.2f} s incl. publish); new items {res['new']}, "
             f"failed {res['failed']}, jobs parsed in the worker {res['jobs_in_worker']} of {feeds}")
    L.append(f"- CPU: refreshing process {main_cpu:.2f} s ({res['main_user']:.2f} user + {res['main_sys']:.2f} sys), "
             f"parse worker {wk_cpu:.2f} s, feed server {res['server_cpu']:.2f} s; "
             f"feedsvc total {1000 * total_cpu / feeds:.1f} CPU-ms a feed "
             f"({1000 * main_cpu / feeds:.1f} main + {1000 * wk_cpu / feeds:.1f} worker); "
             f"cores busy {(total_cpu + res['server_cpu']) / res['wall']:.2f} of 2")
    L.append(f"- load average before / after: {res['load_before']} / {res['load_after']}; busy beside it at the "
             f"start: {', '.join(res['others']) or 'nothing'}")
    held = sum(t["agg"].get("store: tx (BEGIN, lease, COMMIT, engine)", [0, 0.0])[1] for t in res["threads"])
    held_cpu = sum(t["agg"].get("store: tx (BEGIN, lease, COMMIT, engine)", [0, 0.0, 0.0])[2] for t in res["threads"])
    n_tx = sum(t["agg"].get("store: tx (BEGIN, lease, COMMIT, engine)", [0])[0] for t in res["threads"])
    if n_tx:
        L.append(f"- the store's writer lock was held {held:.1f} s of the {res['round_wall']:.1f} s round "
                 f"({100 * held / res['round_wall']:.0f}%) by {n_tx} transactions: {1000 * held / n_tx:.1f} ms "
                 f"each for {1000 * held_cpu / n_tx:.1f} ms of CPU ({held / held_cpu:.1f}x)")
    if res.get("log_records") is not None:
        L.append(f"- log records emitted during the round: {res['log_records']}")
    if plain:
        pc = plain["main_user"] + plain["main_sys"] + plain["children_user"] + plain["children_sys"]
        L.append(f"- the same round uninstrumented: wall {plain['wall']:.2f} s, feedsvc CPU "
                 f"{1000 * pc / feeds:.1f} ms a feed: the recorders add "
                 f"{100 * (total_cpu / pc - 1):+.0f}% CPU, {100 * (res['wall'] / plain['wall'] - 1):+.0f}% wall")
    L.append("")
    L.append("| stage | where | CPU-ms / feed | share of feedsvc CPU | wall-ms / feed (thread time) | wall / CPU |")
    L.append("|---|---|---:|---:|---:|---:|")
    by_group: dict[str, list] = defaultdict(list)
    for (g, where), (n, sw, sc) in rows.items():
        by_group[g].append((where, n, sw, sc))
    order = [g for g, _ in GROUPS] + sorted(g for g in by_group if g.startswith("other"))
    for g in order:
        for where, _n, sw, sc in sorted(by_group.get(g, []), key=lambda x: -x[3]):
            if sw < 0.0005 * feeds and sc < 0.0002 * feeds:
                continue
            ratio = f"{sw / sc:.1f}" if sc > 0.0005 else "—"
            L.append(f"| {g} | {where} | {1000 * sc / feeds:.2f} | {100 * sc / total_cpu:.1f}% | "
                     f"{1000 * sw / feeds:.2f} | {ratio} |")
    L.append(f"| *untracked CPU* (imports, thread pools, GC outside the stages, system time of idle threads) "
             f"| all | {1000 * (total_cpu - tracked_cpu) / feeds:.2f} | {100 * (total_cpu - tracked_cpu) / total_cpu:.1f}% | | |")
    L.append("")
    L.append("Per thread group (wall and CPU over the threads' lives; context switches voluntary / involuntary):")
    L.append("")
    L.append("| threads | n | wall s (summed) | CPU s | CPU / wall | ctx switches vol / invol |")
    L.append("|---|---:|---:|---:|---:|---|")
    for where, (n, w, c, _tr, vol, inv) in sorted(roles.items(), key=lambda x: -x[1][2]):
        if c < 0.01 and w < 0.01:
            continue
        L.append(f"| {where} | {n} | {w:.2f} | {c:.2f} | {c / w if w else 0:.2f} | {vol} / {inv} |")
    L.append("")
    L.append("```")
    L.extend(timeline_text(res))
    L.append("```")
    return "\n".join(L)


# ---- GIL profile with py-spy ------------------------------------------------------------------

BLOCKED_NATIVE = {"recv", "poll", "read", "write", "epoll_wait", "select", "PyThread_acquire_lock_timed", "clock_nanosleep",
                  "accept", "waitpid", "wait4", "fdatasync", "fsync", "sem_clockwait", "sem_timedwait",
                  "do_futex_wait", "__futex_abstimed_wait_common"}
COND_WAITS = {"pthread_cond_timedwait", "pthread_cond_wait"}


def pyspy_run(args: argparse.Namespace) -> str:
    exe = os.environ.get("PYSPY") or ("/tmp/prof-venv/bin/py-spy" if Path("/tmp/prof-venv/bin/py-spy").exists()
                                       else shutil.which("py-spy"))
    if not exe:
        raise SystemExit("py-spy not found: pip install py-spy (e.g. into /tmp/prof-venv), or set PYSPY")
    Path(args.root).mkdir(parents=True, exist_ok=True)
    out = Path(args.root) / f"pyspy-{args.feeds}-{os.getpid()}.txt"
    fig = Path(args.root) / f"pyspy-{args.feeds}-{os.getpid()}.json"
    # the main process only: py-spy --subprocesses made the parse worker die (twice in two
    # tries), and the worker has one thread, so nothing there waits for the interpreter lock
    cmd = [exe, "record", "--native", "--idle", "--threads", "--format", "raw", "--rate", str(args.rate),
           "-o", str(out), "--", sys.executable, str(Path(__file__).resolve()), str(args.feeds),
           "--items", str(args.items), "--plain", "--root", args.root, "--quiet", "--json", str(fig)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    res = json.loads(fig.read_text())
    fig.unlink()
    return gil_report(out, args.rate, res)


def classify_sample(frames: list[str]) -> str:
    """GIL wait: parked on a condition variable that is not a Python lock's (CPython 3.11's
    take_gil waits on one; py-spy's unwinding shows the caller that released the lock: nh3's
    PyEval_RestoreThread, _pysqlite_query_execute, zlib, the eval loop). Blocked: a system call
    or a Python lock (threading.Lock, queue, Future). Otherwise running."""
    named = [f.split(" (")[0] for f in frames if not f.startswith("0x")]
    leaf = named[-1] if named else ""
    parent = named[-2] if len(named) > 1 else ""
    if leaf in COND_WAITS and parent != "PyThread_acquire_lock_timed":
        return "GIL wait"
    if leaf in BLOCKED_NATIVE or leaf in COND_WAITS:
        return "blocked"
    return "running"


def gil_report(path: Path, rate: int, res: dict) -> str:
    """Raw py-spy samples → per thread group: running, waiting for the GIL, blocked; what the
    GIL waiters were about to run; how many threads ran at once."""
    feeds = res["feeds"]
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    waiting_in: dict[str, int] = defaultdict(int)
    running_in: dict[str, int] = defaultdict(int)
    blocked_in: dict[str, int] = defaultdict(int)
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        tname = next((f.split(": ", 1)[1] for f in frames if f.startswith("thread (") and ": " in f), "?")
        who = role_of(tname)
        if who not in ("fetch threads", "parse thread", "worker reader", "main thread"):
            who = "other threads (pool idle, lease renewer)"
        state = classify_sample(frames)
        per[who][state] += n
        stage = _stage_of(frames)
        if state == "GIL wait":
            waiting_in[f"{who}: {stage}"] += n
        elif state == "running":
            running_in[f"{who}: {stage}"] += n
        else:
            blocked_in[f"{who}: {stage}"] += n
    nthreads = {"fetch threads": 8, "parse thread": 1, "worker reader": 1, "main thread": 1}
    L = [f"py-spy record --native --idle --threads, {rate} Hz, the refreshing process of a plain cold round "
         f"({feeds} feeds: wall {res['wall']:.2f} s under py-spy, {res['jobs_in_worker']} jobs in the worker, "
         f"load {res['load_before']} → {res['load_after']}); a sample = 1/{rate} s of one thread:", "",
         "| threads | running | waiting for the GIL | blocked (socket, lock, pipe, queue) | GIL wait, thread-s "
         "| GIL wait, ms a feed |",
         "|---|---:|---:|---:|---:|---:|"]
    tot_g = 0
    for who, st in sorted(per.items(), key=lambda x: -x[1].get("GIL wait", 0)):
        tot = sum(st.values())
        g = st.get("GIL wait", 0)
        tot_g += g
        L.append(f"| {who} | {100 * st.get('running', 0) / tot:.0f}% | {100 * g / tot:.0f}% | "
                 f"{100 * st.get('blocked', 0) / tot:.0f}% | {g / rate:.2f} | {1000 * g / rate / feeds:.1f} |")
    run_all = sum(v for st in per.values() for k, v in st.items() if k == "running")
    L.append("")
    L.append(f"Summed over threads: {tot_g / rate:.2f} s waiting for the GIL and {run_all / rate:.2f} s running "
             f"in a {res['wall']:.2f} s round ({run_all / rate / res['wall']:.2f} threads running on average, "
             f"{tot_g / rate / res['wall']:.2f} waiting).")
    del nthreads
    for title, d in (("What the GIL waiters had just done / were about to run", waiting_in),
                     ("Running, by stage", running_in), ("Blocked, by where", blocked_in)):
        L += ["", f"{title} (top 10, share of those samples):", ""]
        ssum = sum(d.values()) or 1
        for k, v in sorted(d.items(), key=lambda x: -x[1])[:10]:
            L.append(f"- {k}: {100 * v / ssum:.0f}% ({v / rate:.2f} s)")
    return "\n".join(L)


_STAGES = [("publish", "publish"), ("_pysqlite", "SQLite"), ("pysqlite", "SQLite"), ("sqlite3", "SQLite"),
           ("item_to_json", "item JSON"), ("text_of", "fp text (nh3)"), ("sanitise_html", "sanitise (nh3)"),
           ("_norm", "fp normalise"), ("content_hash", "content hash"), ("absolute_url", "URLs"),
           ("canonical", "URLs"), ("urljoin", "URLs"), ("urlsplit", "URLs"),
           ("normalise", "normalise (other)"), ("with_derived_keys", "match keys"), ("/fast/", "parse"),
           ("outline", "outline"), ("span_fingerprints", "fingerprints"), ("pickle", "pickle"), ("decide", "decide"),
           ("_read_body", "fetch: body, gunzip"), ("zlib", "fetch: body, gunzip"), ("recv", "fetch: socket"),
           ("requests/", "fetch: requests"), ("urllib3/", "fetch: requests"), ("http/client", "fetch: requests"),
           ("_transaction", "store: writer lock / tx"), ("sql_tx.py", "store (Python)"), ("sql.py", "store (Python)"),
           ("_Worker.submit", "hand-off: pipe write"), ("_Worker._read", "hand-off: pipe read"),
           ("Future.result", "hand-off: wait for the parse"), ("_parse_timed", "parse job"),
           ("parse_and_normalise", "parse job"), ("_guarded", "engine"), ("_worker (concurrent", "pool idle"),
           ("_renew_loop", "lease renewer")]


def _stage_of(frames: list[str]) -> str:
    for f in reversed(frames):
        for needle, label in _STAGES:
            if needle in f:
                return label
    return "other"


# ---- levers: micro-benchmarks on this corpus ----------------------------------------------------

def levers(args: argparse.Namespace) -> str:
    """Offline measurements for the levers, on the round's own corpus (one process, no server)."""
    sys.path.insert(0, os.environ.get("TIMELINE_EXTRA_PATH", "/tmp/prof-pkgs"))
    import hashlib
    import pickle
    from datetime import datetime, timezone

    from feedsvc.items import keys, normalise
    from feedsvc.parsing.incremental import ParseJob, parse_and_normalise
    from feedsvc.storage import codec

    corpus_dir = corpus(Path(args.root), args.feeds, args.items, args.seed)
    files = sorted((corpus_dir / "feeds").glob("*.xml"))[: min(args.feeds, 100)]
    now = datetime(2026, 12, 4, tzinfo=timezone.utc)
    jobs = [ParseJob(source=p.stem, content=p.read_bytes(), url=f"http://127.0.0.1:1/feeds/{p.name}",
                     feed_url=f"http://127.0.0.1:1/feeds/{p.name}", site_url="http://127.0.0.1:8080/", now=now)
            for p in files]
    outs = [parse_and_normalise(j) for j in jobs]
    items = [i for o in outs for i in o.items]
    n_feeds = len(jobs)
    L = [f"Levers, micro-benchmarks over {n_feeds} feeds of the corpus ({len(items)} items), one thread, "
         f"best of {args.repeat}; ms a feed:", ""]

    def best(fn, repeat=args.repeat) -> float:  # type: ignore[no-untyped-def]
        ts = []
        for _ in range(repeat):
            t = time.thread_time()
            fn()
            ts.append(time.thread_time() - t)
        return 1000 * min(ts) / n_feeds

    # (a) one HTML pass: what the second nh3 pass (fingerprint text) costs, and the sanitise itself
    bodies = [(i.content or i.summary) for i in items]
    raw_html = []
    from feedsvc.parsing.document import parse_document
    for j in jobs:
        for e in parse_document(j.source, j.content, j.url).entries:
            raw_html.append((e.summary, e.content))
    cl = normalise.Cleaners()
    base = jobs[0].url
    t_san = best(lambda: [normalise.sanitise_html(s, base, cl) or normalise.sanitise_html(c, base, cl)
                          for s, c in raw_html] and [normalise.sanitise_html(c, base, cl) for s, c in raw_html])
    t_san_sum = best(lambda: [normalise.sanitise_html(s, base, cl) for s, c in raw_html])
    t_san_con = best(lambda: [normalise.sanitise_html(c, base, cl) for s, c in raw_html])
    t_text = best(lambda: [keys.text_of(b[:keys.FP_SCAN]) for b in bodies])
    t_fpn = best(lambda: [keys._fingerprint(keys._norm(i.title), i.content or i.summary) for i in items])
    L.append(f"- (a) sanitise (nh3) summary {t_san_sum:.2f} + content {t_san_con:.2f}; the fingerprint's "
             f"second nh3 pass (text_of over the first {keys.FP_SCAN} chars) {t_text:.2f}; the whole "
             f"fingerprint (text_of + NFKC normalise + sha) {t_fpn:.2f}")
    del t_san
    # the same text from the sanitised HTML without a second parse: nh3's output is well-formed
    # (no comments, script/style dropped, quoted attributes), so tags can be cut by a regex
    import html as _html
    tag = re.compile(r"<(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")

    def text_regex(h: str) -> str:
        if not h:
            return ""
        return keys._URL_IN_TEXT.sub(" ", _html.unescape(tag.sub("", h)))

    t_text_re = best(lambda: [text_regex(b[:keys.FP_SCAN]) for b in bodies])
    orig_text_of = keys.text_of
    fps_nh3 = [keys._fingerprint(keys._norm(i.title), i.content or i.summary) for i in items]
    keys.text_of = text_regex
    try:
        fps_re = [keys._fingerprint(keys._norm(i.title), i.content or i.summary) for i in items]
    finally:
        keys.text_of = orig_text_of
    same_fp = sum(a == b for a, b in zip(fps_nh3, fps_re))
    L.append(f"  the fingerprint text by a regex over the sanitised HTML instead: {t_text_re:.2f} "
             f"(same fingerprint for {same_fp}/{len(items)} items)")
    # (b) JSON: the store's item_to_json and content_hash (orjson since the second pass) against
    # the standard library's compact JSON of the same dicts; item_from_json
    t_json = best(lambda: [codec.item_to_json(i) for i in items])
    rows = [codec.item_to_json(i) for i in items]
    t_dec = best(lambda: [codec.item_from_json(r) for r in rows])
    dicts = [json.loads(r) for r in rows]
    t_std_only = best(lambda: [json.dumps(d, ensure_ascii=False, separators=(",", ":")) for d in dicts])
    same = sum(json.dumps(d, ensure_ascii=False, separators=(",", ":")) == r for d, r in zip(dicts, rows))
    fields_ = [dict(title=i.title, link=i.link, summary=i.summary, content=i.content,
                    authors=[[a.name, a.email, a.uri] for a in i.authors], categories=list(i.categories),
                    enclosures=[[e.url, e.type, e.length] for e in i.enclosures],
                    published=i.published.isoformat() if i.published else None) for i in items]
    t_ch = best(lambda: [normalise.content_hash(f) for f in fields_])

    def ch_std(f):  # type: ignore[no-untyped-def]
        blob = json.dumps(f, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:32]
    t_ch_std = best(lambda: [ch_std(f) for f in fields_])
    same_ch = sum(normalise.content_hash(f) == ch_std(f) for f in fields_)
    L.append(f"- (b) item_to_json {t_json:.2f} (the standard library's dumps alone {t_std_only:.2f}; same bytes "
             f"for {same}/{len(items)} items); item_from_json {t_dec:.2f} (decode runs in the publish, 500 items "
             f"a round, not per feed); content_hash {t_ch:.2f} against {t_ch_std:.2f} with the standard library "
             f"(same hash for {same_ch}/{len(items)})")
    try:
        import msgspec

        enc = msgspec.json.Encoder()
        dicts = [json.loads(r) for r in rows]
        t_ms = best(lambda: [enc.encode(d) for d in dicts])
        t_ms_dec = best(lambda: [msgspec.json.decode(r) for r in rows])
        t_std_dec = best(lambda: [json.loads(r) for r in rows])
        L.append(f"  msgspec: the dumps call alone {t_ms:.2f}; decode alone {t_std_dec:.2f} (json) → {t_ms_dec:.2f}")
    except ImportError:
        pass
    # (d) pickling: what crosses the pipe each way, and a compact alternative
    t_pj = best(lambda: [pickle.dumps(j, protocol=pickle.HIGHEST_PROTOCOL) for j in jobs])
    pj = [pickle.dumps(j, protocol=pickle.HIGHEST_PROTOCOL) for j in jobs]
    t_lj = best(lambda: [pickle.loads(b) for b in pj])
    t_po = best(lambda: [pickle.dumps(o, protocol=pickle.HIGHEST_PROTOCOL) for o in outs])
    po = [pickle.dumps(o, protocol=pickle.HIGHEST_PROTOCOL) for o in outs]
    t_lo = best(lambda: [pickle.loads(b) for b in po])
    size = sum(map(len, po)) / n_feeds / 1024

    from feedsvc.model import Enclosure, Item, Origin, Person
    from feedsvc.parsing.incremental import ParseOutput

    def to_tuples(o):  # type: ignore[no-untyped-def]
        its = tuple((i.source, i.key, i.id, i.title, i.link, i.canonical_link, i.dedup_keys,
                     tuple((p.name, p.email, p.uri) for p in i.authors), i.published, i.updated, i.summary, i.content,
                     i.categories, tuple((e.url, e.type, e.length) for e in i.enclosures),
                     (i.origin.title, i.origin.link, i.origin.id, i.origin.home), i.page, i.content_hash, i.future_date)
                    for i in o.items)
        return (its, o.title, o.link, o.warning, o.ttl_seconds, o.error, o.fingerprints, o.skipped)

    def from_tuples(t):  # type: ignore[no-untyped-def]
        its, *rest = t
        origins: dict = {}
        out = []
        for (src, key, id_, title, link, canon, dk, au, pub, upd, summ, cont, cats, enc, org, page, ch, fut) in its:
            og = origins.get(org)
            if og is None:
                og = origins[org] = Origin(*org)
            out.append(Item(source=src, key=key, id=id_, title=title, link=link, canonical_link=canon, dedup_keys=dk,
                            authors=tuple(Person(*p) for p in au), published=pub, updated=upd, summary=summ,
                            content=cont, categories=cats, enclosures=tuple(Enclosure(*e) for e in enc), origin=og,
                            page=page, content_hash=ch, future_date=fut))
        return ParseOutput(tuple(out), *rest)

    tt = [pickle.dumps(to_tuples(o), protocol=pickle.HIGHEST_PROTOCOL) for o in outs]
    assert from_tuples(pickle.loads(tt[0])) == outs[0]
    t_tt_d = best(lambda: [pickle.dumps(to_tuples(o), protocol=pickle.HIGHEST_PROTOCOL) for o in outs])
    t_tt_l = best(lambda: [from_tuples(pickle.loads(b)) for b in tt])
    t_tt_l_only = best(lambda: [pickle.loads(b) for b in tt])
    L.append(f"- (d) pickle job: dumps {t_pj:.2f} (main) / loads {t_lj:.2f} (worker); result "
             f"({size:.0f} KB a feed): dumps {t_po:.2f} (worker) / loads {t_lo:.2f} (main, reader thread); "
             f"as plain tuples: dumps {t_tt_d:.2f} (worker), loads {t_tt_l_only:.2f} + Items rebuilt "
             f"{t_tt_l - t_tt_l_only:.2f} = {t_tt_l:.2f} (main)")
    # (c) SQLite: the cold round's inserts as the store does them, and alternatives
    L.append(sql_experiment(outs, n_feeds, args.repeat))
    return "\n".join(L)


def sql_experiment(outs: list, n_feeds: int, repeat: int) -> str:
    """The cold round's writes for these feeds (10 x, renamed, so the store grows to the round's
    size), replayed into fresh SQLite files with the statements a cold round's transactions run
    (lease check, snapshot reads, one INSERT ... RETURNING per item and an executemany of its
    dkeys, the present flags read, purge_due, the generation bump and its UPDATE of every row's
    rev, the seen rows, the state upsert, COMMIT), and variants of it. CPU of this thread
    (user + system: the WAL writes are system time)."""
    import sqlite3
    import tempfile

    from feedsvc.storage.codec import item_to_json
    from feedsvc.storage.sqlite import SCHEMA

    feeds = [[(it.key, it.id, item_to_json(it), it.content_hash, it.link, it.dedup_keys, fp,
               (it.published.timestamp() if it.published else 1.7e9 + n))
              for n, (it, fp) in enumerate(zip(o.items, o.fingerprints))] for o in outs]
    known = "i.pk, i.source, i.content_hash, i.run, i.key, i.id, i.date, i.updated, i.first_seen, i.link"

    def run(conns: int, rev_at_insert: bool, batch: bool, without_rowid: bool) -> tuple[float, float]:
        with tempfile.TemporaryDirectory(dir="/tmp") as d:
            path = os.path.join(d, "x.db")
            schema = SCHEMA
            if without_rowid:
                for table in ("dkey", "seen"):
                    start = schema.index(f"CREATE TABLE IF NOT EXISTS {table} (")
                    end = schema.index(");", start)
                    schema = schema[:end] + ") WITHOUT ROWID;" + schema[end + 2:]
            cs = []
            for _ in range(conns):
                c = sqlite3.connect(path, isolation_level=None, timeout=60)
                c.execute("PRAGMA busy_timeout = 60000")
                c.execute("PRAGMA journal_mode = WAL")
                c.execute("PRAGMA synchronous = NORMAL")
                c.execute("PRAGMA foreign_keys = ON")
                c.execute("PRAGMA cache_size = -1024")
                cs.append(c)
            cs[0].executescript(schema)
            t0, w0 = time.thread_time(), time.perf_counter()
            k = 0
            for rep in range(10):
                for fi, feed in enumerate(feeds):
                    src = f"f{rep:02d}-{fi:04d}"
                    c = cs[k % conns]
                    k += 1
                    c.execute("BEGIN IMMEDIATE")
                    c.execute("SELECT lease_token FROM source WHERE name = ?", [src]).fetchone()
                    ks = [r[0] for r in feed]
                    c.execute(f"SELECT i.key, {known} FROM item i WHERE i.source = ? AND i.key IN ({','.join('?' * len(ks))})",
                              [src, *ks]).fetchall()
                    c.execute(f"SELECT a.key, {known} FROM alias a JOIN item i ON i.pk = a.item_pk WHERE a.source = ? "
                              f"AND a.key IN ({','.join('?' * len(ks))})", [src, *ks]).fetchall()
                    dks = [f"{rep}{x}" for r in feed for x in r[5]]
                    for lo in range(0, len(dks), 500):
                        part = dks[lo:lo + 500]
                        c.execute(f"SELECT d.dkey, {known} FROM dkey d JOIN item i ON i.pk = d.item_pk WHERE d.dkey IN "
                                  f"({','.join('?' * len(part))})", part).fetchall()
                    gen = 0
                    if rev_at_insert:
                        (gen,) = c.execute("INSERT INTO meta (k, v) VALUES ('generation', '1') ON CONFLICT (k) DO UPDATE "
                                           "SET v = CAST(CAST(meta.v AS INTEGER) + 1 AS TEXT) RETURNING v").fetchone()
                    pks = []
                    if batch:
                        first = c.execute("SELECT COALESCE(MAX(pk), 0) FROM item").fetchone()[0] + 1
                        c.executemany(
                            "INSERT INTO item (pk, source, key, id, data, content_hash, date, updated, first_seen, run, "
                            "present, link, page, backlog, rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1, ?, NULL, 0, ?)",
                            [(first + n, src, r[0], r[1], r[2], r[3], r[7], r[7], 1.7e9, r[4], int(gen))
                             for n, r in enumerate(feed)])
                        pks = list(range(first, first + len(feed)))
                        c.executemany("INSERT INTO dkey (dkey, item_pk) VALUES (?, ?) ON CONFLICT (dkey) DO NOTHING",
                                      [(f"{rep}{x}", pk) for pk, r in zip(pks, feed) for x in r[5]])
                    else:
                        for r in feed:
                            (pk,) = c.execute(
                                "INSERT INTO item (source, key, id, data, content_hash, date, updated, first_seen, run, "
                                "present, link, page, backlog, rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, 1, ?, NULL, 0, ?) "
                                "RETURNING pk", [src, r[0], r[1], r[2], r[3], r[7], r[7], 1.7e9, r[4], int(gen)]).fetchone()
                            c.cursor().executemany("INSERT INTO dkey (dkey, item_pk) VALUES (?, ?) ON CONFLICT (dkey) DO NOTHING",
                                                   [(f"{rep}{x}", pk) for x in r[5]])
                            pks.append(pk)
                    c.execute("SELECT pk, present FROM item WHERE source = ?", [src]).fetchall()
                    c.execute("INSERT INTO purge_due (source) VALUES (?) ON CONFLICT (source) DO NOTHING", [src])
                    if not rev_at_insert:
                        (gen,) = c.execute("INSERT INTO meta (k, v) VALUES ('generation', '1') ON CONFLICT (k) DO UPDATE "
                                           "SET v = CAST(CAST(meta.v AS INTEGER) + 1 AS TEXT) RETURNING v").fetchone()
                        c.execute(f"UPDATE item SET rev = ? WHERE pk IN ({','.join('?' * len(pks))})", [int(gen), *pks])
                    c.execute("SELECT fp FROM seen WHERE source = ?", [src]).fetchall()
                    c.executemany("INSERT INTO seen (source, fp, key, dkeys) VALUES (?, ?, ?, ?) ON CONFLICT (source, fp) "
                                  "DO UPDATE SET key = excluded.key, dkeys = excluded.dkeys",
                                  [(src, r[6], r[0], json.dumps(r[5])) for r in feed if r[6]])
                    c.execute("INSERT INTO source (name, kind, url) VALUES (?, 'feed', ?) ON CONFLICT (name) DO UPDATE "
                              "SET url = excluded.url", [src, "http://x/" + src])
                    c.execute("COMMIT")
            t, w = time.thread_time() - t0, time.perf_counter() - w0
            for c in cs:
                c.close()
            return t, w

    variants = [
        ("as the store does: 8 connections in turn (one per fetch thread)", (8, False, False, False)),
        ("the same statements on one connection (a writer thread)", (1, False, False, False)),
        ("8 connections, rev set by the INSERT (no UPDATE of the new rows)", (8, True, False, False)),
        ("8 connections, rev at insert + one executemany for the items", (8, True, True, False)),
        ("8 connections, + dkey and seen WITHOUT ROWID", (8, True, True, True)),
        ("one connection + all three", (1, True, True, True)),
    ]
    res = {}
    for name, v in variants:
        res[name] = min(run(*v) for _ in range(max(1, repeat // 2)))
    n = 10 * n_feeds
    base = res[variants[0][0]][0]
    out = [f"- (c) SQLite: a cold round's transactions replayed ({n} feeds' worth, one thread, CPU user+system "
           f"a feed; wall in brackets):"]
    for name, (t, w) in res.items():
        out.append(f"  - {name}: {1000 * t / n:.2f} ms ({1000 * w / n:.2f}), {100 * (t / base - 1):+.0f}%")
    return "\n".join(out)


# ---- main -------------------------------------------------------------------------------------

def main() -> int:
    if "--worker" in sys.argv:
        worker_entry()
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("feeds", type=int, nargs="?", default=200)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--root", default="/tmp/feedsvc-timeline", help="corpus cache and run directories")
    ap.add_argument("--plain", action="store_true", help="no instrumentation (for the overhead, or py-spy)")
    ap.add_argument("--coarse", action="store_true", help="stages only, not normalise's insides")
    ap.add_argument("--compare-plain", action="store_true", help="also run the round uninstrumented first")
    ap.add_argument("--pyspy", action="store_true", help="GIL profile under py-spy --native (no stages)")
    ap.add_argument("--rate", type=int, default=20, help="py-spy samples a second")
    ap.add_argument("--lever", default="", help="comma-separated changes tried in this round (this script "
                    "only): regex-fp (the fingerprint's text cut "
                    "from the sanitised HTML by a regex, no second nh3 pass), no-inline (INLINE_SHARE 0: no "
                    "parsing in the refreshing process once the worker runs)")
    ap.add_argument("--levers", action="store_true", help="also micro-benchmark the levers on this corpus")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="write the raw figures here")
    ap.add_argument("--md", help="write the report (markdown) here")
    ap.add_argument("--keep", action="store_true", help="keep the run directory (store, outputs)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--from-json", help="print the report of figures written before with --json")
    args = ap.parse_args()
    if args.from_json:
        print(report(json.loads(Path(args.from_json).read_text())))
        return 0
    t = time.monotonic()
    parts = []
    if args.pyspy:
        parts.append(pyspy_run(args))
    elif args.plain:
        res = run_round(args)
        if not args.quiet:
            c = res["main_user"] + res["main_sys"] + res["children_user"] + res["children_sys"]
            lever = f" [{args.lever}]" if args.lever else ""
            parts.append(f"plain round{lever}: wall {res['wall']:.2f} s, feedsvc CPU {1000 * c / args.feeds:.1f} ms a feed "
                         f"(main {res['main_user'] + res['main_sys']:.2f} s, worker "
                         f"{res['children_user'] + res['children_sys']:.2f} s), server {res['server_cpu']:.2f} s, "
                         f"jobs in worker {res['jobs_in_worker']}, load {res['load_before']} → {res['load_after']}")
        if args.json:
            Path(args.json).write_text(json.dumps(res))
    else:
        plain = None
        if args.compare_plain:
            env = dict(os.environ)
            out = Path(args.root) / f"plain-{os.getpid()}.json"
            Path(args.root).mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, str(Path(__file__).resolve()), str(args.feeds), "--items", str(args.items),
                            "--plain", "--root", args.root, "--quiet", "--json", str(out), "--lever", args.lever],
                           check=True, env=env)
            plain = json.loads(out.read_text())
            out.unlink()
        res = run_round(args)
        if args.json:
            Path(args.json).write_text(json.dumps(res))
        parts.append(report(res, plain))
    if args.levers:
        parts.append(levers(args))
    text = "\n\n".join(parts)
    if args.md:
        Path(args.md).write_text(text + "\n")
    if text:
        print(text)
    if not args.quiet:
        print(f"\n(timeline.py ran {time.monotonic() - t:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
