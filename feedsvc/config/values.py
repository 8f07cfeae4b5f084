"""Config values: durations, sizes, URLs and paths, parsed and checked one by one.

Pure functions of a value: each returns the parsed value or raises ValueError with the message the
config error shows (the loader adds the file, line and key).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_DURATION_RE = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$", re.I)
_SIZE_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2,
               "gb": 1000**3, "gib": 1024**3}


def parse_duration(value: Any, allow_zero: bool = False) -> float:
    """``"90s"`` → 90.0; ``"1h30m"`` → 5400.0. A bare number is refused: ``interval: 30`` meant 30
    minutes as often as 30 seconds. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 90s, 15m, 1h or 1d")
    if isinstance(value, (int, float)):
        if value == 0 and allow_zero:
            return 0.0
        n = f"{value:g}"
        raise ValueError(f"{n} is a bare number: write the unit, e.g. {n}s or {n}m")
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m and any(m.groups()):
            d, h, mi = (int(g or 0) for g in m.groups()[:3])
            total = d * 86400 + h * 3600 + mi * 60 + float(m.group(4) or 0)
            if total <= 0 and not allow_zero:
                raise ValueError("must be positive")
            return float(total)
    raise ValueError(f"{value!r} is not a duration like 90s, 15m, 1h or 1d")


def parse_size(value: Any) -> int:
    """``"10MiB"`` → 10485760; ``"500KB"`` → 500000; a bare number is bytes. Raises ValueError."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if m:
            n = int(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()]
            if n > 0:
                return n
    raise ValueError(f"{value!r} is not a size like 10MiB or 500KB")


def check_name(value: str) -> str:
    """A source name: letters, digits, - and _ (it names files and URLs)."""
    if not NAME_RE.match(value):
        raise ValueError(f"{value!r}: use only letters, digits, - and _")
    return value


def check_http_url(value: str) -> str:
    """An absolute http(s) URL, returned as given."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL, not {value!r}")
    return value


def check_feed_url(value: str, base: Path) -> str:
    """A feed's URL: http(s), or ``file:`` (relative to ``base``, the config's directory)."""
    scheme = urlsplit(value).scheme.lower()
    if scheme in ("http", "https"):
        return check_http_url(value)
    if scheme == "file":
        file_url_path(value, base)
        return value
    raise ValueError(f"must be an http(s) or file: URL, not {value!r}")


def resolve_path(base: Path, value: str) -> Path:
    """``~`` expanded; a relative path is relative to ``base`` (the config file's directory)."""
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else (base / p)


def file_url_path(url: str, base: Path) -> Path:
    """``file:feeds/x.xml`` (relative to the config) or ``file:///abs/x.xml`` → a Path."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"file: URL with a host is not supported: {url!r}")
    raw = unquote(parts.path)
    return resolve_path(base, raw)



STORE_SCHEMES = ("sqlite", "postgresql", "postgres")


def check_store_url(value: str, base: Path, from_config: bool = True) -> str:
    """``store:``: ``sqlite:///PATH`` (relative to the config file; ``sqlite:////abs`` absolute)
    or a libpq URL ``postgresql://user@host:port/dbname?sslmode=…``. A password is refused in the
    config file (use PGPASSWORD, ~/.pgpass or FEEDSVC_STORE) and never repeated in a message.
    Returns the URL with a sqlite path made absolute."""
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    if scheme not in STORE_SCHEMES:
        raise ValueError("must be sqlite:///PATH or postgresql://USER@HOST/DBNAME")
    if scheme == "sqlite":
        if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
            raise ValueError("a SQLite store is sqlite:///relative/path.db or sqlite:////absolute/path.db")
        return "sqlite:///" + str(resolve_path(base, unquote(parts.path[1:])))
    if from_config and (parts.password or "password=" in parts.query.lower()):
        raise ValueError("holds a password: put it in PGPASSWORD, ~/.pgpass or the FEEDSVC_STORE "
                         "environment variable, never in the config file")
    if not parts.path.strip("/"):
        raise ValueError("names no database (postgresql://USER@HOST:PORT/DBNAME)")
    return value.strip()


def redact(url: str) -> str:
    """A store URL without its password, for logs, status and messages."""
    parts = urlsplit(url)
    if not parts.password and "password=" not in parts.query.lower():
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    query = "&".join(q for q in parts.query.split("&") if not q.lower().startswith("password="))
    return parts._replace(netloc=netloc, query=query).geturl()


def typename(value: Any) -> str:
    """How a YAML value's type reads in a message."""
    return {str: "a string", int: "a number", float: "a number", bool: "true/false", list: "a list",
            dict: "a mapping", type(None): "empty"}.get(type(value), type(value).__name__)
