"""The per-source locks the daemon and `feedsvc refresh` share, and the round's one read of every
source's state (issue 5: both were most of what a warm round spent beyond the network floor).

Another process holding a source's lock keeps this one from fetching it; a source whose lock had
to be waited for is fetched with the state the holder wrote, not the state read at the round's
start. The holders here are real processes and the locks real kernel locks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from feedsvc.app.engine import Engine, refresh
from feedsvc.config import load_config
from feedsvc.storage import store_path
from feedsvc.storage.locks import LockTimeout, SourceLocks
from feedsvc.storage.sqlite import SqliteStorage as Store

from conftest import rss, write_config
from helpers_feedsvc import T0, Clock, FakeFetcher

URL = "https://locks.example/feed.xml"

# A holder in its own process: takes a source's lock, says "held", then obeys stdin lines:
# "state ETAG" writes that ETag into the source's stored state, "release" lets go and exits.
HOLDER = textwrap.dedent("""
    import sys
    from dataclasses import replace
    from pathlib import Path
    from feedsvc.storage.locks import SourceLocks
    from feedsvc.storage.sqlite import SqliteStorage as Store
    state_dir, db, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    locks = SourceLocks(state_dir)
    locks.acquire(name, timeout=10)
    print("held", flush=True)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "state":
            st = Store(db)
            st.save_states([replace(st.state(name), etag=arg)])
            st.close()
            print("written", flush=True)
        elif cmd == "release":
            locks.release(name)
            print("released", flush=True)
            break
""")


def _holder(state_dir: Path, name: str, db: Path | None = None) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(state_dir), str(db or state_dir / "x.db"), name],
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


def test_a_source_held_by_another_process_is_not_taken_and_others_are(tmp_path):
    proc = _holder(tmp_path, "alpha")
    locks = SourceLocks(tmp_path)
    try:
        with pytest.raises(LockTimeout, match="alpha"):
            locks.acquire("alpha", timeout=0.3)
        assert locks.acquire("beta", timeout=0.3) is False      # another source: free, no wait
        locks.release("beta")
        _say(proc, "release", "released")
        assert locks.acquire("alpha", timeout=5) is False
        locks.release("alpha")
    finally:
        locks.close()
        _stop(proc)


def test_the_kernel_drops_a_killed_holders_lock(tmp_path):
    proc = _holder(tmp_path, "alpha")
    locks = SourceLocks(tmp_path)
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert locks.acquire("alpha", timeout=5) is False
        locks.release("alpha")
    finally:
        locks.close()
        _stop(proc)


def test_two_runtimes_of_one_process_and_two_threads_of_one_runtime_take_turns(tmp_path):
    """The daemon makes a new Runtime on reload while the old one's jobs may still run; and one
    Runtime's fetch threads share its open of the lock file."""
    first, second = SourceLocks(tmp_path), SourceLocks(tmp_path)
    try:
        assert first.acquire("alpha", timeout=1) is False
        with pytest.raises(LockTimeout):
            second.acquire("alpha", timeout=0.2)
        got = threading.Event()
        waited: list[bool] = []

        def other_thread() -> None:
            waited.append(first.acquire("alpha", timeout=10))
            got.set()
            first.release("alpha")

        t = threading.Thread(target=other_thread)
        t.start()
        assert not got.wait(0.3)            # the second thread of the same Runtime waits
        first.release("alpha")
        assert got.wait(10)
        t.join(10)
        assert waited == [True]
        assert second.acquire("alpha", timeout=5) is False
        second.release("alpha")
    finally:
        first.close()
        second.close()


def test_a_source_whose_lock_was_waited_for_is_fetched_with_the_holders_state(tmp_path):
    """The round reads every state at its start; a source another process held meanwhile wrote a
    newer state (here its ETag), and the fetch must send that one, not the one read earlier."""
    fetcher = FakeFetcher({URL: rss([{"title": "One", "link": "https://locks.example/1",
                                      "guid": "https://locks.example/1"}]).encode()})
    cfg = load_config(write_config(tmp_path, [{"name": "held", "url": URL}]))
    rt = Engine(cfg, fetcher=fetcher, clock=Clock(T0), parse_workers=0)
    try:
        refresh(rt, cfg.sources)                       # stores the feed and its ETag
        first_etag = Store(store_path(cfg.state_dir)).state("held").etag
        assert first_etag
        proc = _holder(cfg.state_dir, "held", store_path(cfg.state_dir))
        outcomes: list = []
        try:
            rnd = threading.Thread(target=lambda: outcomes.extend(rt.run_round(cfg.sources)))
            rnd.start()                                # reads every state, then waits for the lock
            time.sleep(0.5)
            _say(proc, 'state "written-by-the-holder"', "written")
            _say(proc, "release", "released")
            rnd.join(15)
        finally:
            _stop(proc)
        (outcome,) = outcomes
        assert outcome.status in ("ok", "not-modified")
        assert fetcher.calls[-1] == (URL, '"written-by-the-holder"')
    finally:
        rt.close()


def test_a_free_source_uses_the_state_read_at_the_rounds_start(tmp_path):
    """Without a holder, the round's one read is what each source's fetch uses (a warm round
    sends the stored ETag and gets its 304)."""
    fetcher = FakeFetcher({URL: rss([{"title": "One", "link": "https://locks.example/1",
                                      "guid": "https://locks.example/1"}]).encode()})
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


def test_without_ofd_locks_each_source_has_a_lock_file(tmp_path):
    """Where the system has no open-file-description locks (or the filesystem refuses them),
    each source is locked through a file of its own, with the same exclusion."""
    first, second = SourceLocks(tmp_path), SourceLocks(tmp_path)
    first._ofd = second._ofd = False
    try:
        assert first.acquire("alpha", timeout=1) is False
        assert (tmp_path / "locks" / "source-alpha.lock").is_file()
        with pytest.raises(LockTimeout, match="alpha"):
            second.acquire("alpha", timeout=0.2)
        first.release("alpha")
        assert second.acquire("alpha", timeout=1) is False
        second.release("alpha")
    finally:
        first.close()
        second.close()
