"""The speed levers of a round (issue 5), checked for what they must not change.

A round skips work when nothing it depends on changed: bytes identical to the last fetch are
not parsed, entries identical to the last parse are not normalised again, the outputs are not
rendered when neither the store nor the config changed, and big rounds parse in worker
processes. Each test shows the shortcut gives what the long way gives, and that the shortcut is
taken (a test that passed because everything went the long way would prove nothing).
No timings here: speed is measured in benchmarks/.
"""

from __future__ import annotations

import gzip
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

from feedsvc.app import workers as pool_mod
from feedsvc.app.engine import Engine, refresh
from feedsvc.config import load_config
from feedsvc.parsing import document as parse
from feedsvc.parsing import fast as fastparse
from feedsvc.parsing.incremental import ParseJob

from conftest import rss, write_config
from helpers_feedsvc import T0, Clock, FakeFetcher, published

URL = "https://perf.example/feed.xml"


def _story(n: int, body: str = "") -> dict:
    return {"title": f"Story {n}", "link": f"https://perf.example/{n}", "guid": f"https://perf.example/{n}",
            "permalink": True, "date": f"Mon, {n % 27 + 1:02d} Apr 2024 10:00:00 GMT",
            "content": f"<p>Body {n} {body}<a href='/rel/{n}'>link</a><script>x()</script></p>",
            "author": f"Author {n}", "categories": ["a", f"c{n}"]}


def _run(cfg, fetcher, clock, full=False, workers=0):
    rt = Engine(cfg, fetcher=fetcher, clock=clock, parse_workers=workers)
    try:
        return refresh(rt, cfg.sources, full=full), rt
    finally:
        rt.close()


def _outputs(public: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(public.glob("*.xml"))}


def test_unchanged_entries_are_not_normalised_again_and_give_the_same_feed(tmp_path, monkeypatch):
    """A feed gains one entry and edits another: only those two are normalised, the others count
    as unchanged and stay; the outputs equal those of a --full refresh (which re-normalises all)."""
    fetcher = FakeFetcher({URL: rss([_story(n) for n in range(1, 21)]).encode()})
    clock = Clock(T0)
    cfg = load_config(write_config(tmp_path, [{"name": "p", "url": URL}]))
    rep, _ = _run(cfg, fetcher, clock)
    assert rep.outcomes[0].new == 20

    normalised: list[str] = []
    import feedsvc.items.normalise as nm
    orig = nm.normalise_all

    def counting(entries, ctx, now):
        entries = list(entries)
        normalised.extend(e.title or "" for e in entries)
        return orig(entries, ctx, now)

    monkeypatch.setattr(nm, "normalise_all", counting)   # our own function, to count its calls
    stories = [_story(n) for n in range(1, 21)]
    stories[4] = _story(5, "edited")
    fetcher.bodies[URL] = rss([_story(21)] + stories).encode()
    clock.advance(hours=1)
    rep, _ = _run(cfg, fetcher, clock)
    o = rep.outcomes[0]
    assert (o.new, o.updated, o.unchanged) == (1, 1, 19)
    assert sorted(normalised) == ["Story 21", "Story 5"]
    shortcut = _outputs(tmp_path / "public")
    assert published(tmp_path / "public").titles()[:1] == ["Story 21"]

    normalised.clear()
    rep, _ = _run(cfg, fetcher, clock, full=True)
    assert len(normalised) == 21 and rep.outcomes[0].unchanged == 21
    assert _outputs(tmp_path / "public") == shortcut


def test_an_entry_whose_item_was_purged_comes_back(tmp_path):
    """The shortcut trusts the store: when the item of an unchanged entry is gone (purged), the
    entry is normalised again and stored as new, as without the shortcut."""
    fetcher = FakeFetcher({URL: rss([_story(1), _story(2)]).encode()})
    clock = Clock(T0)
    cfg = load_config(write_config(tmp_path, [{"name": "p", "url": URL}]))
    _run(cfg, fetcher, clock)
    db = sqlite3.connect(cfg.state_dir / "feedsvc.db")
    db.execute("DELETE FROM item WHERE key LIKE '%/1'")
    db.commit()
    db.close()
    fetcher.bodies[URL] = rss([_story(1), _story(2), _story(3)]).encode()
    rep, _ = _run(cfg, fetcher, clock)
    o = rep.outcomes[0]
    assert (o.new, o.unchanged) == (2, 1)
    assert sorted(published(tmp_path / "public").titles()) == ["Story 1", "Story 2", "Story 3"]


