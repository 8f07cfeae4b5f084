"""The config's rules across entries: topic feeds (``outputs:``) and the sources an OPML file adds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from feedsvc.config.schema import Source, Topic
from feedsvc.config.values import typename

if TYPE_CHECKING:
    from feedsvc.config.loader import _Doc, _Reader

_TOPIC_PATH_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
RESERVED_TOPIC_PATHS = {"articles", "archive"}  # local article pages, archive documents live there


def _topics(r: _Reader, raw: Any, names: set[str], default_max: int) -> tuple[Topic, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise r.doc.error("outputs", f"must be a list of feeds, not {typename(raw)}")
    topics: list[Topic] = []
    seen: dict[str, str] = {}
    defaults = {"max_items": default_max}
    for i, t in enumerate(raw):
        key = f"outputs[{i}]"
        m = r.mapping(t, key, Topic)
        path = (r.read(Topic, m, key, ("path",))["path"] or "").strip().strip("/")
        if not _TOPIC_PATH_RE.match(path) or path.split("/")[0] in RESERVED_TOPIC_PATHS:
            raise r.doc.error(f"{key}.path", f"{path!r}: use a relative directory name of letters, "
                                             "digits, - and _ (not 'articles' or 'archive'); its feeds are written under it")
        if path in seen:
            raise r.doc.error(f"{key}.path", f"duplicate output path {path!r} (also {seen[path]})")
        seen[path] = key
        v = r.read(Topic, m, key, ("title", "sources"))
        for j, n in enumerate(v["sources"]):
            if n not in names:
                raise r.doc.error(f"{key}.sources[{j}]", f"no source named {n!r}")
        r.read(Topic, m, key, r.later(Topic, "path", "title", "sources"), defaults, out=v)
        v["description"] = v["description"] or v["title"]
        topics.append(Topic(path=path, **v))
    return tuple(topics)


def _opml_sources(doc: _Doc, path: Path, yaml_sources: list[Source], interval: float) -> list[Source]:
    """The feeds listed in ``sources_opml``, minus those the YAML already names (by name or URL):
    the YAML entry wins. Errors in the OPML name the OPML file and line."""
    from feedsvc.config.opml import read_opml  # its OpmlError is a ConfigError naming the OPML file

    try:
        entries = read_opml(path)
    except FileNotFoundError:
        raise doc.error("sources_opml", f"OPML file not found: {path}") from None
    except OSError as exc:
        raise doc.error("sources_opml", f"cannot read OPML file {path}: {exc.strerror or exc}") from None
    names = {s.name for s in yaml_sources}
    urls = {s.url for s in yaml_sources if s.url}
    return [Source(name=e.name, url=e.url, interval=interval, title=e.title, categories=e.categories, from_opml=True)
            for e in entries if e.name not in names and e.url not in urls]
