"""Faults of the machine: a full disk during publish, a corrupt store, daemon and CLI at once."""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import feedparser
import pytest
from lxml import etree
from test_daemon import Daemon

from conftest import rss, run_cli, write_config


def items(n: int, prefix: str = "p", words: int = 200) -> list[dict]:
    return [{"title": f"{prefix} {k}", "link": f"https://x.example/{prefix}/{k}", "guid": f"https://x.example/{prefix}/{k}",
             "description": "text " * words, "date": f"Mon, 02 Nov 2026 10:{k % 60:02d}:00 +0000"} for k in range(n)]


def limited_fsize(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_full_disk_during_publish_keeps_the_previous_files(tmp_path, feed_server):
    feed_server.add("/a.xml", rss(items(60, words=1000)))
    cfg = write_config(tmp_path, [{"name": "a", "url": feed_server.url("/a.xml")}], output={"max_items": 3})
    assert run_cli("--config", str(cfg), "refresh").returncode == 0
    out = tmp_path / "public"
    before = {n: (out / n).read_bytes() for n in ("atom.xml", "rss.xml")}
    # now the outputs must grow to 60 items, but the "disk" is full: any file write past 96 KiB
    # fails (EFBIG, a real kernel error, like ENOSPC) — the store only reads during a publish
    write_config(tmp_path, [{"name": "a", "url": feed_server.url("/a.xml")}], output={"max_items": 100})
    proc = subprocess.run([sys.executable, "-m", "feedsvc", "--config", str(cfg), "publish"],
                          capture_output=True, text=True, timeout=60, preexec_fn=limited_fsize(96 * 1024))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "publish failed" in proc.stderr and "atom.xml" in proc.stderr
    assert "Traceback" not in proc.stderr
    after = {n: (out / n).read_bytes() for n in ("atom.xml", "rss.xml")}
    assert after == before
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []   # no temp files left
    # the next successful round publishes
    r = run_cli("--config", str(cfg), "refresh")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(feedparser.parse((out / "atom.xml").read_bytes()).entries) == 60


@contextmanager
def read_only(directory: Path):
    """Make a directory unwritable, for root too (chattr +i: root ignores permission bits)."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(directory)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not supported on this filesystem")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        os.chmod(directory, 0o555)
        try:
            yield
        finally:
            os.chmod(directory, 0o755)


def test_read_only_output_dir_fails_publish_cleanly(tmp_path, feed_server):
    feed_server.add("/a.xml", rss(items(2)))
    cfg = write_config(tmp_path, [{"name": "a", "url": feed_server.url("/a.xml")}])
    assert run_cli("--config", str(cfg), "refresh").returncode == 0
    out = tmp_path / "public"
    before = (out / "atom.xml").read_bytes()
    feed_server.add("/a.xml", rss(items(5)))
    with read_only(out):
        r = run_cli("--config", str(cfg), "refresh")
    assert r.returncode == 1 and "publish failed" in r.stderr and "Traceback" not in r.stderr
    assert (out / "atom.xml").read_bytes() == before
    assert run_cli("--config", str(cfg), "refresh").returncode == 0


@pytest.mark.parametrize("damage", ["garbage", "truncated", "directory"])
def test_corrupt_store_gives_a_clear_error(tmp_path, feed_server, damage):
    feed_server.add("/a.xml", rss(items(2)))
    cfg = write_config(tmp_path, [{"name": "a", "url": feed_server.url("/a.xml")}])
    assert run_cli("--config", str(cfg), "refresh").returncode == 0
    db = tmp_path / "state" / "feedsvc.db"
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    if damage == "garbage":
        db.write_bytes(b"this is not a database" * 100)
    elif damage == "truncated":
        db.write_bytes(db.read_bytes()[:1000])
    else:
        db.unlink()
        db.mkdir()
    for cmd in (["refresh"], ["status"], ["publish"]):
        r = run_cli("--config", str(cfg), *cmd)
        assert r.returncode == 1, (cmd, r.stdout, r.stderr)
        assert str(db) in r.stderr and "Traceback" not in r.stderr
        assert "move it aside" in r.stderr or "cannot be" in r.stderr


@pytest.mark.slow
def test_daemon_and_cli_driven_hard_at_once(tmp_path, feed_server):
    n = 8
    sizes = {i: 2 for i in range(n)}
    for i in range(n):
        feed_server.add(f"/f{i}.xml", rss(items(sizes[i], f"f{i}")))
    cfg = write_config(tmp_path, [{"name": f"f{i}", "url": feed_server.url(f"/f{i}.xml"), "interval": "1s"} for i in range(n)],
                       schedule={"interval": "1s", "jitter": 0}, output={"max_items": 1000})
    d = Daemon(cfg)
    out = tmp_path / "public"
    try:
        d.wait_for(lambda: (out / "atom.xml").exists(), what="first publish")
        for _round in range(12):
            for i in range(n):
                sizes[i] += 1
                feed_server.add(f"/f{i}.xml", rss(items(sizes[i], f"f{i}")))
            r = run_cli("--config", str(cfg), "refresh", "--full", timeout=120)
            assert r.returncode == 0, r.stdout + r.stderr
            for name in ("atom.xml", "rss.xml"):
                etree.parse(str(out / name))       # never a half-written file
            got = len(feedparser.parse((out / "atom.xml").read_bytes()).entries)
            assert got == sum(sizes.values())     # the CLI returned with everything published
        assert d.proc.poll() is None
        assert "database is locked" not in d.text() and "Traceback" not in d.text()
        assert d.stop() == 0
    finally:
        d.kill()
    con = sqlite3.connect(tmp_path / "state" / "feedsvc.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT COUNT(*) FROM item").fetchone()[0] == sum(sizes.values())
    con.close()