def test_identical_bytes_are_not_parsed_and_nothing_is_rendered(tmp_path):
    """--full refetches; identical bytes are not parsed and the outputs are not rewritten. A
    deleted output, or a config change that alters the outputs, renders again."""
    fetcher = FakeFetcher({URL: rss([_story(1)]).encode()})
    clock = Clock(T0)
    cfg_path = write_config(tmp_path, [{"name": "p", "url": URL}])
    cfg = load_config(cfg_path)
    _run(cfg, fetcher, clock)
    atom = tmp_path / "public" / "atom.xml"
    rep, _ = _run(cfg, fetcher, clock)                 # 304 from the fake
    assert rep.outcomes[0].status == "not-modified" and rep.published.written == ()
    atom.unlink()
    rep, _ = _run(cfg, fetcher, clock)
    assert rep.published.written == ("atom.xml",) and atom.exists()
    cfg2 = load_config(write_config(tmp_path, [{"name": "p", "url": URL}],
                                    site={"title": "Renamed Planet", "url": "http://127.0.0.1:8080/"}))
    rep, _ = _run(cfg2, fetcher, clock)
    # every output naming the site is rewritten; the stylesheet (no site title in it) is not
    assert set(rep.published.written) == {"atom.xml", "rss.xml", "feed.json", "index.html", "sources.opml"}
    assert b"Renamed Planet" in atom.read_bytes()


def test_body_hash_skips_a_200_with_the_same_bytes(tmp_path):
    """A server without validators answers 200 every time: same bytes → not parsed."""

    class NoValidators(FakeFetcher):
        def fetch(self, source, url, etag=None, last_modified=None, options=None):
            r = super().fetch(source, url, None, None)
            from dataclasses import replace
            return replace(r, etag=None)

    fetcher = NoValidators({URL: rss([_story(1), _story(2)]).encode()})
    cfg = load_config(write_config(tmp_path, [{"name": "p", "url": URL}]))
    _run(cfg, fetcher, Clock(T0))
    rep, _ = _run(cfg, fetcher, Clock(T0))
    assert rep.outcomes[0].status == "not-modified" and rep.outcomes[0].unchanged == 2


def test_worker_processes_give_the_same_outputs(tmp_path):
    """A round big enough for the parse pool: the workers are used, and the published files are
    byte for byte those of an in-process round on the same input."""
    n_sources = 24
    bodies = {f"https://perf{i}.example/feed.xml":
              rss([_story(i * 100 + n) for n in range(1, 6)], title=f"Feed {i}",
                  link=f"https://perf{i}.example/").encode()
              for i in range(n_sources)}
    sources = [{"name": f"s{i}", "url": u} for i, u in enumerate(bodies)]
    outs = []
    for workers in (0, 1):
        d = tmp_path / f"w{workers}"
        d.mkdir()
        cfg = load_config(write_config(d, sources, output={"dir": "public", "max_items": 500}))
        rt = Engine(cfg, fetcher=FakeFetcher(dict(bodies)), clock=Clock(T0), parse_workers=workers)
        rt.pool.after_seconds = 0.0      # these small feeds would never keep the parse thread busy
        try:
            rep = refresh(rt, cfg.sources)
        finally:
            rt.close()
        assert not rep.failed
        assert (rt.pool.in_workers > 0) == (workers > 0)
        outs.append(_outputs(d / "public"))
    assert outs[0] == outs[1]
    assert outs[0]["atom.xml"].count(b"<entry>") == 5 * n_sources


def test_parse_document_falls_back_to_feedparser(tmp_path):
    """What the fast path refuses (gzip without Content-Encoding, a DOCTYPE) goes to feedparser,
    with the same result as calling it directly; a clean document takes the fast path."""
    doc = rss([_story(1), _story(2)]).encode()
    assert fastparse.parse_fast("s", doc, URL) is not None
    assert parse.parse_document("s", doc, URL) == parse.parse_feed("s", doc, URL)
    for data in (gzip.compress(doc),
                 doc.replace(b"<rss", b"<!DOCTYPE rss>\n<rss", 1)):
        assert fastparse.parse_fast("s", data, URL) is None
        got = parse.parse_document("s", data, URL)
        assert got == parse.parse_feed("s", data, URL)
        assert [e.title for e in got.entries] == ["Story 1", "Story 2"]


