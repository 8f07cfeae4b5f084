"""YAML → frozen, validated ``Config``. Every config error is raised here, naming the key and line.

Paths in the file are relative to the config file's directory. Durations are ``90s``, ``15m``,
``1h``, ``1d`` (or combinations such as ``1h30m``), or a number of seconds.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, unquote

import yaml

from feedsvc.errors import ConfigError

NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_DURATION_RE = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$", re.I)
_SIZE_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2,
               "gb": 1000**3, "gib": 1024**3}


@dataclass(frozen=True, slots=True)
class Site:
    title: str
    url: str                         # ends with "/"
    id: str                          # defaults to url
    description: str
    author: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Output:
    dir: Path
    max_items: int = 50


@dataclass(frozen=True, slots=True)
class Retention:
    max_age: float = 365 * 86400.0   # seconds: items older than this and gone from their feed are purged
    per_source: int = 1000           # at most this many items kept per source (newest)


DEFAULT_MAX_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Fetch:
    workers: int = 8                 # concurrent fetches in a refresh
    connect_timeout: float = 10.0
    timeout: float = 30.0            # whole response
    max_bytes: int = 10 * 1024 * 1024  # body cap, compressed and decompressed
    max_entries: int = 500           # entries taken from one fetch (newest first in document order)


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    path: Path | None = None         # local directory of articles
    url: str | None = None           # remote feed (http, https or file:)
    interval: float = 900.0          # seconds
    title: str | None = None         # display name override

    @property
    def kind(self) -> str:
        return "local" if self.path is not None else "feed"


@dataclass(frozen=True, slots=True)
class Config:
    path: Path                       # the config file
    site: Site
    output: Output
    state_dir: Path
    interval: float                  # schedule.interval, seconds
    sources: tuple[Source, ...]
    retention: Retention = field(default_factory=Retention)
    fetch: Fetch = field(default_factory=Fetch)
    jitter: float = 0.1              # fraction of the interval the daemon spreads runs over

    def source(self, name: str) -> Source:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def source_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sources)


def parse_duration(value: Any) -> float:
    """``"90s"`` → 90.0; ``"1h30m"`` → 5400.0; a bare number is seconds. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 90s, 15m, 1h or 1d")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError("must be positive")
        return float(value)
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m and any(m.groups()):
            d, h, mi, s = (int(g or 0) for g in m.groups())
            total = d * 86400 + h * 3600 + mi * 60 + s
            if total <= 0:
                raise ValueError("must be positive")
            return float(total)
    raise ValueError(f"{value!r} is not a duration like 90s, 15m, 1h or 1d")


def parse_size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if m:
            n = int(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()]
            if n > 0:
                return n
    raise ValueError(f"{value!r} is not a size like 10MiB or 500KB")


# ---- YAML with line numbers -------------------------------------------------------------------

class _Doc:
    """Plain Python values plus the line of every key path, from one YAML document."""

    def __init__(self, text: str, path: Path) -> None:
        self.path = path
        self.lines: dict[str, int] = {}
        try:
            # libyaml's parser when present (1.2 s → 0.13 s for 5000 sources); the pure-Python one
            # again on an error, for its clearer wording of what is wrong
            node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError:
            try:
                node = yaml.compose(text, Loader=yaml.SafeLoader)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                line = mark.line + 1 if mark is not None else None
                problem = getattr(exc, "problem", None) or str(exc)
                raise ConfigError(f"not valid YAML: {problem}", line=line, path=str(path)) from exc
        self._loader = yaml.SafeLoader("")      # constructs the scalars; one for the document
        try:
            self.data = self._convert(node, "") if node is not None else {}
        finally:
            self._loader.dispose()

    def _convert(self, node: yaml.Node, key: str) -> Any:
        self.lines.setdefault(key, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for k_node, v_node in node.value:
                k = self._scalar(k_node)
                sub = f"{key}.{k}" if key else str(k)
                if k in out:
                    raise ConfigError("duplicate key", key=sub, line=k_node.start_mark.line + 1,
                                      path=str(self.path))
                self.lines[sub] = k_node.start_mark.line + 1
                out[k] = self._convert(v_node, sub)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._convert(v, f"{key}[{i}]") for i, v in enumerate(node.value)]
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise ConfigError("keys must be plain strings", line=node.start_mark.line + 1,
                              path=str(self.path))
        return self._loader.construct_object(node, deep=True)

    def error(self, key: str, message: str) -> ConfigError:
        line = self.lines.get(key)
        probe = key
        while line is None and probe:
            probe = probe.rpartition(".")[0] if "." in probe else ""
            line = self.lines.get(probe)
        return ConfigError(message, key=key, line=line, path=str(self.path))


