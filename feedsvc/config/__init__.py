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
    websub_hub: str | None = None    # a WebSub hub: feeds carry rel="hub", changed feeds ping it


FORMATS = ("atom", "rss", "json")    # the feed formats, in the order they are written
FORMAT_FILES = {"atom": "atom.xml", "rss": "rss.xml", "json": "feed.json"}


@dataclass(frozen=True, slots=True)
class Output:
    dir: Path
    max_items: int = 50
    formats: tuple[str, ...] = FORMATS   # feed formats written (index.html and sources.opml always)
    page_items: int = 50                 # newest items shown on index.html

    @property
    def feed_files(self) -> tuple[str, ...]:
        """The feed file names written, e.g. ("atom.xml", "rss.xml", "feed.json")."""
        return tuple(FORMAT_FILES[f] for f in self.formats)


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


RULE_FIELDS = ("title", "content", "link", "author", "category")


@dataclass(frozen=True, slots=True)
class Rule:
    """One filter rule: a regular expression searched in one field of an item."""
    field: str                       # one of RULE_FIELDS
    pattern: re.Pattern[str]         # compiled; matched with search (anywhere in the field)


@dataclass(frozen=True, slots=True)
class Filters:
    """An item passes when it matches every ``keep`` rule (if any) and no ``drop`` rule."""
    keep: tuple[Rule, ...] = ()
    drop: tuple[Rule, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.keep or self.drop)


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    path: Path | None = None         # local directory of articles
    url: str | None = None           # remote feed (http, https or file:)
    interval: float = 900.0          # seconds
    title: str | None = None         # display name override (atom:source title)
    filters: Filters = field(default_factory=Filters)  # keep/drop rules of this source alone
    max_items: int | None = None     # at most this many of this source in a published feed
    max_age: float | None = None     # seconds: older items of this source are not published
    priority: int = 0                # a higher priority wins duplicate stories
    author: str | None = None        # author of items whose feed names none
    categories: tuple[str, ...] = ()  # added to every item of this source
    from_opml: bool = False          # listed in sources_opml, not in the YAML

    @property
    def curated(self) -> bool:
        """Whether publishing must look at this source's items one by one."""
        return bool(self.filters or self.max_items or self.max_age or self.author or self.categories)

    @property
    def kind(self) -> str:
        return "local" if self.path is not None else "feed"


@dataclass(frozen=True, slots=True)
class Topic:
    """An extra published feed (``outputs:``): a selection of the combined feed's items."""
    path: str                        # directory under output.dir holding its atom.xml, rss.xml…
    title: str
    description: str
    sources: tuple[str, ...] = ()    # only items of (or also carried by) these sources
    categories: tuple[str, ...] = ()  # only items with one of these categories (case-insensitive)
    filters: Filters = field(default_factory=Filters)  # and passing these keep/drop rules
    max_items: int = 50


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
    filters: Filters = field(default_factory=Filters)  # global keep/drop rules
    outputs: tuple[Topic, ...] = ()  # extra topic feeds
    sources_opml: Path | None = None  # OPML file whose feeds were merged into sources

    @property
    def curated(self) -> bool:
        """Whether publishing must filter/limit items rather than take the newest N."""
        return bool(self.filters or self.outputs or any(s.curated for s in self.sources))

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


def _optional_url(doc: _Doc, m: dict[str, Any], key: str, path: str) -> str | None:
    value = _str(doc, m, key, path)
    if value is None or not value.strip():
        return None
    return _http_url(doc, value.strip(), path)