def test_scan_lists_what_the_walk_listed(tmp_path):
    """The scandir scan: nested and symlinked (inside) directories, hidden ones and backups
    skipped, a symlink leading out reported, relative paths through the link as written."""
    import os

    from feedsvc.sources import articles

    root = tmp_path / "arts"
    (root / "a" / "b").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "a" / "b" / "deep.md").write_text("# Deep\n")
    (root / "a" / "one.txt").write_text("One\n")
    (root / "a" / "one.txt~").write_text("backup\n")
    (root / ".hidden" / "h.txt").write_text("hidden\n")
    (root / "top.html").write_text("<h1>T</h1>")
    (root / "notes.pdf").write_bytes(b"%PDF")
    os.symlink(root / "a" / "b", root / "linked")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("x\n")
    os.symlink(outside, root / "out")
    res = articles.scan(root)
    assert [f.relpath for f in res.files] == ["a/b/deep.md", "a/one.txt", "linked/deep.md", "top.html"]
    assert res.problems == ("out: symlink leads outside the source directory, not followed",)
    assert res.files[1].size == 4


def _many_sources(n_sources: int) -> dict[str, bytes]:
    return {f"https://perf{i}.example/feed.xml":
            rss([_story(i * 100 + n) for n in range(1, 6)], title=f"Feed {i}",
                link=f"https://perf{i}.example/").encode()
            for i in range(n_sources)}


def test_a_killed_worker_process_costs_nothing_but_time(tmp_path, caplog):
    """The parse worker killed mid-round (the OOM killer, an operator): the jobs it held are
    parsed in-process, every source is stored and published, and the round says what happened."""
    import os
    import signal
    import time

    bodies = _many_sources(24)
    cfg = load_config(write_config(tmp_path, [{"name": f"s{i}", "url": u} for i, u in enumerate(bodies)],
                                   output={"dir": "public", "max_items": 500}, fetch={"workers": 2}))
    killed: list[int] = []
    kill_lock = threading.Lock()     # two fetch threads must not both kill (or both skip it)

    class KillingFetcher(FakeFetcher):
        def fetch(self, source, url, etag=None, last_modified=None, options=None):
            with kill_lock:
                self._maybe_kill()
            return super().fetch(source, url, etag, last_modified, options)

        def _maybe_kill(self):
            if len(self.calls) >= 8 and not killed:
                deadline = time.monotonic() + 20
                while not rt.pool.worker_pids and time.monotonic() < deadline:
                    time.sleep(0.01)
                for pid in rt.pool.worker_pids:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)

    rt = Engine(cfg, fetcher=KillingFetcher(dict(bodies)), clock=Clock(T0), parse_workers=1)
    rt.pool.after_seconds = 0.0
    try:
        rep = refresh(rt, cfg.sources)
    finally:
        rt.close()
    assert killed, "the worker never started"
    assert not rep.failed and all(o.status == "ok" for o in rep.outcomes)
    assert published(tmp_path / "public").titles().__len__() == 5 * 24
    assert "parse worker process died" in caplog.text
    for pid in killed:          # reaped, not left a zombie
        assert not os.path.exists(f"/proc/{pid}") or "Z" not in open(f"/proc/{pid}/stat").read().split()[2]


def test_worker_processes_stop_when_the_round_ends(tmp_path):
    """Workers are started for a big round and gone before it publishes: they hold memory the
    publish needs, and a daemon must not keep them idle between rounds."""
    import os

    bodies = _many_sources(20)
    cfg = load_config(write_config(tmp_path, [{"name": f"s{i}", "url": u} for i, u in enumerate(bodies)]))
    seen: list[int] = []

    class Watching(FakeFetcher):
        def fetch(self, source, url, etag=None, last_modified=None, options=None):
            seen.extend(p for p in rt.pool.worker_pids if p not in seen)
            return super().fetch(source, url, etag, last_modified, options)

    rt = Engine(cfg, fetcher=Watching(dict(bodies)), clock=Clock(T0), parse_workers=1)
    rt.pool.after_seconds = 0.0
    try:
        refresh(rt, cfg.sources)
        assert seen and rt.pool.worker_pids == []
        assert all(not os.path.exists(f"/proc/{p}") for p in seen)
        refresh(rt, cfg.sources, full=True)        # and the next round starts them again
        assert len(seen) >= 2
    finally:
        rt.close()