# ---- validation helpers --------------------------------------------------------------------------

def _mapping(doc: _Doc, value: Any, key: str, allowed: set[str]) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise doc.error(key, f"must be a mapping, not {_typename(value)}")
    for k in value:
        if not isinstance(k, str) or k not in allowed:
            sub = f"{key}.{k}" if key else str(k)
            raise doc.error(sub, "unknown key (allowed: " + ", ".join(sorted(allowed)) + ")")
    return value


def _typename(value: Any) -> str:
    return {str: "a string", int: "a number", float: "a number", bool: "true/false",
            list: "a list", dict: "a mapping", type(None): "empty"}.get(type(value), type(value).__name__)


def _str(doc: _Doc, m: dict[str, Any], key: str, path: str, *, required: bool = False,
         default: str | None = None) -> str | None:
    if key not in m or m[key] is None:
        if required:
            raise doc.error(path, "is required")
        return default
    value = m[key]
    if not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        else:
            raise doc.error(path, f"must be a string, not {_typename(value)}")
    if required and not value.strip():
        raise doc.error(path, "must not be empty")
    return value


def _int(doc: _Doc, m: dict[str, Any], key: str, path: str, default: int, minimum: int = 1) -> int:
    value = m.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise doc.error(path, f"must be a whole number, not {_typename(value)}")
    if value < minimum:
        raise doc.error(path, f"must be at least {minimum}")
    return value


def _duration(doc: _Doc, m: dict[str, Any], key: str, path: str, default: float) -> float:
    if key not in m:
        return default
    try:
        return parse_duration(m[key])
    except ValueError as exc:
        raise doc.error(path, str(exc)) from None


