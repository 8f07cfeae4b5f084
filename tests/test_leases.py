"""Claims are leases in the store: the daemon, a forced ``feedsvc refresh`` and other workers never
refresh one source at once. A source another process holds is waited for and then fetched with
the state that process wrote; a killed holder's leases on this host are taken at once, a stalled
holder's when they expire, and its late write is refused. And the round's one read of every
source's state. The holders here are real processes on the real store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from feedsvc.app.engine import Engine, refresh
from feedsvc.app.leases import owner_is_dead
from feedsvc.config import load_config
from feedsvc.errors import LeaseLost
from feedsvc.model import SourceState
from feedsvc.storage import SourceUpdate, Worker, store_path
from feedsvc.storage.sqlite import SqliteStorage as Store

from conftest import rss, write_config
from helpers_feedsvc import T0, Clock, FakeFetcher

URL = "https://locks.example/feed.xml"

# A holder in its own process: claims a source in the store, says "held", then obeys stdin lines:
# "state ETAG" writes that ETag as the source's state (which ends its lease), "release" lets go.
HOLDER = textwrap.dedent("""
    import os, socket, sys
    from dataclasses import replace
    from datetime import datetime, timezone
    from pathlib import Path
    from feedsvc.storage import SourceUpdate, Worker
    from feedsvc.storage.sqlite import SqliteStorage as Store
    db, name, lease = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    st = Store(db)
    st.register([(name, "feed", sys.argv[4])])
    me = Worker(f"{socket.gethostname()}:{os.getpid()}:holder", socket.gethostname(), os.getpid())
    claim = st.claim(me, [name], datetime.now(timezone.utc), lease)
    assert name in claim.names, "not claimed"
    print("held", flush=True)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "state":
            try:
                with st.write(name, claim.token) as tx:
                    tx.apply(SourceUpdate(state=replace(st.state(name), etag=arg,
                                                        last_attempt=datetime.now(timezone.utc)), run=0))
                print("written", flush=True)
            except Exception as exc:
                print(type(exc).__name__, flush=True)
        elif cmd == "release":
            st.release([claim.token])
            print("released", flush=True)
            break
