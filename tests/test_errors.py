"""One exception tree: everything feedsvc raises on purpose is a FeedsvcError, so the CLI says
what went wrong in one line (never "internal error" with a class name); and every third-party
package the code imports is a declared dependency."""

from __future__ import annotations

import ast
import fcntl
import os
import sys
import tomllib
from pathlib import Path

import pytest

from feedsvc import errors
from feedsvc.app import cli
from feedsvc.output import publisher

from conftest import write_config

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["ConfigError", "SourceError", "FetchError", "ParseError", "ArticleSkipped",
                                  "StoreError", "LockTimeout", "PublishError", "WorkerGone"])
def test_every_error_is_in_the_tree(name):
    assert issubclass(getattr(errors, name), errors.FeedsvcError)


@pytest.fixture
def own_logging():
    """cli.main sets up the root logger on this test's stderr: give the next tests theirs back."""
    import logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield
    root.handlers[:], _ = saved[0], root.setLevel(saved[1])


def test_a_publish_lock_held_too_long_is_a_plain_error(tmp_path, monkeypatch, capsys, own_logging):
    cfg = write_config(tmp_path, [{"name": "a", "path": "articles"}])
    (tmp_path / "articles").mkdir()
    lock = tmp_path / "state" / "locks" / "publish.lock"
    lock.parent.mkdir(parents=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)          # another process's publish, as far as flock can tell
    monkeypatch.setattr(publisher, "PUBLISH_LOCK_TIMEOUT", 0.3)
    try:
        code = cli.main(["--config", str(cfg), "publish"])
    finally:
        os.close(fd)
    err = capsys.readouterr().err
    assert code == 1
    assert "internal error" not in err and "held by another feedsvc process" in err, err


def _third_party_imports() -> set[str]:
    stdlib = set(sys.stdlib_module_names)
    found: set[str] = set()
    for path in (REPO / "feedsvc").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                     else [])
            for n in names:
                top = n.split(".")[0]
                if top not in stdlib and top != "feedsvc":
                    found.add(top)
    return found


def test_every_imported_package_is_declared():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [d for d in meta["dependencies"]] + [d for deps in meta.get("optional-dependencies", {}).values()
                                                    for d in deps]
    names = {d.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower() for d in declared}
    # import name → distribution name where they differ
    dist = {"yaml": "pyyaml", "jinja2": "jinja2", "markdown_it": "markdown-it-py", "apscheduler": "apscheduler",
            "markupsafe": "jinja2"}
    missing = {m for m in _third_party_imports() if dist.get(m.lower(), m.lower()) not in names}
    assert missing == set()
