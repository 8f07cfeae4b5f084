"""What an operator reads in `feedsvc status` (text, not only --json) as a source fails and recovers."""

from __future__ import annotations

from conftest import rss, run_cli, write_config


def status_text(cfg) -> str:
    r = run_cli("--config", str(cfg), "status")
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_status_text_follows_a_source_through_failure_and_recovery(tmp_path, feed_server):
    feed_server.add("/ok.xml", rss([{"title": "fine", "link": "https://ok.example/1"}]))
    feed_server.add("/bad.xml", b"upstream broke", status=500)
    cfg = write_config(tmp_path, [{"name": "good", "url": feed_server.url("/ok.xml")},
                                  {"name": "flaky", "url": feed_server.url("/bad.xml"), "interval": "10m"}])
    assert "never refreshed" in status_text(cfg)

    for _ in range(2):
        assert run_cli("--config", str(cfg), "refresh").returncode == 1
    text = status_text(cfg)
    good, flaky = text.split("flaky (", 1)
    assert "state:        ok" in good
    state = next(line for line in flaky.splitlines() if "state:" in line)
    assert "erroring since 20" in state and "backing off until 20" in state
    error = next(line for line in flaky.splitlines() if "last error:" in line)
    assert "500" in error and "(2 consecutive failures)" in error

    feed_server.add("/bad.xml", rss([{"title": "back again", "link": "https://flaky.example/1"}]))
    assert run_cli("--config", str(cfg), "refresh", "flaky").returncode == 0
    flaky = status_text(cfg).split("flaky (", 1)[1]
    assert "state:        ok" in flaky and "last error" not in flaky