def test_a_round_where_nothing_changed_still_records_each_attempt(tmp_path):
    """The states of unchanged sources are written once at the end of the round: each shows the
    new attempt afterwards, and a deferred write never rolls back a later one from elsewhere."""
    from dataclasses import replace

    from feedsvc.storage.sqlite import SqliteStorage as Store

    bodies = _many_sources(3)
    cfg = load_config(write_config(tmp_path, [{"name": f"s{i}", "url": u} for i, u in enumerate(bodies)]))
    clock = Clock(T0)
    fetcher = FakeFetcher(dict(bodies))
    _run(cfg, fetcher, clock)
    clock.advance(hours=1)
    rep, _ = _run(cfg, fetcher, clock)
    assert [o.status for o in rep.outcomes] == ["not-modified"] * 3
    st = Store(cfg.state_dir / "feedsvc.db")
    try:
        states = [st.state(f"s{i}", "feed", u) for i, u in enumerate(bodies)]
        assert all(s.last_attempt == clock() and s.last_success == clock() for s in states)
        later = replace(states[0], last_attempt=clock() + timedelta(minutes=5), etag='"newer"')
        st.save_states([later])
        st.save_states([replace(states[0], etag='"older"')])
        assert st.state("s0", "feed", None).etag == '"newer"'
    finally:
        st.close()


def test_a_job_that_fails_in_the_worker_fails_alone():
    """A bug on one feed's job raises for that job (its source reports an internal error); the
    worker lives on and parses the next job."""
    import pytest

    good = ParseJob(source="s", content=rss([_story(1)]).encode(), url=URL, feed_url=URL,
                         site_url="https://site.example/", now=T0)
    bad = ParseJob(source="s", content=None, url=URL, feed_url=URL,  # type: ignore[arg-type]
                        site_url="https://site.example/", now=T0)
    p = pool_mod.ParsePool(1, after_seconds=0.0)     # every job to the worker
    try:
        with pytest.raises(RuntimeError, match="in the parse worker: TypeError"):
            p.run(bad)
        pid = p.worker_pids
        assert pid and p.in_workers == 1
        out = p.run(good)
        assert [i.title for i in out.items] == ["Story 1"] and p.worker_pids == pid and p.in_workers == 2
    finally:
        p.close()
    assert p.worker_pids == []


def test_jobs_are_parsed_in_process_while_the_worker_starts():
    """A worker takes ~0.3 s to import the parse path: jobs sent to it meanwhile would wait (and
    their fetch threads with them), so they are parsed here until it says it is ready."""
    def job(n: int) -> ParseJob:
        return ParseJob(source="s", content=rss([_story(n)]).encode(), url=URL, feed_url=URL,
                             site_url="https://site.example/", now=T0)

    p = pool_mod.ParsePool(1, after_seconds=1e-9)
    try:
        assert [i.title for i in p.run(job(1)).items] == ["Story 1"] and not p.worker_pids
        # the parse thread has now worked long enough: the worker starts, this job is parsed here
        assert [i.title for i in p.run(job(2)).items] == ["Story 2"]
        assert p.worker_pids and p.in_workers == 0
        assert p._procs[0].ready.wait(30), "the worker never became ready"
        assert [i.title for i in p.run(job(3)).items] == ["Story 3"] and p.in_workers == 1
    finally:
        p.close()
    assert p.worker_pids == []


def test_the_worker_leaves_when_its_parent_is_killed(tmp_path):
    """kill -9 of a refreshing process leaves no parse worker behind: the worker's input ends,
    and it exits."""
    import os
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import os, signal, sys\n"
        "from datetime import datetime, timezone\n"
        "from feedsvc.app import workers as pool_mod\n"
        "from feedsvc.parsing.incremental import ParseJob\n"
        f"body = {rss([_story(1)]).encode()!r}\n"
        "p = pool_mod.ParsePool(1, after_seconds=0.0)\n"
        "p.run(ParseJob(source='s', content=body, url='https://x.example/f', feed_url='https://x.example/f',\n"
        "                    site_url='https://site.example/', now=datetime.now(timezone.utc)))\n"
        "print(p.worker_pids[0], flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    worker = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{worker}/stat") as f:
                if f.read().split()[2] == "Z":
                    break            # exited; only its new parent (init) has yet to reap it
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        os.kill(worker, 9)
        raise AssertionError("the parse worker outlived its parent")


