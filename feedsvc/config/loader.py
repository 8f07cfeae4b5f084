"""YAML → frozen, validated ``Config``. Every config error is raised here, naming the key and line.

Paths in the file are relative to the config file's directory. Durations are ``90s``, ``15m``,
``1h``, ``1d`` (or combinations such as ``1h30m``), or a number of seconds.

The schema (``feedsvc.config.schema``) drives the reading: ``_Reader`` walks a dataclass's fields,
reading each key by its kind and defaulting it from the field, and a mapping's allowed keys are its
fields' keys. What involves more than one field stays explicit code below (``parse_config``): a
source's exactly-one-of path/url, unique names and topic paths, site.url's trailing slash and
site.id's scheme, the defaults inherited from schedule.interval and output.max_items, the OPML merge.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from feedsvc.config.across import _opml_sources, _topics
from feedsvc.config.faces import read_face
from feedsvc.config.private import (
    Secret,
    expand,
    needs_public_url,
    public_url,
    read_auth,
    read_headers,
    read_host_rules,
    read_proxy,
    read_verify,
)
from feedsvc.config.schema import Config, Fetch, Rule, Site, Source
from feedsvc.config.values import (
    check_feed_url,
    check_http_url,
    check_name,
    check_store_url,
    parse_duration,
    parse_size,
    resolve_path,
)
from feedsvc.errors import ConfigError


def default_config_path() -> Path:
    """``$FEEDSVC_CONFIG``, else ``config.yaml`` in the working directory."""
    return Path(os.environ.get("FEEDSVC_CONFIG") or "config.yaml")


# ---- YAML with line numbers -------------------------------------------------------------------

_STR_TAG = "tag:yaml.org,2002:str"

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
        if node.tag == _STR_TAG:
            return node.value           # what the loader would construct, without its machinery
        return self._loader.construct_object(node, deep=True)

    def error(self, key: str, message: str) -> ConfigError:
        line = self.lines.get(key)
        probe = key
        while line is None and probe:
            probe = probe.rpartition(".")[0] if "." in probe else ""
            line = self.lines.get(probe)
        return ConfigError(message, key=key, line=line, path=str(self.path))


def _typename(value: Any) -> str:
    return {str: "a string", int: "a number", float: "a number", bool: "true/false",
            list: "a list", dict: "a mapping", type(None): "empty"}.get(type(value), type(value).__name__)


# ---- the schema, compiled once per dataclass ----------------------------------------------------

class _Spec:
    """One YAML field of a dataclass: where it is, how it is read, its default."""
    __slots__ = ("name", "key", "leaf", "group", "kind", "read", "default", "required", "meta", "of",
                 "inline", "direct")

    def __init__(self, f: Any) -> None:
        meta = f.metadata
        self.name: str = f.name
        self.key: str = meta["key"] or f.name                 # dotted: in a sub-mapping (group)
        self.group, _, self.leaf = self.key.rpartition(".")
        self.kind: str = meta["kind"]
        self.read: Callable[..., Any] = _READERS[self.kind]
        factory = f.default_factory
        self.of: Any = meta.get("of") or (factory if factory is not MISSING else None)
        self.default = (f.default if f.default is not MISSING
                        else factory() if factory is not MISSING else None)
        self.required: bool = meta["required"]
        self.meta = meta
        self.inline = self.kind == "inline"                    # its keys are in the same mapping
        # a missing key is the default as it is: no need to call the reader
        self.direct = not self.required and not self.group and self.kind in _DIRECT


_DIRECT = {"str", "int", "fraction", "duration", "size", "url", "feed_url", "str_list", "rules",
           "choices"}
_SPECS: dict[type, dict[str, _Spec]] = {}
# read ahead of the schema's order, as they always were: of two mistakes in one mapping, the same
# one is reported
_FIRST: dict[type, tuple[str, ...]] = {Fetch: ("max_bytes",), Source: ("max_age",)}


def yaml_fields(cls: type) -> dict[str, _Spec]:
    """The fields of dataclass ``cls`` read from the YAML, by field name, in declaration order."""
    specs = _SPECS.get(cls)
    if specs is None:
        specs = _SPECS[cls] = {f.name: _Spec(f) for f in fields(cls) if "kind" in f.metadata}
    return specs


def _later(cls: type, *done: str, lead: tuple[str, ...] = ()) -> tuple[str, ...]:
    """``lead``, then the fields of ``cls`` not ``done`` (read by the loader's own code), in order."""
    names = _LATER.get((cls, done, lead))
    if names is None:
        first = _FIRST.get(cls, ())
        order = first + tuple(n for n in yaml_fields(cls) if n not in first)
        names = _LATER[(cls, done, lead)] = lead + tuple(n for n in order if n not in done + lead)
    return names


_LATER: dict[tuple[type, tuple[str, ...], tuple[str, ...]], tuple[str, ...]] = {}
_PLANS: dict[tuple[type, tuple[str, ...] | None], tuple[_Spec, ...]] = {}
_ALLOWED: dict[tuple[type, str], frozenset[str]] = {}


def _plan(cls: type, names: tuple[str, ...] | None) -> tuple[_Spec, ...]:
    specs = yaml_fields(cls)
    plan = _PLANS[(cls, names)] = tuple(specs[n] for n in (names if names is not None else _later(cls)))
    return plan


def allowed_keys(cls: type, group: str = "") -> frozenset[str]:
    """The keys a mapping read as ``cls`` may hold (``group``: its sub-mapping of that name)."""
    allowed = _ALLOWED.get((cls, group))
    if allowed is None:
        out: set[str] = set()
        for s in yaml_fields(cls).values():
            if group:
                if s.group == group:
                    out.add(s.leaf)
            elif s.inline:
                out |= allowed_keys(s.of)
            else:
                out.add(s.key.partition(".")[0])
        allowed = _ALLOWED[(cls, group)] = frozenset(out)
    return allowed


# ---- the reader -----------------------------------------------------------------------------------

class _Reader:
    """Reads mappings of one document as schema dataclasses; errors name the key and line."""

    def __init__(self, doc: _Doc, base: Path) -> None:
        self.doc = doc
        self.base = base                # the config file's directory

    def mapping(self, value: Any, key: str, cls: type, group: str = "") -> dict[str, Any]:
        """``value`` as a mapping (empty when left empty) holding only ``cls``'s keys."""
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise self.doc.error(key, f"must be a mapping, not {_typename(value)}")
        allowed = _ALLOWED.get((cls, group)) or allowed_keys(cls, group)
        for k in value:
            if not isinstance(k, str) or k not in allowed:
                sub = f"{key}.{k}" if key else str(k)
                raise self.doc.error(sub, "unknown key (allowed: " + ", ".join(sorted(allowed)) + ")")
        return value

    def read(self, cls: type, m: dict[str, Any], prefix: str, names: tuple[str, ...] | None = None,
             defaults: dict[str, Any] | None = None, out: dict[str, Any] | None = None) -> dict[str, Any]:
        """Fields ``names`` (default: all) of ``cls`` from mapping ``m`` at key path ``prefix``, in
        that order: field name → value. ``defaults`` override the schema's (inherited defaults)."""
        plan = _PLANS.get((cls, names)) or _plan(cls, names)
        if out is None:
            out = {}
        p = f"{prefix}." if prefix else ""
        groups: dict[str, dict[str, Any]] | None = None
        for s in plan:
            name = s.name
            d = s.default if defaults is None or name not in defaults else defaults[name]
            if s.direct and s.leaf not in m:
                out[name] = d
            elif s.inline:
                out[name] = s.read(self, m, s, prefix, d)
            elif s.group:
                if groups is None:
                    groups = {}
                sub = groups.get(s.group)
                if sub is None:
                    sub = groups[s.group] = self.mapping(m.get(s.group), p + s.group, cls, s.group)
                out[name] = s.read(self, sub, s, p + s.key, d)
            else:
                out[name] = s.read(self, m, s, p + s.key, d)
        return out

    def one(self, cls: type, name: str, m: dict[str, Any], prefix: str) -> Any:
        """Field ``name`` of ``cls`` from mapping ``m`` at key path ``prefix`` (not grouped, not
        inline)."""
        s = yaml_fields(cls)[name]
        return s.read(self, m, s, f"{prefix}.{s.key}" if prefix else s.key, s.default)

    @staticmethod
    def later(cls: type, *done: str, lead: tuple[str, ...] = ()) -> tuple[str, ...]:
        return _later(cls, *done, lead=lead)

    def new(self, cls: type, m: dict[str, Any], prefix: str) -> Any:
        """A ``cls`` of every field from mapping ``m``."""
        return cls(**self.read(cls, m, prefix))


# ---- one reader per kind: (reader, mapping, spec, key path, default) → value -------------------

def _str(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    value = m.get(s.leaf)
    if value is None:
        if s.required:
            raise r.doc.error(path, "is required")
        return default
    if not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        else:
            raise r.doc.error(path, f"must be a string, not {_typename(value)}")
    if s.required and not value.strip():
        raise r.doc.error(path, "must not be empty")
    return value


def _checked(r: _Reader, path: str, check: Callable[..., Any], *args: Any) -> Any:
    try:
        return check(*args)
    except ValueError as exc:
        raise r.doc.error(path, str(exc)) from None


def _name(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    value = _str(r, m, s, path, default)
    try:
        return value if value is None else check_name(value)
    except ValueError as exc:
        raise r.doc.error(path, str(exc)) from None


def _choice(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    if m.get(s.leaf) is False and "off" in s.meta["choices"]:
        return "off"                    # YAML 1.1 reads a bare `off` as false
    value = _str(r, m, s, path, default)
    choices = s.meta["choices"]
    if value not in choices:
        raise r.doc.error(path, f"{value!r} is not a {s.meta['what']} (use one of: {', '.join(choices)})")
    return value


def _choices(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    if s.leaf not in m:
        return default
    value = m[s.leaf]
    choices, what = s.meta["choices"], s.meta["what"]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise r.doc.error(path, f"must be a non-empty list of {what}s ({', '.join(choices)})")
    for i, v in enumerate(value):
        if v not in choices:
            raise r.doc.error(f"{path}[{i}]", f"unknown {what} {v!r} (allowed: {', '.join(choices)})")
    return tuple(c for c in choices if c in value)


def _regex(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    pattern = _str(r, m, s, path, default) or ""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise r.doc.error(path, f"invalid regular expression {pattern!r}: {exc}") from None


def _int(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    if s.leaf not in m:
        return default
    value = m[s.leaf]
    if isinstance(value, bool) or not isinstance(value, int):
        raise r.doc.error(path, f"must be a whole number, not {_typename(value)}")
    minimum = s.meta.get("min", 1)
    if minimum is not None and value < minimum:
        raise r.doc.error(path, f"must be at least {minimum}")
    return value


def _fraction(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    if s.leaf not in m:
        return default
    value = m[s.leaf]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise r.doc.error(path, "must be a fraction between 0 and 1")
    return float(value)


def _duration(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    if s.leaf not in m:
        return default
    try:
        return parse_duration(m[s.leaf])
    except ValueError as exc:
        raise r.doc.error(path, str(exc)) from None


def _size(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    return default if s.leaf not in m else _checked(r, path, parse_size, m[s.leaf])


def _url(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    value = _str(r, m, s, path, default)
    if s.required:
        return _checked(r, path, check_http_url, value or "")
    if value is None or not value.strip():
        return default
    return _checked(r, path, check_http_url, value.strip())


def _store_url(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    value = _str(r, m, s, path, default)
    if value is None or not value.strip():
        return default
    return _checked(r, path, check_store_url, value, r.base)


def _feed_url(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    if m.get(s.leaf) is None:
        return default
    try:
        raw = (_str(r, m, s, path, default) or "").strip()
        url = expand(raw)
        checked = check_feed_url(url, r.base)
        return Secret(checked) if isinstance(url, Secret) else checked
    except ValueError as exc:
        raise r.doc.error(path, str(exc)) from None


def _duration0(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    if s.leaf not in m or m[s.leaf] is None:
        return default
    try:
        return parse_duration(m[s.leaf], allow_zero=True)
    except ValueError as exc:
        raise r.doc.error(path, str(exc)) from None


def _path(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    value = _str(r, m, s, path, None)
    if value is None:
        return None if default is None else resolve_path(r.base, str(default))
    if not value and default is not None:
        value = str(default)
    return resolve_path(r.base, value)


def _str_list(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    raw = m.get(s.leaf)
    if raw is None:
        return default
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise r.doc.error(path, f"must be a list of strings, not {_typename(raw)}")
    out: list[str] = []
    for i, v in enumerate(raw):
        if isinstance(v, bool) or not isinstance(v, (str, int, float)) or not str(v).strip():
            raise r.doc.error(f"{path}[{i}]", "must be a non-empty string")
        if str(v).strip() not in out:
            out.append(str(v).strip())
    return tuple(out)


def _rules(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    raw = m.get(s.leaf)
    if raw is None:
        return default
    if not isinstance(raw, list):
        raise r.doc.error(path, f"must be a list of rules (field, pattern), not {_typename(raw)}")
    return tuple(r.new(Rule, r.mapping(rule, f"{path}[{i}]", Rule), f"{path}[{i}]")
                 for i, rule in enumerate(raw))


def _inline(r: _Reader, m: dict[str, Any], s: _Spec, prefix: str, default: Any) -> Any:
    keys = _ALLOWED.get((s.of, "")) or allowed_keys(s.of)
    for k in m:
        if k in keys:
            return r.new(s.of, m, prefix)
    return default                      # none of its keys: the default (frozen, so shared)


def _section(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    return r.new(s.of, r.mapping(m.get(s.leaf), path, s.of), path)


def _by_loader(r: _Reader, m: dict[str, Any], s: _Spec, path: str, default: Any) -> Any:
    raise AssertionError(f"{path}: a list of {s.of.__name__} is read by parse_config")


_READERS: dict[str, Callable[..., Any]] = {
    "str": _str, "name": _name, "choice": _choice, "choices": _choices, "regex": _regex, "int": _int,
    "fraction": _fraction, "duration": _duration, "size": _size, "url": _url, "store_url": _store_url,
    "feed_url": _feed_url, "path": _path, "str_list": _str_list, "duration0": _duration0,
    "headers": read_headers, "auth": read_auth, "proxy": read_proxy, "verify": read_verify,
    "host_rules": read_host_rules, "rules": _rules, "inline": _inline, "section": _section,
    "list": _by_loader, "face": read_face,
}


# ---- the config: the schema's reading plus the rules across fields ---------------------------------



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
    r = _Reader(doc, cfg_path.resolve().parent)
    top = r.mapping(doc.data, "", Config)

    if "site" not in top:
        raise doc.error("site", "is required")
    site = _site(r, r.mapping(top["site"], "site", Site))
    v = r.read(Config, top, "", ("output", "state_dir", "interval", "jitter", "lease", "min_interval", "retention",
                                 "fetch", "sources_opml", "store", "health", "report", "new_source_items"))
    if v["interval"] < v["min_interval"]:
        raise doc.error("schedule.interval", _too_often(v["interval"], v["min_interval"]))
    env = os.environ.get("FEEDSVC_STORE")
    if env:
        try:
            check_store_url(env, Path.cwd(), from_config=False)
        except ValueError as exc:
            raise ConfigError(f"FEEDSVC_STORE {exc}", key="FEEDSVC_STORE") from None
    interval, opml_path = v["interval"], v["sources_opml"]

    raw_sources = top.get("sources")
    if raw_sources is None and opml_path is not None:
        raw_sources = []
    if raw_sources is None:
        raise doc.error("sources", "is required (a list of sources)")
    if not isinstance(raw_sources, list):
        raise doc.error("sources", f"must be a list, not {_typename(raw_sources)}")
    seen: dict[str, str] = {}
    defaults = {"interval": interval}
    rest = {True: _later(Source, "name", "url", lead=("path",)),    # the keys after the name, with
            False: _later(Source, "name", "path", lead=("url",))}   # a path or a url
    sources = [_source(r, raw, f"sources[{i}]", seen, defaults, rest) for i, raw in enumerate(raw_sources)]
    urls: dict[str, int] = {}
    for i, src in enumerate(sources):
        if src.interval < v["min_interval"]:
            raise doc.error(f"sources[{i}].interval", _too_often(src.interval, v["min_interval"]))
        if src.url:
            same = urls.setdefault(_same_feed(src.url), i)
            if same != i:
                raise doc.error(f"sources[{i}].url", f"the same feed as sources[{same}] ({sources[same].name!r}): "
                                                     "each feed once (two names would fetch it twice)")
    if opml_path is not None:
        sources.extend(_opml_sources(doc, opml_path, sources, interval))

    v.update(r.read(Config, top, "", ("filters",)))
    v["outputs"] = _topics(r, top.get("outputs"), {s.name for s in sources}, v["output"].max_items)
    return Config(path=cfg_path.resolve(), site=site, sources=tuple(sources), **v)


def _too_often(interval: float, minimum: float) -> str:
    return (f"{_dur(interval)} is shorter than the minimum of {_dur(minimum)} between two fetches of a source "
            "(set schedule.min_interval to allow it)")


def _dur(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    return f"{seconds / 60:g}m" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g}s"


def _same_feed(url: str) -> str:
    """Two spellings of one feed URL (scheme and host case, a trailing default port)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path or '/'}?{parts.query}"


def _site(r: _Reader, m: dict[str, Any]) -> Site:
    v = r.read(Site, m, "site", ("title", "url", "id"))
    title = v["title"] or ""
    url = v["url"] if v["url"].endswith("/") else v["url"] + "/"
    site_id = v["id"] or url
    if not urlsplit(site_id).scheme:
        raise r.doc.error("site.id", f"must be an IRI with a scheme (e.g. tag:, urn: or http:), not {site_id!r}")
    v = r.read(Site, m, "site", _later(Site, "title", "url", "id"))
    v["description"] = v["description"] or f"{title}: combined feed"
    return Site(title=title, url=url, id=site_id, **v)


def _source(r: _Reader, raw: Any, key: str, seen: dict[str, str], defaults: dict[str, Any],
            rest: dict[bool, tuple[str, ...]]) -> Source:
    m = r.mapping(raw, key, Source)
    name = r.one(Source, "name", m, key)
    if name in seen:
        raise r.doc.error(f"{key}.name", f"duplicate source name {name!r} (also {seen[name]})")
    seen[name] = key
    has_path = m.get("path") is not None
    if has_path == (m.get("url") is not None):
        raise r.doc.error(key, f"source {name!r} needs exactly one of 'path' (local articles) "
                               "or 'url' (a feed)")
    v = r.read(Source, m, key, rest[has_path], defaults, out={"name": name})
    url = v.get("url")
    if url and not v["public_url"] and needs_public_url(str(m.get("url"))):
        v["public_url"] = public_url(str(m.get("url")).strip())
    if (v["headers"] or v["auth"] or v["proxy"] or v["verify"] is not True) and not (url or "").startswith("http"):
        raise r.doc.error(key, f"source {name!r}: headers, auth, proxy and verify apply to http(s) feeds only")
    return Source(**v)
