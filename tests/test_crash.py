"""kill -9 of `feedsvc refresh` at many random moments: the store always opens, keeps every item
committed before the kill, the outputs are always complete, well-formed files, and the next
refresh completes normally. The figures are printed (run with -s) for docs/RELIABILITY.md."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree

from conftest import rss, run_cli, write_config

pytestmark = pytest.mark.slow

N_FEEDS = 30
KILLS = 40


def feed(i: int, n: int) -> str:
    return rss([{"title": f"Feed {i} post {k}", "link": f"https://f{i}.example/{k}",
                 "guid": f"https://f{i}.example/{k}", "description": "x" * 2000,
                 "date": f"Mon, 02 Nov 2026 {k % 24:02d}:{i % 60:02d}:00 +0000"} for k in range(n)])


def stored_ids(db: Path) -> set[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'item'").fetchone() is None:
            return set()      # killed before its schema was committed: an empty store, created next time
        return {r[0] for r in con.execute("SELECT id FROM item")}
    finally:
        con.close()


def test_kill_9_at_random_moments_loses_nothing(tmp_path, feed_server):
    rng = random.Random(20261128)
    sizes = {i: 3 for i in range(N_FEEDS)}
    for i in range(N_FEEDS):
        feed_server.add(f"/f{i}.xml", feed(i, sizes[i]))
    sources = [{"name": f"f{i}", "url": feed_server.url(f"/f{i}.xml")} for i in range(N_FEEDS)]
    cfg = write_config(tmp_path, sources, output={"max_items": 1000}, fetch={"workers": 4})
    # how long one whole run takes on this machine (a throwaway state of its own): the kills are
    # spread over that span, so most land in flight on a fast machine and on a loaded one alike
    calib = tmp_path / "calibrate"
    calib.mkdir()
    started = time.monotonic()
    assert run_cli("--config", str(write_config(calib, sources, output={"max_items": 1000}, fetch={"workers": 4})),
                   "refresh", "--full").returncode == 0
    span = max(0.2, 0.9 * (time.monotonic() - started))
    db = tmp_path / "state" / "feedsvc.db"
    out = tmp_path / "public"
    seen: set[str] = set()
    killed_mid_run = 0
    malformed = 0
    lost = 0
    for _n in range(KILLS):
        for i in rng.sample(range(N_FEEDS), 5):     # upstream changes between runs
            sizes[i] += rng.randint(1, 3)
            feed_server.add(f"/f{i}.xml", feed(i, sizes[i]))
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "feedsvc", "--config", str(cfg), "refresh", "--full"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_at = started + rng.uniform(0.05, span)
        while proc.poll() is None and time.monotonic() < kill_at:
            time.sleep(0.01)
        if proc.poll() is None:
            killed_mid_run += 1
        else:      # it finished before its kill: the machine is faster now than when measured
            span = max(0.2, 0.9 * (time.monotonic() - started))
        proc.kill()
        proc.wait(timeout=10)
        if db.exists():
            now = stored_ids(db)
            lost += len(seen - now)
            seen |= now
        for name in ("atom.xml", "rss.xml"):
            path = out / name
            if path.exists():
                try:
                    etree.parse(str(path))
                except etree.XMLSyntaxError:
                    malformed += 1
    # the next refresh completes normally and publishes everything
    r = run_cli("--config", str(cfg), "refresh")
    assert r.returncode == 0, r.stdout + r.stderr
    final = stored_ids(db)
    expected = sum(sizes.values())
    print(f"\ncrash test: {KILLS} kill -9 ({killed_mid_run} while running; a whole run {span / 0.9:.2f} s), items lost {lost}, "
          f"outputs malformed {malformed}, final items {len(final)} of {expected}")
    assert lost == 0
    assert malformed == 0
    assert seen <= final
    assert len(final) == expected
    entries = etree.parse(str(out / "atom.xml")).getroot().findall("{http://www.w3.org/2005/Atom}entry")
    assert len(entries) == expected
    assert killed_mid_run >= KILLS // 2   # most kills really hit a run in flight
