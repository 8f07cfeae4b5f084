"""The command line as a user runs it: check, status (--json), publish without the network,
refresh of named sources, exit codes, stdout/stderr discipline, the progress bar only on a TTY."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios

import feedsvc

from conftest import REPO, FeedServer, rss, write_config
from helpers_feedsvc import cli, mtimes, published


def two_sources(tmp_path, feed_server):
    arts = tmp_path / "articles"
    arts.mkdir()
    (arts / "one.txt").write_text("Local one\n\nbody\n\nAuthor: Ann\n")
    (arts / "empty.txt").write_text("")
    url = feed_server.add("/feed.xml", rss([{"title": "Remote one", "link": "https://r.example/1", "guid": "r1",
                                             "date": "Mon, 01 Jan 2024 10:00:00 GMT"},
                                            {"title": "Remote two", "link": "https://r.example/2", "guid": "r2",
                                             "date": "Tue, 02 Jan 2024 10:00:00 GMT"}]))
    write_config(tmp_path, [{"name": "local", "path": "articles"}, {"name": "remote", "url": url}])
    return url


def test_check_validates_and_touches_nothing(tmp_path):
    write_config(tmp_path, [{"name": "a", "path": "articles"}, {"name": "b", "url": "https://e.org/feed"}])
    (tmp_path / "articles").mkdir()
    r = cli("check", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "the config is valid (2 sources)" in r.stdout and str(tmp_path / "config.yaml") in r.stdout
    assert "state_dir" in r.stdout and "will be created" in r.stdout
    assert "  b  every 15m  https://e.org/feed" in r.stdout            # each source, its effective interval
    assert r.stderr == ""
    assert not (tmp_path / "state").exists() and not (tmp_path / "public").exists()


def test_check_catches_what_would_fail_the_service(tmp_path):
    import os

    write_config(tmp_path, [{"name": "a", "path": "articles"}])
    r = cli("check", cwd=tmp_path)
    assert r.returncode == 2 and "sources[0].path: directory" in r.stderr and "does not exist" in r.stderr
    assert f"{tmp_path / 'config.yaml'}: sources[0].path" in r.stderr      # the file, then the key
    (tmp_path / "articles").mkdir()
    (tmp_path / "public").mkdir()
    if os.geteuid() != 0:                  # root may write anywhere: only an ordinary user is refused
        (tmp_path / "public").chmod(0o500)
        r = cli("check", cwd=tmp_path)
        assert r.returncode == 2 and "output.dir" in r.stderr and "not writable" in r.stderr
        (tmp_path / "public").chmod(0o700)
    (tmp_path / "state").write_text("a file where a directory should be")
    r = cli("check", cwd=tmp_path)
    assert r.returncode == 2 and "state_dir" in r.stderr and "is not a directory" in r.stderr


def test_status_json_fields(tmp_path, feed_server):
    two_sources(tmp_path, feed_server)
    missing = feed_server.url("/missing.xml")
    write_config(tmp_path, [{"name": "local", "path": "articles"},
                            {"name": "remote", "url": feed_server.url("/feed.xml")},
                            {"name": "broken", "url": missing}])
    before = json.loads(cli("status", "--json", cwd=tmp_path).stdout)
    assert [s["last_attempt"] for s in before["sources"]] == [None, None, None]
    assert all(not o["exists"] for o in before["outputs"])

    assert cli("refresh", cwd=tmp_path).returncode == 1
    r = cli("status", "--json", cwd=tmp_path)
    assert r.returncode == 0
    data = json.loads(r.stdout)                                   # stdout is pure JSON
    src = {s["name"]: s for s in data["sources"]}
    assert list(src) == ["local", "remote", "broken"]
    for s in src.values():
        for key in ("kind", "last_attempt", "last_success", "last_error", "etag", "items"):
            assert key in s
    assert src["local"]["kind"] == "local" and src["local"]["items"] == 1
    assert src["remote"]["kind"] == "feed" and src["remote"]["items"] == 2
    assert src["remote"]["etag"] and src["remote"]["last_success"] and src["remote"]["last_error"] is None
    assert src["broken"]["last_error"] and "404" in src["broken"]["last_error"]
    assert src["broken"]["last_success"] is None and src["broken"]["last_attempt"]
    assert src["broken"]["items"] == 0
    outputs = {os.path.basename(o["file"]): o for o in data["outputs"]}
    assert outputs["atom.xml"]["exists"] and outputs["atom.xml"]["items"] == 3
    assert outputs["rss.xml"]["items"] == 3
    assert data["store_items"] == 3
    # the human form says the same
    human = cli("status", cwd=tmp_path).stdout
    assert "local" in human and "remote" in human and "404" in human and "3 items" in human


def test_publish_rerenders_from_the_store_without_the_network(tmp_path):
    server = FeedServer()
    try:
        url = server.add("/feed.xml", rss([{"title": "Stored", "link": "https://s.example/1", "guid": "s1",
                                            "date": "Mon, 01 Jan 2024 10:00:00 GMT"}]))
        write_config(tmp_path, [{"name": "remote", "url": url}])
        assert cli("refresh", cwd=tmp_path).returncode == 0
        hits = len(server.hits)
    finally:
        server.stop()                                   # nothing answers there any more
    pub = tmp_path / "public"
    before = {n: (pub / n).read_bytes() for n in ("atom.xml", "rss.xml")}
    for n in before:
        (pub / n).unlink()
    r = cli("publish", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "published 1 item " in r.stdout
    assert {n: (pub / n).read_bytes() for n in before} == before
    assert hits == 1
    m = mtimes(pub)
    r = cli("publish", cwd=tmp_path)
    assert r.returncode == 0 and "nothing changed" in r.stdout and mtimes(pub) == m


def test_refresh_named_sources_only(tmp_path, feed_server):
    a = feed_server.add("/a.xml", rss([{"title": "A", "link": "https://a.example/1", "guid": "a"}]))
    b = feed_server.add("/b.xml", rss([{"title": "B", "link": "https://b.example/1", "guid": "b"}]))
    write_config(tmp_path, [{"name": "a", "url": a}, {"name": "b", "url": b}])
    r = cli("refresh", "b", cwd=tmp_path)
    assert r.returncode == 0
    assert [ln.split()[0] for ln in r.stdout.splitlines() if not ln.startswith("published")] == ["b"]
    assert feed_server.hits_for("/a.xml") == [] and len(feed_server.hits_for("/b.xml")) == 1
    assert published(tmp_path / "public").titles() == ["B"]
    r = cli("refresh", "nosuch", cwd=tmp_path)
    assert r.returncode == 2
    assert "nosuch" in r.stderr and "a, b" in r.stderr and "Traceback" not in r.stderr


def test_refresh_summary_lines_and_streams(tmp_path, feed_server):
    two_sources(tmp_path, feed_server)
    r = cli("refresh", cwd=tmp_path)
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert re.match(r"^local\s+ok\s+1 new, 0 updated, 0 unchanged", lines[0])
    assert re.match(r"^remote\s+ok\s+2 new, 0 updated, 0 unchanged", lines[1])
    assert lines[2].startswith("published 3 items to") and "atom.xml, rss.xml" in lines[2]
    # the warning goes to stderr through logging, naming the file
    assert "empty.txt" in r.stderr and "WARNING" in r.stderr
    # no progress bar when stderr is not a terminal
    assert "\r" not in r.stderr and "%|" not in r.stderr
    r = cli("refresh", cwd=tmp_path)
    assert re.match(r"^remote\s+unchanged\s+not modified", r.stdout.splitlines()[1])


def test_quiet_and_verbose(tmp_path, feed_server):
    two_sources(tmp_path, feed_server)
    r = cli("refresh", "-q", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == ""
    (tmp_path / "public" / "atom.xml").unlink()
    r = cli("-vv", "refresh", cwd=tmp_path)
    assert r.returncode == 0
    assert "DEBUG" in r.stderr and "wrote atom.xml" in r.stderr


def test_usage_errors_exit_2(tmp_path):
    write_config(tmp_path, [{"name": "a", "path": "a"}])
    r = cli(cwd=tmp_path)
    assert r.returncode == 2
    r = cli("frobnicate", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = cli("refresh", "--no-such-flag", cwd=tmp_path)
    assert r.returncode == 2
    r = cli("--version", cwd=tmp_path)
    assert r.returncode == 0 and feedsvc.__version__ in r.stdout


def test_progress_bar_on_a_terminal(tmp_path, feed_server):
    two_sources(tmp_path, feed_server)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))   # a 100-column terminal
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("FEEDSVC_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "feedsvc", "refresh"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks = []
    try:
        while True:                                           # until the child closes the terminal
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    tty = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0
    assert re.search(r"refresh:\s+\d+%\|.*\| [0-2]/2", tty), tty       # the bar, over the 2 sources
    assert b"published 3 items" in out                       # the summary still on stdout