def _formats(doc: _Doc, m: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
    """``output.formats``: a non-empty list of atom, rss, json (written in that order)."""
    if key not in m:
        return FORMATS
    value = m[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise doc.error(path, "must be a non-empty list of formats (atom, rss, json)")
    for i, f in enumerate(value):
        if f not in FORMATS:
            raise doc.error(f"{path}[{i}]", f"unknown format {f!r} (allowed: atom, rss, json)")
    return tuple(f for f in FORMATS if f in value)


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

TOP_KEYS = {"site", "output", "state_dir", "schedule", "sources", "retention", "fetch",
            "filters", "sources_opml", "outputs"}
SITE_KEYS = {"title", "url", "id", "description", "author", "language", "websub_hub"}
OUTPUT_KEYS = {"dir", "max_items", "formats", "page_items"}
SCHEDULE_KEYS = {"interval", "jitter"}
RETENTION_KEYS = {"max_age", "per_source"}
FETCH_KEYS = {"workers", "connect_timeout", "timeout", "max_bytes", "max_entries"}
SOURCE_KEYS = {"name", "path", "url", "interval", "title", "keep", "drop", "max_items", "max_age",
               "priority", "author", "categories"}
FILTER_KEYS = {"keep", "drop"}
RULE_KEYS = {"field", "pattern"}
TOPIC_KEYS = {"path", "title", "description", "sources", "categories", "keep", "drop", "max_items"}
_TOPIC_PATH_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
RESERVED_TOPIC_PATHS = {"articles"}  # local article pages live there


def _rules(doc: _Doc, m: dict[str, Any], key: str, path: str) -> tuple[Rule, ...]:
    raw = m.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise doc.error(path, f"must be a list of rules (field, pattern), not {_typename(raw)}")
    rules = []
    for i, r in enumerate(raw):
        rk = f"{path}[{i}]"
        rm = _mapping(doc, r, rk, RULE_KEYS)
        fld = _str(doc, rm, "field", f"{rk}.field", required=True) or ""
        if fld not in RULE_FIELDS:
            raise doc.error(f"{rk}.field", f"{fld!r} is not a field (use one of: {', '.join(RULE_FIELDS)})")
        pat = _str(doc, rm, "pattern", f"{rk}.pattern", required=True) or ""
        try:
            compiled = re.compile(pat)
        except re.error as exc:
            raise doc.error(f"{rk}.pattern", f"invalid regular expression {pat!r}: {exc}") from None
        rules.append(Rule(field=fld, pattern=compiled))
    return tuple(rules)


def _filters(doc: _Doc, m: dict[str, Any], prefix: str) -> Filters:
    """``keep``/``drop`` lists of mapping ``m`` whose key path is ``prefix``."""
    p = f"{prefix}." if prefix else ""
    return Filters(keep=_rules(doc, m, "keep", f"{p}keep"), drop=_rules(doc, m, "drop", f"{p}drop"))


def _str_list(doc: _Doc, m: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
    raw = m.get(key)
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise doc.error(path, f"must be a list of strings, not {_typename(raw)}")
    out: list[str] = []
    for i, v in enumerate(raw):
        if isinstance(v, bool) or not isinstance(v, (str, int, float)) or not str(v).strip():
            raise doc.error(f"{path}[{i}]", "must be a non-empty string")
        if str(v).strip() not in out:
            out.append(str(v).strip())
    return tuple(out)


def _priority(doc: _Doc, m: dict[str, Any], path: str) -> int:
    value = m.get("priority", 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise doc.error(path, f"must be a whole number, not {_typename(value)}")
    return value


def _topics(doc: _Doc, raw: Any, names: set[str], default_max: int) -> tuple[Topic, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise doc.error("outputs", f"must be a list of feeds, not {_typename(raw)}")
    topics: list[Topic] = []
    seen: dict[str, str] = {}
    for i, t in enumerate(raw):
        key = f"outputs[{i}]"
        m = _mapping(doc, t, key, TOPIC_KEYS)
        path = (_str(doc, m, "path", f"{key}.path", required=True) or "").strip().strip("/")
        if not _TOPIC_PATH_RE.match(path) or path.split("/")[0] in RESERVED_TOPIC_PATHS:
            raise doc.error(f"{key}.path", f"{path!r}: use a relative directory name of letters, digits, "
                                           "- and _ (not 'articles'); its feeds are written under it")
        if path in seen:
            raise doc.error(f"{key}.path", f"duplicate output path {path!r} (also {seen[path]})")
        seen[path] = key
        title = _str(doc, m, "title", f"{key}.title", required=True) or ""
        srcs = _str_list(doc, m, "sources", f"{key}.sources")
        for j, n in enumerate(srcs):
            if n not in names:
                raise doc.error(f"{key}.sources[{j}]", f"no source named {n!r}")
        topics.append(Topic(path=path, title=title,
                            description=_str(doc, m, "description", f"{key}.description") or title,
                            sources=srcs, categories=_str_list(doc, m, "categories", f"{key}.categories"),
                            filters=_filters(doc, m, key),
                            max_items=_int(doc, m, "max_items", f"{key}.max_items", default_max)))
    return tuple(topics)


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
                language=_str(doc, s, "language", "site.language"),
                websub_hub=_optional_url(doc, s, "websub_hub", "site.websub_hub"))

    o = _mapping(doc, top.get("output"), "output", OUTPUT_KEYS)
    output = Output(dir=_resolve(base, _str(doc, o, "dir", "output.dir", default="public") or "public"),
                    max_items=_int(doc, o, "max_items", "output.max_items", 50),
                    formats=_formats(doc, o, "formats", "output.formats"),
                    page_items=_int(doc, o, "page_items", "output.page_items", 50))

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
    opml_path: Path | None = None
    if top.get("sources_opml") is not None:
        opml_path = _resolve(base, _str(doc, top, "sources_opml", "sources_opml") or "")
    if raw_sources is None and opml_path is not None:
        raw_sources = []
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
        max_age = _duration(doc, m, "max_age", f"{key}.max_age", 0.0) or None
        sources.append(Source(name=name, path=src_path, url=src_url,
                              interval=_duration(doc, m, "interval", f"{key}.interval", interval),
                              title=_str(doc, m, "title", f"{key}.title"),
                              filters=_filters(doc, m, key),
                              max_items=_int(doc, m, "max_items", f"{key}.max_items", 0) or None
                              if "max_items" in m else None,
                              max_age=max_age, priority=_priority(doc, m, f"{key}.priority"),
                              author=_str(doc, m, "author", f"{key}.author"),
                              categories=_str_list(doc, m, "categories", f"{key}.categories")))
    if opml_path is not None:
        sources.extend(_opml_sources(doc, opml_path, sources, interval))

    global_filters = _filters(doc, _mapping(doc, top.get("filters"), "filters", FILTER_KEYS), "filters")
    topics = _topics(doc, top.get("outputs"), {s.name for s in sources}, output.max_items)

    return Config(path=cfg_path.resolve(), site=site, output=output, state_dir=state_dir,
                  interval=interval, sources=tuple(sources), retention=retention, fetch=fetch,
                  jitter=float(jitter), filters=global_filters, outputs=topics, sources_opml=opml_path)


def _opml_sources(doc: _Doc, path: Path, yaml_sources: list[Source], interval: float) -> list[Source]:
    """The feeds listed in ``sources_opml``, minus those the YAML already names (by name or URL):
    the YAML entry wins. Errors in the OPML name the OPML file and line."""
    from feedsvc.config.opml import read_opml   # its OpmlError is a ConfigError naming the OPML file

    try:
        entries = read_opml(path)
    except FileNotFoundError:
        raise doc.error("sources_opml", f"OPML file not found: {path}") from None
    except OSError as exc:
        raise doc.error("sources_opml", f"cannot read OPML file {path}: {exc.strerror or exc}") from None
    names = {s.name for s in yaml_sources}
    urls = {s.url for s in yaml_sources if s.url}
    return [Source(name=e.name, url=e.url, interval=interval, title=e.title, from_opml=True)
            for e in entries if e.name not in names and e.url not in urls]