def _http_url(doc: _Doc, value: str, path: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise doc.error(path, f"must be an http(s) URL, not {value!r}")
    return value


def _resolve(base: Path, value: str) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else (base / p)


def file_url_path(url: str, base: Path) -> Path:
    """``file:feeds/x.xml`` (relative to the config) or ``file:///abs/x.xml`` → a Path."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"file: URL with a host is not supported: {url!r}")
    raw = unquote(parts.path)
    return _resolve(base, raw)


# ---- the config -----------------------------------------------------------------------------------

TOP_KEYS = {"site", "output", "state_dir", "schedule", "sources", "retention", "fetch"}
SITE_KEYS = {"title", "url", "id", "description", "author", "language"}
OUTPUT_KEYS = {"dir", "max_items"}
SCHEDULE_KEYS = {"interval", "jitter"}
RETENTION_KEYS = {"max_age", "per_source"}
FETCH_KEYS = {"workers", "connect_timeout", "timeout", "max_bytes", "max_entries"}
SOURCE_KEYS = {"name", "path", "url", "interval", "title"}


def default_config_path() -> Path:
    return Path(os.environ.get("FEEDSVC_CONFIG") or "config.yaml")


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the config file. Raises ConfigError naming the key (and line)."""
    cfg_path = Path(path) if path is not None else default_config_path()
    try:
        text = cfg_path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError("config file not found (use --config PATH or set FEEDSVC_CONFIG)",
                          path=str(cfg_path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", path=str(cfg_path)) from None
    return parse_config(text, cfg_path)


def parse_config(text: str, cfg_path: Path) -> Config:
    doc = _Doc(text, cfg_path)
    base = cfg_path.resolve().parent
    top = _mapping(doc, doc.data, "", TOP_KEYS)

    if "site" not in top:
        raise doc.error("site", "is required")
    s = _mapping(doc, top["site"], "site", SITE_KEYS)
    title = _str(doc, s, "title", "site.title", required=True)
    url = _http_url(doc, _str(doc, s, "url", "site.url", required=True) or "", "site.url")
    if not url.endswith("/"):
        url += "/"
    site_id = _str(doc, s, "id", "site.id") or url
    if not urlsplit(site_id).scheme:
        raise doc.error("site.id", f"must be an IRI with a scheme (e.g. tag:, urn: or http:), not {site_id!r}")
    site = Site(title=title or "", url=url, id=site_id,
                description=_str(doc, s, "description", "site.description") or f"{title}: combined feed",
                author=_str(doc, s, "author", "site.author"),
                language=_str(doc, s, "language", "site.language"))

    o = _mapping(doc, top.get("output"), "output", OUTPUT_KEYS)
    output = Output(dir=_resolve(base, _str(doc, o, "dir", "output.dir", default="public") or "public"),
                    max_items=_int(doc, o, "max_items", "output.max_items", 50))

    state_dir = _resolve(base, _str(doc, top, "state_dir", "state_dir", default="state") or "state")

    sch = _mapping(doc, top.get("schedule"), "schedule", SCHEDULE_KEYS)
    interval = _duration(doc, sch, "interval", "schedule.interval", 900.0)
    jitter = sch.get("jitter", 0.1)
    if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or not 0 <= jitter <= 1:
        raise doc.error("schedule.jitter", "must be a fraction between 0 and 1")

    r = _mapping(doc, top.get("retention"), "retention", RETENTION_KEYS)
    retention = Retention(max_age=_duration(doc, r, "max_age", "retention.max_age", 365 * 86400.0),
                          per_source=_int(doc, r, "per_source", "retention.per_source", 1000))

    f = _mapping(doc, top.get("fetch"), "fetch", FETCH_KEYS)
    max_bytes = DEFAULT_MAX_BYTES
    if "max_bytes" in f:
        try:
            max_bytes = parse_size(f["max_bytes"])
        except ValueError as exc:
            raise doc.error("fetch.max_bytes", str(exc)) from None
    fetch = Fetch(workers=_int(doc, f, "workers", "fetch.workers", 8),
                  connect_timeout=_duration(doc, f, "connect_timeout", "fetch.connect_timeout", 10.0),
                  timeout=_duration(doc, f, "timeout", "fetch.timeout", 30.0),
                  max_bytes=max_bytes,
                  max_entries=_int(doc, f, "max_entries", "fetch.max_entries", 500))

    raw_sources = top.get("sources")
    if raw_sources is None:
        raise doc.error("sources", "is required (a list of sources)")
    if not isinstance(raw_sources, list):
        raise doc.error("sources", f"must be a list, not {_typename(raw_sources)}")
    sources: list[Source] = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(raw_sources):
        key = f"sources[{i}]"
        m = _mapping(doc, raw, key, SOURCE_KEYS)
        name = _str(doc, m, "name", f"{key}.name", required=True) or ""
        if not NAME_RE.match(name):
            raise doc.error(f"{key}.name", f"{name!r}: use only letters, digits, - and _")
        if name in seen:
            raise doc.error(f"{key}.name", f"duplicate source name {name!r} (also {seen[name]})")
        seen[name] = key
        has_path, has_url = m.get("path") is not None, m.get("url") is not None
        if has_path == has_url:
            raise doc.error(key, f"source {name!r} needs exactly one of 'path' (local articles) "
                                 "or 'url' (a feed)")
        src_path = None
        src_url = None
        if has_path:
            src_path = _resolve(base, _str(doc, m, "path", f"{key}.path") or "")
        else:
            src_url = (_str(doc, m, "url", f"{key}.url") or "").strip()
            scheme = urlsplit(src_url).scheme.lower()
            if scheme in ("http", "https"):
                _http_url(doc, src_url, f"{key}.url")
            elif scheme == "file":
                try:
                    file_url_path(src_url, base)
                except ValueError as exc:
                    raise doc.error(f"{key}.url", str(exc)) from None
            else:
                raise doc.error(f"{key}.url", f"must be an http(s) or file: URL, not {src_url!r}")
        sources.append(Source(name=name, path=src_path, url=src_url,
                              interval=_duration(doc, m, "interval", f"{key}.interval", interval),
                              title=_str(doc, m, "title", f"{key}.title")))

    return Config(path=cfg_path.resolve(), site=site, output=output, state_dir=state_dir,
                  interval=interval, sources=tuple(sources), retention=retention, fetch=fetch,
                  jitter=float(jitter))
