"""The systemd units in systemd/: hardening score, `systemd-analyze verify`, and the contract with
the CLI and docs/SERVICE.md.

Runs the real `systemd-analyze` (the `systemd` package; .ci/run installs it). `security --offline`
needs systemd >= 250; neither subcommand needs a running systemd.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from feedsvc.config import load_config

from conftest import REPO, need, run_cli

UNITS = REPO / "systemd"
SERVICES = ("feedsvc.service", "feedsvc-refresh.service", "feedsvc-worker.service")
ALL_UNITS = (*SERVICES, "feedsvc-refresh.timer")
MAX_EXPOSURE = 2.0
CONFIG = "/etc/feedsvc/config.yaml"
STATE = Path("/var/lib/feedsvc")


def analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    need(shutil.which("systemd-analyze") is not None, "systemd-analyze not installed")
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_PAGER": "",
                                        "SYSTEMD_COLORS": "0", "LANG": "C.UTF-8"})


def unit_settings(name: str) -> dict[str, list[str]]:
    """key -> values of one unit file (all sections; continuation lines joined)."""
    out: dict[str, list[str]] = {}
    text = (UNITS / name).read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def one(settings: dict[str, list[str]], key: str) -> str:
    values = [v for v in settings.get(key, []) if v]
    assert len(values) == 1, f"{key}= should be set once, found {values}"
    return values[0]


@pytest.fixture
def unit_dir(tmp_path: Path) -> Path:
    """The units alone in a directory of their own (nothing else for verify to pick up)."""
    for name in ALL_UNITS:
        shutil.copy(UNITS / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("name", SERVICES)
def test_security_exposure_is_ok(unit_dir: Path, name: str) -> None:
    # --threshold makes the exit status fail above it (the scale there is 0..100)
    res = analyze("security", "--offline=true", f"--threshold={int(MAX_EXPOSURE * 10)}", "--no-pager",
                  str(unit_dir / name), cwd=unit_dir)
    report = res.stdout + res.stderr
    m = re.search(r"Overall exposure level for (\S+): (\d+(?:\.\d+)?) (\w+)", report)
    assert m, f"no overall exposure in the output (rc {res.returncode}):\n{report}"
    assert m.group(1) == name
    exposure = float(m.group(2))
    assert exposure <= MAX_EXPOSURE, f"{name}: exposure {exposure} {m.group(3)} > {MAX_EXPOSURE}:\n{report}"
    assert m.group(3) in ("OK", "PERFECT"), report
    assert res.returncode == 0, report


def verify(unit_dir: Path, names: tuple[str, ...]) -> tuple[list[str], list[str], int]:
    """(all output lines, lines other than "ExecStart binary missing", exit status)."""
    binaries = {shlex.split(one(unit_settings(n), "ExecStart"))[0] for n in SERVICES}
    allowed = [re.compile(rf"^(\S+: )?Command {re.escape(b)} is not executable: No such file or directory$")
               for b in binaries]
    res = analyze("verify", *(str(unit_dir / n) for n in names), cwd=unit_dir)
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    return lines, [ln for ln in lines if not any(p.match(ln) for p in allowed)], res.returncode


def test_verify_reports_nothing_but_a_missing_binary(unit_dir: Path) -> None:
    lines, unexpected, rc = verify(unit_dir, ALL_UNITS)
    assert not unexpected, "systemd-analyze verify:\n" + "\n".join(lines)
    if not lines:
        assert rc == 0


def test_verify_catches_a_broken_unit(unit_dir: Path) -> None:
    """The check above is not vacuous: a bad value in a unit shows up as an unexpected line."""
    broken = unit_dir / "feedsvc.service"
    broken.write_text(broken.read_text(encoding="utf-8").replace("Restart=on-failure", "Restart=sometimes"),
                      encoding="utf-8")
    _lines, unexpected, _rc = verify(unit_dir, ("feedsvc.service",))
    assert any("sometimes" in ln for ln in unexpected), unexpected


def test_daemon_unit_contract() -> None:
    s = unit_settings("feedsvc.service")
    argv = shlex.split(one(s, "ExecStart"))
    assert Path(argv[0]).is_absolute() and argv[0].endswith("/feedsvc")
    assert argv[1:] == ["--config", CONFIG, "run"]
    assert one(s, "Type") == "notify"
    assert one(s, "NotifyAccess") == "main"
    assert one(s, "WatchdogSec") == "60s"
    assert one(s, "Restart") == "on-failure"
    assert one(s, "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(s, "KillSignal") == "SIGTERM"
    assert one(s, "TimeoutStopSec") == "15"
    assert one(s, "StateDirectory") == STATE.name
    assert one(s, "User") not in ("root", "0")
    assert "AF_UNIX" in one(s, "RestrictAddressFamilies")  # the notify socket
    assert one(s, "WantedBy") == "multi-user.target"


def test_refresh_units_contract() -> None:
    daemon, refresh = unit_settings("feedsvc.service"), unit_settings("feedsvc-refresh.service")
    assert one(refresh, "Type") == "oneshot"
    argv = shlex.split(one(refresh, "ExecStart"))
    assert argv[0] == shlex.split(one(daemon, "ExecStart"))[0]
    assert argv[1:] == ["--config", CONFIG, "refresh"]
    # same identity and sandbox as the daemon: they share the store
    skip = {"Type", "NotifyAccess", "WatchdogSec", "Restart", "RestartSec", "ExecStart", "ExecReload",
            "Description", "TimeoutStartSec", "WantedBy"}
    for key in set(daemon) - skip:
        assert refresh.get(key) == daemon[key], f"feedsvc-refresh.service differs in {key}="
    timer = unit_settings("feedsvc-refresh.timer")
    assert timer.get("Unit", ["feedsvc-refresh.service"]) == ["feedsvc-refresh.service"]
    assert one(timer, "OnCalendar")
    assert one(timer, "WantedBy") == "timers.target"


def test_refresh_unit_command_runs(tmp_path: Path) -> None:
    """The refresh unit's command line, with our interpreter and a temp config, really refreshes."""
    (tmp_path / "articles").mkdir()
    shutil.copy(REPO / "articles" / "community-garden.txt", tmp_path / "articles")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({
        "site": {"title": "T", "url": "http://127.0.0.1:8080/"},
        "output": {"dir": str(tmp_path / "public")}, "state_dir": str(tmp_path / "state"),
        "sources": [{"name": "articles", "path": str(tmp_path / "articles")}]}), encoding="utf-8")
    argv = shlex.split(one(unit_settings("feedsvc-refresh.service"), "ExecStart"))[1:]
    res = run_cli(*[str(cfg) if a == CONFIG else a for a in argv], cwd=REPO)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "public" / "atom.xml").is_file()


def test_service_docs_config_matches_the_unit(tmp_path: Path) -> None:
    """docs/SERVICE.md's example config loads, and puts state and output in the StateDirectory."""
    doc = (REPO / "docs" / "SERVICE.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    assert len(blocks) == 1
    data = yaml.safe_load(blocks[0])
    assert Path(data["state_dir"]).parent == STATE
    assert Path(data["output"]["dir"]).parent == STATE
    cfg = tmp_path / "config.yaml"
    cfg.write_text(blocks[0], encoding="utf-8")
    load_config(cfg)                       # valid (check also wants its directories, not on this machine)
    res = run_cli("--config", str(cfg), "check", cwd=REPO)
    assert res.returncode == 2 and "does not exist" in res.stderr, res.stdout + res.stderr
    for name in ALL_UNITS:
        assert f"systemd/{name}" in doc, f"docs/SERVICE.md does not install {name}"
    assert "/etc/feedsvc/config.yaml" in doc and "journalctl -u feedsvc" in doc
