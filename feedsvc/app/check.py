"""``feedsvc check``: everything that can be verified without the network, for the user who will
run the service (run it as that user: ``sudo -u feedsvc feedsvc check``).

The config itself was already loaded (unknown keys, types, regular expressions, ``${…}`` secrets,
duplicate names and URLs, minimum intervals). Then: every local source's directory exists and
can be read; the state and output directories (and the report's) exist or can be created, and
this user can write there; a SQLite store, if there is one, can be opened; the templates are
found. It prints each source with its effective interval and exits 2, naming the key, at the
first thing that is wrong.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from feedsvc.config import Config
from feedsvc.errors import ConfigError


def _writable(path: Path, key: str) -> str:
    """``path`` exists (or can be created) and this user can write in it; the nearest existing
    ancestor is what gets checked when it does not exist yet."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{probe} is not a directory", key=key)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{probe} is not writable by this user ({_user()}): "
                          f"{'create ' + str(path) + ' for it' if probe != path else 'give it write access'}", key=key)
    if probe == path:
        try:
            fd, tmp = tempfile.mkstemp(prefix=".feedsvc-check-", dir=path)
            os.close(fd)
            os.unlink(tmp)
        except OSError as exc:
            raise ConfigError(f"cannot write in {path}: {exc.strerror or exc}", key=key) from None
        return "writable"
    return f"will be created (in {probe}, writable)"


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def check(config: Config) -> list[str]:
    """The lines to print; raises ConfigError (exit 2) at the first problem, naming the config
    file and the key."""
    try:
        return _check(config)
    except ConfigError as exc:
        if exc.path is not None:
            raise
        raise ConfigError(exc.message, key=exc.key, path=str(config.path)) from None


def _check(config: Config) -> list[str]:
    from feedsvc.items.source_state import effective_interval

    lines = [f"{config.path}: the config is valid ({len(config.sources)} sources)"]
    for i, src in enumerate(config.sources):
        if src.path is not None:
            if not src.path.is_dir():
                raise ConfigError(f"directory {src.path} does not exist", key=f"sources[{i}].path")
            if not os.access(src.path, os.R_OK | os.X_OK):
                raise ConfigError(f"directory {src.path} is not readable by this user ({_user()})",
                                  key=f"sources[{i}].path")
    lines.append(f"state_dir {config.state_dir}: {_writable(config.state_dir, 'state_dir')}")
    lines.append(f"output.dir {config.output.dir}: {_writable(config.output.dir, 'output.dir')}")
    if config.report.dir is not None:
        lines.append(f"report.dir {config.report.dir}: {_writable(config.report.dir, 'report.dir')}")
    templates = getattr(config.output, "templates", None)
    if templates is not None and not Path(templates).is_dir():
        raise ConfigError(f"template directory {templates} does not exist", key="output.templates")
    if templates is not None:
        lines.append(f"output.templates {templates}: {_theme(Path(templates))}")
    lines.append(f"store: {config.store_url}")
    from feedsvc.storage import open_storage

    try:
        store = open_storage(config, readonly=True)
    except Exception as exc:  # noqa: BLE001 - reported as the store's problem, exit 2
        raise ConfigError(f"the store cannot be opened: {exc}", key="store") from None
    try:
        states = store.states()
    finally:
        store.close()
    width = max((len(s.name) for s in config.sources), default=0)
    for src in config.sources:
        st = states.get(src.name)
        every = effective_interval(src.interval, st) if st is not None else src.interval
        where = src.shown_url if src.kind == "feed" else str(src.path)
        lines.append(f"  {src.name:<{width}}  every {_every(every)}  {where}")
    return lines


def _theme(templates: Path) -> str:
    """Which packaged templates the theme replaces (each compiled: a syntax error is a config
    error naming the file and line), and the files in it that no template name matches."""
    from feedsvc.errors import PublishError
    from feedsvc.output.render.html import THEME_FILES, check_theme

    try:
        used, unknown = check_theme(templates)
    except PublishError as exc:
        raise ConfigError(str(exc), key="output.templates") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {templates}: {exc.strerror or exc}", key="output.templates") from None
    text = f"replaces {', '.join(used)}" if used else "replaces nothing yet"
    if unknown:
        text += f"; ignored (not a template name: {', '.join(THEME_FILES)}): {', '.join(unknown)}"
    return text


def _every(seconds: float) -> str:
    s = int(seconds)
    if s % 86400 == 0:
        return f"{s // 86400}d"
    if s % 3600 == 0:
        return f"{s // 3600}h"
    return f"{s // 60}m" if s % 60 == 0 else f"{s}s"
