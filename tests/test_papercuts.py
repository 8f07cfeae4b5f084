"""The paper cuts a new user hit, each fixed and held here by what the user sees: the exit code
and message of ``feedsvc check``, the published pages parsed back, the log and status lines."""

from __future__ import annotations

import yaml

from conftest import run_cli


def _cfg(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = 'site: {title: T, url: "http://127.0.0.1:8080/"}\n'


def test_a_bare_number_as_a_duration_is_refused_with_the_unit_to_write(tmp_path):
    cfg = _cfg(tmp_path, BASE + "schedule:\n  interval: 30\nsources:\n  - {name: a, url: 'https://a.example/feed'}\n")
    r = run_cli("--config", str(cfg), "check")
    assert r.returncode == 2
    assert "config.yaml:3: schedule.interval: 30 is a bare number: write the unit, e.g. 30s or 30m" in r.stderr


def test_a_source_polled_more_often_than_the_minimum_is_refused_unless_allowed(tmp_path):
    text = BASE + "sources:\n  - {name: a, url: 'https://a.example/feed', interval: 30s}\n"
    r = run_cli("--config", str(_cfg(tmp_path, text)), "check")
    assert r.returncode == 2 and "sources[0].interval: 30s is shorter than the minimum of 5m" in r.stderr
    assert "schedule.min_interval" in r.stderr
    allowed = BASE + "schedule: {min_interval: 10s}\n" + text[len(BASE):]
    assert run_cli("--config", str(_cfg(tmp_path, allowed)), "check").returncode == 0
    low = BASE + "schedule: {interval: 1m}\nsources: []\n"
    r = run_cli("--config", str(_cfg(tmp_path, low)), "check")
    assert r.returncode == 2 and "schedule.interval: 1m is shorter than the minimum" in r.stderr


def test_the_same_feed_under_two_names_is_an_error_naming_both(tmp_path):
    text = BASE + yaml.safe_dump({"sources": [{"name": "alpha", "url": "https://A.example/feed"},
                                              {"name": "beta", "url": "https://b.example/x"},
                                              {"name": "alpha2", "url": "https://a.example:443/feed"}]})
    r = run_cli("--config", str(_cfg(tmp_path, text)), "check")
    assert r.returncode == 2
    assert "sources[2].url: the same feed as sources[0] ('alpha')" in r.stderr
