"""Private feeds and polite fetching in the config: secrets from the environment, per-source
request options (headers, HTTP auth, proxy, TLS verification, the URL to publish) and per-host
limits. Readers for the loader (``(reader, mapping, spec, key path, default) → value``).

Secrets: a value may name the environment, whole or in part, as ``${NAME}``, and a systemd
credential as ``${file:NAME}`` (the file ``$CREDENTIALS_DIRECTORY/NAME``, from the unit's
``LoadCredential=``). A reference to something that is not there is a config error naming the key
and the variable, never a value. Expanded values are ``Secret``s: their repr never shows them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_REF = re.compile(r"\$\{(file:)?([A-Za-z_][A-Za-z0-9_.-]*)\}")
SECRET_PARAMS = re.compile(r"(?i)(token|key|secret|pass|auth|sig|session|credential)")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


class Secret(str):
    """A string from the environment or a credential file: its repr never shows it, so neither
    does a config, a record or a traceback that prints one."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


def expand(value: str) -> str:
    """``value`` with every ``${NAME}`` / ``${file:NAME}`` replaced; a ``Secret`` when it had one.
    Raises ValueError naming what is missing (never a value)."""
    if "${" not in value:
        return value

    def one(m: re.Match[str]) -> str:
        name = m.group(2)
        if m.group(1):
            creds = os.environ.get("CREDENTIALS_DIRECTORY")
            if not creds:
                raise ValueError(f"refers to ${{file:{name}}} but $CREDENTIALS_DIRECTORY is not set "
                                 "(LoadCredential= in the systemd unit)")
            path = Path(creds) / name
            try:
                return path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"refers to ${{file:{name}}}, which cannot be read ({exc.strerror or exc})") from None
        got = os.environ.get(name)
        if got is None:
            raise ValueError(f"refers to ${{{name}}}, which is not set in the environment")
        return got

    return Secret(_REF.sub(one, value))


def public_url(raw: str) -> str:
    """What may be published of a configured feed URL (as written, before ``${…}`` expansion):
    no user or password, no query parameter that looks like a key or a token or whose value
    names a secret, and any other reference masked."""
    parts = urlsplit(raw)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not SECRET_PARAMS.search(k) and "${" not in v]
    url = urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), parts.fragment))
    return _REF.sub("***", url)


def needs_public_url(raw: str) -> bool:
    """Whether a configured URL carries something not to publish (credentials, a reference)."""
    parts = urlsplit(raw)
    return bool("${" in raw or parts.username or parts.password
                or any(SECRET_PARAMS.search(k) for k, _ in parse_qsl(parts.query)))


# ---- readers ---------------------------------------------------------------------------------------

def _typename(value: Any) -> str:
    return {str: "a string", int: "a number", float: "a number", bool: "true/false", list: "a list",
            dict: "a mapping", type(None): "empty"}.get(type(value), type(value).__name__)


def _secret_str(r: Any, value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise r.doc.error(path, f"must be a string, not {_typename(value)}")
    try:
        return expand(str(value))
    except ValueError as exc:
        raise r.doc.error(path, str(exc)) from None


def read_headers(r: Any, m: dict[str, Any], s: Any, path: str, default: Any) -> Any:
    raw = m.get(s.leaf)
    if raw is None:
        return default
    if not isinstance(raw, dict) or not raw:
        raise r.doc.error(path, "must be a mapping of header names to values")
    out = []
    for k, v in raw.items():
        if not isinstance(k, str) or not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", k):
            raise r.doc.error(f"{path}.{k}", "is not an HTTP header name")
        if k.lower() in ("host", "content-length", "transfer-encoding", "connection"):
            raise r.doc.error(f"{path}.{k}", "is set by feedsvc itself")
        value = _secret_str(r, v, f"{path}.{k}")
        if "\n" in value or "\r" in value:
            raise r.doc.error(f"{path}.{k}", "must be one line")
        out.append((k, value))
    return tuple(out)


def read_auth(r: Any, m: dict[str, Any], s: Any, path: str, default: Any) -> Any:
    raw = m.get(s.leaf)
    if raw is None:
        return default
    if not isinstance(raw, dict):
        raise r.doc.error(path, "must be {username: …, password: …} or {bearer: …}")
    keys = set(raw)
    if keys == {"bearer"}:
        return ("bearer", _secret_str(r, raw["bearer"], f"{path}.bearer"))
    if keys in ({"username", "password"}, {"username", "password", "scheme"}):
        scheme = raw.get("scheme", "basic")
        if scheme not in ("basic", "digest"):
            raise r.doc.error(f"{path}.scheme", "must be basic or digest")
        return (scheme, _secret_str(r, raw["username"], f"{path}.username"),
                _secret_str(r, raw["password"], f"{path}.password"))
    unknown = sorted(keys - {"username", "password", "scheme", "bearer"})
    if unknown:
        raise r.doc.error(f"{path}.{unknown[0]}", "unknown key (allowed: bearer, password, scheme, username)")
    raise r.doc.error(path, "must be {username: …, password: …} or {bearer: …}")


def read_proxy(r: Any, m: dict[str, Any], s: Any, path: str, default: Any) -> Any:
    raw = m.get(s.leaf)
    if raw is None:
        return default
    value = _secret_str(r, raw, path)
    parts = urlsplit(value)
    if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
        raise r.doc.error(path, "must be an http://, https://, socks5:// or socks5h:// proxy URL")
    return value


def read_verify(r: Any, m: dict[str, Any], s: Any, path: str, default: Any) -> Any:
    raw = m.get(s.leaf)
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    if not isinstance(raw, str) or not raw.strip():
        raise r.doc.error(path, "must be true, false or the path of a CA bundle")
    p = Path(os.path.expanduser(raw))
    p = p if p.is_absolute() else r.base / p
    if not p.exists():
        raise r.doc.error(path, f"CA bundle {p} not found")
    return str(p)


def read_host_rules(r: Any, m: dict[str, Any], s: Any, path: str, default: Any) -> Any:
    from feedsvc.config.schema import HostRule

    raw = m.get(s.leaf)
    if raw is None:
        return default
    if not isinstance(raw, list):
        raise r.doc.error(path, f"must be a list of {{match, concurrency, spacing}}, not {_typename(raw)}")
    rules = []
    for i, item in enumerate(raw):
        key = f"{path}[{i}]"
        rm = r.mapping(item, key, HostRule)
        rule = r.new(HostRule, rm, key)
        if not re.fullmatch(r"[A-Za-z0-9*.-]+", rule.match):
            raise r.doc.error(f"{key}.match", f"{rule.match!r}: a host name, '*.' for its subdomains")
        rules.append(rule)
    return tuple(rules)