""")


def _holder(db: Path, name: str, lease: float = 60.0) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), name, str(lease), URL],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def _say(proc: subprocess.Popen, line: str, expect: str) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == expect


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


def _feed() -> FakeFetcher:
    return FakeFetcher({URL: rss([{"title": "One", "link": "https://locks.example/1",
                                   "guid": "https://locks.example/1"}]).encode()})


def _round_in_thread(rt: Engine, sources) -> tuple[threading.Thread, list]:
    outcomes: list = []
    t = threading.Thread(target=lambda: outcomes.extend(rt.run_round(sources)))
    t.start()
    return t, outcomes


def test_a_source_held_by_another_process_is_waited_for_and_fetched_with_its_state(tmp_path):
    """The round reads every state at its start; a source another process held meanwhile wrote a
    newer state (here its ETag), and the fetch must send that one, not the one read earlier."""
    fetcher = _feed()
    cfg = load_config(write_config(tmp_path, [{"name": "held", "url": URL}, {"name": "free", "url": URL + "?2"}]))
    fetcher.bodies[URL + "?2"] = fetcher.bodies[URL]
    rt = Engine(cfg, fetcher=fetcher, clock=Clock(T0), parse_workers=0)
    try:
        refresh(rt, cfg.sources)                       # stores the feed and its ETag
        db = store_path(cfg.state_dir)
        proc = _holder(db, "held")
        try:
            rnd, outcomes = _round_in_thread(rt, cfg.sources)
            time.sleep(0.5)                            # the free source is done, the held one waits
            assert not any(u == URL for u, _ in fetcher.calls[2:])
            _say(proc, 'state "written-by-the-holder"', "written")
            rnd.join(15)
        finally:
            _stop(proc)
        assert [o.status for o in outcomes] == ["not-modified", "not-modified"]
        assert (URL, '"written-by-the-holder"') in fetcher.calls
    finally:
        rt.close()


def test_a_killed_holders_lease_on_this_host_is_taken_at_once(tmp_path):
    fetcher = _feed()
    cfg = load_config(write_config(tmp_path, [{"name": "held", "url": URL}]))
    proc = _holder(store_path(cfg.state_dir), "held", lease=3600)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    _stop(proc)
    rt = Engine(cfg, fetcher=fetcher, clock=Clock(T0), parse_workers=0)
    try:
        started = time.monotonic()
        report = refresh(rt, cfg.sources)
        assert report.outcomes[0].status == "ok" and time.monotonic() - started < 10
    finally:
        rt.close()


def test_a_stalled_holders_lease_expires_and_its_late_write_is_refused(tmp_path):
    cfg = load_config(write_config(tmp_path, [{"name": "held", "url": URL}], schedule={"lease": "1s"}))
    proc = _holder(store_path(cfg.state_dir), "held", lease=1.0)   # alive, but never renews
    rt = Engine(cfg, fetcher=_feed(), parse_workers=0)
    try:
        started = time.monotonic()
        report = refresh(rt, cfg.sources)                  # waits for the lease to expire, then takes it
        assert report.outcomes[0].status == "ok" and time.monotonic() - started < 15
        _say(proc, 'state "late"', "LeaseLost")             # the holder wakes up: its write is refused
        st = Store(store_path(cfg.state_dir))
        assert st.state("held").etag != '"late"'
        st.close()
    finally:
        rt.close()
        _stop(proc)


def test_owner_is_dead_only_for_gone_processes_of_this_host():
    import socket

    host = socket.gethostname()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=10)
    assert owner_is_dead(f"{host}:{child.pid}:x", host)
    assert not owner_is_dead(f"{host}:{os.getpid()}:x", host)        # alive
    assert not owner_is_dead(f"other-host:{child.pid}:x", host)        # not ours to judge
    assert not owner_is_dead(None, host) and not owner_is_dead("garbage", host)


def test_a_free_source_uses_the_state_read_at_the_rounds_start(tmp_path):
    """Without a holder, the round's one read is what each source's fetch uses (a warm round
    sends the stored ETag and gets its 304)."""
    fetcher = _feed()
    cfg = load_config(write_config(tmp_path, [{"name": "free", "url": URL}]))
    rt = Engine(cfg, fetcher=fetcher, clock=Clock(T0), parse_workers=0)
    try:
        refresh(rt, cfg.sources)
        rep = refresh(rt, cfg.sources)
        assert rep.outcomes[0].status == "not-modified"
        assert rep.outcomes[0].unchanged == 1             # the item count came with the state
        assert fetcher.calls[0][1] is None and fetcher.calls[-1][1] is not None
    finally:
        rt.close()
    st = Store(store_path(cfg.state_dir))
    try:
        assert st.state("free").lease_owner is None       # the round released what it held
    finally:
        st.close()


def test_states_in_one_query_equal_each_read_alone(tmp_path):
    fetcher = FakeFetcher({URL: rss([{"title": f"T{n}", "link": f"https://locks.example/{n}",
                                      "guid": f"https://locks.example/{n}"} for n in range(3)]).encode(),
                           URL + "?b": rss([]).encode()})
    cfg = load_config(write_config(tmp_path, [{"name": "a", "url": URL}, {"name": "b", "url": URL + "?b"}]))
    rt = Engine(cfg, fetcher=fetcher, clock=Clock(T0), parse_workers=0)
    try:
        refresh(rt, cfg.sources)
    finally:
        rt.close()
    st = Store(store_path(cfg.state_dir))
    try:
        every = st.states()
        assert set(every) == {"a", "b"}
        assert every["a"] == st.state("a") and every["a"].item_count == 3
        assert every["b"] == st.state("b") and every["b"].item_count == 0
    finally:
        st.close()


def test_a_write_after_the_lease_was_taken_over_is_refused_in_process(tmp_path):
    st = Store(tmp_path / "feedsvc.db")
    try:
        st.register([("s", "feed", URL)])
        a, b = Worker("h:1:a", "h", 1), Worker("h:2:b", "h", 2)
        old = st.claim(a, ["s"], T0, 1.0)
        st.claim(b, ["s"], T0 + timedelta(seconds=2), 60.0)
        with pytest.raises(LeaseLost):
            with st.write("s", old.token) as tx:
                tx.apply(SourceUpdate(state=SourceState(name="s", kind="feed", etag='"x"'), run=0))
    finally:
        st.close()
