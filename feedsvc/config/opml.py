"""OPML subscription lists → sources (``sources_opml``, ``feedsvc sources import``).

Parsed with the standard library's expat, with every entity declaration refused and external
entities never loaded (the same defence as defusedxml: no billion laughs, no XXE), so an OPML file
exported from any feed reader is read safely and its errors name the file and line.

Every ``<outline>`` with an ``xmlUrl`` (at any depth: folders are flattened) is one remote source.
Its name is derived from its title (letters, digits, - and _; made unique with -2, -3…), else
from the feed's host. ``parse_opml`` and ``to_yaml`` are pure; ``read_opml`` reads the file.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit
from xml.parsers import expat

import yaml

from feedsvc.errors import ConfigError

MAX_NAME = 40
_NON_NAME = re.compile(r"[^a-z0-9]+")


class OpmlError(ConfigError):
    """The OPML file is malformed or lists an unusable feed; names the file and line."""


@dataclass(frozen=True, slots=True)
class OpmlEntry:
    name: str                    # derived source name (unique within the file)
    url: str                     # the feed's URL (xmlUrl), http(s)
    title: str | None            # the outline's title (or text)
    home: str | None             # htmlUrl, when given
    line: int                    # line of the outline in the file
    categories: tuple[str, ...] = ()   # the folders it is filed in (outer first), and other folders
                                       # of the same feed


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


def slug(text: str) -> str:
    """``"Alice's Blog — News"`` → ``"alice-s-blog-news"`` (ASCII letters, digits and -)."""
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NON_NAME.sub("-", ascii_.lower()).strip("-")[:MAX_NAME].rstrip("-")


def derive_name(title: str | None, url: str) -> str:
    base = slug(title or "")
    if not base:
        host = urlsplit(url).hostname or ""
        base = slug(host.removeprefix("www.")) or "feed"
    return base


def parse_opml(data: bytes, path: str) -> list[OpmlEntry]:
    """The feeds listed in an OPML document. Raises OpmlError naming ``path`` and the line."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    raw: list[tuple[dict[str, str], int, tuple[str, ...]]] = []
    stack: list[str] = []
    folders: list[str | None] = []     # for each open <outline>: its folder name, or None

    def refuse_entity(name: str, *args: object) -> None:
        raise _Refused(f"entity declarations are not allowed in OPML (found {name!r})")

    def refuse_external(*args: object) -> int:
        raise _Refused("external entities are not allowed in OPML")

    def start(tag: str, attrs: dict[str, str]) -> None:
        if not stack and tag != "opml":
            raise _Refused(f"not an OPML file (the root element is <{tag}>, not <opml>)")
        stack.append(tag)
        if tag == "outline":
            lowered = {k.lower(): v for k, v in attrs.items()}
            if "xmlurl" in lowered:
                raw.append((lowered, parser.CurrentLineNumber, tuple(f for f in folders if f)))
                folders.append(None)
            else:                          # a folder: its feeds are filed under its name
                folders.append((lowered.get("title") or lowered.get("text") or "").strip() or None)

    def end(tag: str) -> None:
        if stack.pop() == "outline":
            folders.pop()

    parser.EntityDeclHandler = refuse_entity
    parser.UnparsedEntityDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = refuse_external
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise OpmlError(exc.message, line=parser.CurrentLineNumber, path=path) from None
    except expat.ExpatError as exc:
        raise OpmlError(f"malformed OPML: {expat.errors.messages[exc.code]}", line=exc.lineno,
                        path=path) from None
    entries: list[OpmlEntry] = []
    names: set[str] = set()
    urls: dict[str, int] = {}
    for attrs, line, filed in raw:
        url = (attrs.get("xmlurl") or "").strip()
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise OpmlError(f"xmlUrl must be an http(s) URL, not {url!r}", line=line, path=path)
        if url in urls:                    # the same feed filed in two folders: one source, both folders
            first = entries[urls[url]]
            entries[urls[url]] = replace(first, categories=tuple(dict.fromkeys(first.categories + filed)))
            continue
        urls[url] = len(entries)
        title = (attrs.get("title") or attrs.get("text") or "").strip() or None
        base = derive_name(title, url)
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base[:MAX_NAME - len(str(n)) - 1]}-{n}"
        names.add(name)
        entries.append(OpmlEntry(name=name, url=url, title=title,
                                 home=(attrs.get("htmlurl") or "").strip() or None, line=line,
                                 categories=tuple(dict.fromkeys(filed))))
    return entries


def read_opml(path: Path) -> list[OpmlEntry]:
    """Read and parse an OPML file (OSError when it cannot be read)."""
    return parse_opml(Path(path).read_bytes(), str(path))


def to_yaml(entries: list[OpmlEntry]) -> str:
    """YAML list items to paste under ``sources:`` (indented two spaces), giving the same sources
    as ``sources_opml`` would."""
    rows = []
    for e in entries:
        row: dict[str, object] = {"name": e.name, "url": e.url}
        if e.title:
            row["title"] = e.title
        if e.categories:
            row["categories"] = list(e.categories)
        rows.append(row)
    if not rows:
        return ""
    text = yaml.safe_dump(rows, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)
    return "".join("  " + line if line.strip() else line for line in text.splitlines(keepends=True))