def test_storing_a_changed_feed_costs_the_same_whatever_the_store_holds(tmp_path):
    """Issue 5: a round's cost follows what changed, not what is stored. Counted in SQLite's own
    virtual-machine steps (a progress handler), not timed: one feed gaining one entry is stored
    with about as many steps next to 60 other feeds as next to 5. A query that reaches for the
    wrong index (every present item of every source, say) grows with the store and fails here."""
    def steps_for_one_new_entry(n_sources: int) -> int:
        d = tmp_path / f"n{n_sources}"
        d.mkdir()
        urls = [f"https://perf.example/{i}.xml" for i in range(n_sources)]
        stories = {u: [_story(100 * i + n) for n in range(20)] for i, u in enumerate(urls)}
        fetcher = FakeFetcher({u: rss(stories[u]).encode() for u in urls})
        cfg = load_config(write_config(d, [{"name": f"s{i}", "url": u} for i, u in enumerate(urls)]))
        clock = Clock(T0)
        _run(cfg, fetcher, clock)
        fetcher.bodies[urls[0]] = rss([_story(99999)] + stories[urls[0]]).encode()
        clock.advance(hours=1)
        rt = Engine(cfg, fetcher=fetcher, clock=clock, parse_workers=0)
        from feedsvc.app.engine import refresh_source
        try:
            count = [0]

            def tick() -> int:
                count[0] += 1
                return 0

            rt.storage.db.set_progress_handler(tick, 100)
            outcome = refresh_source(rt, cfg.sources[0])
            assert (outcome.status, outcome.new) == ("ok", 1)
            return count[0]
        finally:
            rt.close()

    small, big = steps_for_one_new_entry(5), steps_for_one_new_entry(60)
    assert big <= small * 1.3 + 20, (small, big)


def test_a_round_closes_the_store_connections_of_its_fetch_threads(tmp_path):
    """Each fetch thread opens its own connection to the store (with ~1 MB of page cache); once a
    big round's threads have ended their connections are closed, not kept until the engine is
    (small rounds, the daemon's steady state, keep the threads and their connections: see
    test_daemon_publish.py)."""
    bodies = _many_sources(pool_mod.POOL_MIN_SOURCES)
    cfg = load_config(write_config(tmp_path, [{"name": f"s{i}", "url": u} for i, u in enumerate(bodies)],
                                   fetch={"workers": 4}))
    opened: list[object] = []

    class Watching(FakeFetcher):
        def fetch(self, *args, **kw):
            for _, conn in list(rt.storage._conns):
                if conn not in opened:
                    opened.append(conn)
            return super().fetch(*args, **kw)

    rt = Engine(cfg, fetcher=Watching(dict(bodies)), clock=Clock(T0), parse_workers=0)
    try:
        for full in (False, True):
            rep = refresh(rt, cfg.sources, full=full)
            assert not rep.failed and len(published(tmp_path / "public").titles()) == 50
            assert [t for t, _ in rt.storage._conns] == [threading.current_thread()]   # the caller's only
        mine = rt.storage._conns[0][1]
        closed = [c for c in opened if c is not mine]
        assert len(closed) >= 2
        for st in closed:          # really closed: sqlite3 refuses to use them
            try:
                st.execute("SELECT 1")
            except Exception as exc:
                assert "closed" in str(exc)
            else:
                raise AssertionError("a fetch thread's connection is still open")
    finally:
        rt.close()


def test_the_daemons_first_round_is_the_engines_round_with_the_parse_worker(tmp_path):
    """``feedsvc run`` and ``feedsvc refresh`` run one engine: the daemon's first tick hands every
    source to ``Engine.run_round`` as one round, so a big first round parses in the worker process
    (POOL_MIN_SOURCES remote sources or more) as ``feedsvc refresh`` does, and is published."""
    from feedsvc.app.daemon import Daemon
    from feedsvc.app.workers import POOL_MIN_SOURCES

    bodies = _many_sources(POOL_MIN_SOURCES + 4)
    cfg = load_config(write_config(tmp_path, [{"name": f"s{i}", "url": u} for i, u in enumerate(bodies)],
                                   output={"dir": "public", "max_items": 500}))
    engines: list[Engine] = []

    def make(config):
        e = Engine(config, fetcher=FakeFetcher(dict(bodies)), clock=Clock(T0))
        e.pool.after_seconds = 0.0          # these small feeds would never keep the parse thread busy
        engines.append(e)
        return e

    d = Daemon(cfg, cfg.path, engine_factory=make)
    try:
        due = d.tick()
        assert [s.name for s in due] == [s.name for s in cfg.sources]     # one round of every source
        for t in list(d._rounds):
            t.join(60)
        assert engines[0].pool.in_workers > 0                # parsed in the worker process
        assert d.tick() == []                                 # nothing due until the interval passes
        states = engines[0].storage.states()
        assert all(states[s.name].next_due > T0 and states[s.name].lease_owner is None for s in cfg.sources)
        d._publish_job()
        assert len(published(tmp_path / "public").titles()) == 5 * len(bodies)
    finally:
        d.scheduler.shutdown(wait=False) if d.scheduler.running else None
        d.engine.close()
