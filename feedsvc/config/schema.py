"""The config's shape: frozen dataclasses whose fields declare, once, everything the loader needs.

Every field read from the YAML is declared with ``setting(...)``: its default (the value when the key
is left out; the only place it is written), its YAML key (the field's name unless given; a dotted key
such as ``schedule.interval`` lives in a sub-mapping), its kind (how the value is read and checked,
see ``KINDS``) and a one-line comment. ``feedsvc.config.loader`` walks these fields to read and
check each mapping: the keys a mapping allows are its fields' keys. A field without ``setting`` is
not a YAML key. Relative paths (``kind="path"``, defaults included) are relative to the config file.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any

# How a kind of value is written in the YAML; the loader has one reader per kind.
KINDS = {
    "str": "a string (a number is taken as its text); required: not empty",
    "name": "a string of letters, digits, - and _",
    "choice": "one of `choices`",
    "choices": "a non-empty list of `choices` (or one of them), kept in the order of `choices`",
    "regex": "a regular expression, compiled",
    "int": "a whole number, at least `min` (1 unless given; None: any)",
    "fraction": "a number from 0 to 1",
    "duration": "90s, 15m, 1h, 1d, 1h30m or a number of seconds; positive",
    "duration0": "a duration, or 0s",
    "headers": "a mapping of HTTP header names to values (${NAME} and ${file:NAME} expanded)",
    "auth": "{username, password[, scheme: basic|digest]} or {bearer} (values expanded)",
    "proxy": "an http://, https://, socks5:// or socks5h:// proxy URL",
    "verify": "true, false, or the path of a CA bundle",
    "host_rules": "a list of {match, concurrency, spacing}",
    "size": "10MiB, 500KB… or a number of bytes; positive",
    "url": "an http(s) URL (optional: blank means none)",
    "store_url": "sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME (no password)",
    "feed_url": "an http(s) or file: URL",
    "path": "a path, relative to the config file's directory (~ expanded)",
    "face": "a PNG, JPEG, GIF, WebP or AVIF file of at most 1 MiB: a path like `path`, or an http(s) URL",
    "str_list": "a list of non-empty strings (or one string), duplicates dropped",
    "rules": "a list of rules (field, pattern)",
    "section": "a mapping read as the dataclass `of` (or the default factory)",
    "inline": "the keys of the dataclass `of` (or the default factory), in the same mapping",
    "list": "a list of mappings, each read as the dataclass `of` (read by the loader)",
}


def setting(default: Any = MISSING, *, kind: str, doc: str, key: str | None = None,
            factory: Any = MISSING, required: bool = False, **check: Any) -> Any:
    """A field read from the YAML. ``default`` (or ``factory``) is the value when the key is left
    out; no default and not ``required``: the loader derives it. ``check`` holds the kind's options
    (``min``, ``choices``, ``what``, ``of``)."""
    assert kind in KINDS, kind
    return field(default=default, default_factory=factory,
                 metadata={"kind": kind, "key": key, "doc": doc, "required": required, **check})


DEFAULT_INTERVAL = 900.0             # seconds: schedule.interval, and so every source's interval
DEFAULT_MAX_ITEMS = 50               # output.max_items, and so every topic feed's max_items
DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # fetch.max_bytes

FORMATS = ("atom", "rss", "json")    # the feed formats, in the order they are written
FORMAT_FILES = {"atom": "atom.xml", "rss": "rss.xml", "json": "feed.json"}
ARCHIVE_PERIODS = ("off", "monthly", "weekly")   # output.archive
FRONT_PAGES = ("summary", "full")    # output.front_page
DEFAULT_NEW_SOURCE_ITEMS = 5         # new_source_items, and so every source's
RULE_FIELDS = ("title", "content", "link", "author", "category")


@dataclass(frozen=True, slots=True)
class Site:
    title: str = setting(kind="str", required=True, doc="the combined feed's title")
    url: str = setting(kind="url", required=True, doc='where output.dir is served; ends with "/"')
    id: str = setting(kind="str", doc="the feed's id, an IRI with a scheme; defaults to url")
    description: str = setting(kind="str", doc='defaults to "<title>: combined feed"')
    author: str | None = setting(None, kind="str", doc="the feed's author")
    language: str | None = setting(None, kind="str", doc="the feed's language, e.g. en")
    websub_hub: str | None = setting(None, kind="url", doc="a WebSub hub: feeds carry rel=hub, "
                                                           "changed feeds ping it")


@dataclass(frozen=True, slots=True)
class Output:
    dir: Path = setting(Path("public"), kind="path", doc="where feeds and article pages are written")
    max_items: int = setting(DEFAULT_MAX_ITEMS, kind="int", doc="newest N items in the combined feeds")
    formats: tuple[str, ...] = setting(FORMATS, kind="choices", choices=FORMATS, what="format",
                                       doc="feed formats written (index.html and sources.opml always)")
    page_items: int = setting(50, kind="int", doc="newest items shown on index.html")
    archive: str = setting("off", kind="choice", choices=ARCHIVE_PERIODS, what="valid archive period",
                           doc="RFC 5005 archive documents beside each feed: off, monthly or weekly")
    templates: Path | None = setting(None, kind="path",
                                     doc="a directory whose templates (index.html, article.html, _style.css, "
                                         "feed.xsl) replace the packaged ones of the same name")
    front_page: str = setting("summary", kind="choice", choices=FRONT_PAGES, what="front page style",
                              doc="index.html shows a plain-text summary of each item, or its full post")

    @property
    def feed_files(self) -> tuple[str, ...]:
        """The feed file names written, e.g. ("atom.xml", "rss.xml", "feed.json")."""
        return tuple(FORMAT_FILES[f] for f in self.formats)


@dataclass(frozen=True, slots=True)
class Retention:
    max_age: float = setting(365 * 86400.0, kind="duration",
                             doc="seconds: items older than this and gone from their feed are purged")
    per_source: int = setting(1000, kind="int", doc="at most this many items kept per source (newest)")


@dataclass(frozen=True, slots=True)
class PerHost:
    """The politeness limits of one group of hosts (a registered domain, or a host)."""
    concurrency: int = setting(2, kind="int", doc="requests at once to one host group")
    spacing: float = setting(1.0, kind="duration0", doc="seconds between the starts of two requests to it")


@dataclass(frozen=True, slots=True)
class HostRule:
    """Limits for the hosts a pattern matches: ``example.org`` (that host), ``*.example.org``
    (its subdomains and itself)."""
    match: str = setting(kind="str", required=True, doc="a host name, or *.domain")
    concurrency: int | None = setting(None, kind="int", doc="requests at once (default fetch.per_host)")
    spacing: float | None = setting(None, kind="duration0", doc="seconds between starts (default fetch.per_host)")


@dataclass(frozen=True, slots=True)
class Fetch:
    workers: int = setting(8, kind="int", doc="concurrent fetches in a refresh")
    connect_timeout: float = setting(10.0, kind="duration", doc="seconds to connect")
    timeout: float = setting(30.0, kind="duration", doc="seconds for the whole response")
    max_bytes: int = setting(DEFAULT_MAX_BYTES, kind="size", doc="body cap, compressed and decompressed")
    max_entries: int = setting(500, kind="int", doc="entries taken from one fetch (newest first in "
                                                    "document order)")
    per_host: PerHost = setting(factory=PerHost, kind="section", doc="politeness limits of each host group")
    hosts: tuple[HostRule, ...] = setting((), kind="host_rules", doc="limits for particular hosts")
    user_agent: str | None = setting(None, kind="str", doc="the User-Agent sent (default: feedsvc/VERSION (+site.url))")


@dataclass(frozen=True, slots=True)
class Health:
    """When a source needs an operator's attention (see ``feedsvc status --problems``)."""
    silent_after: float = setting(60 * 86400.0, kind="duration",
                                  doc="seconds without a new item, fetches succeeding, before a source is 'silent'")
    max_share: float = setting(0.3, kind="fraction", doc="a source with more of the combined feed's items is 'flooding'")


@dataclass(frozen=True, slots=True)
class Report:
    """The operator's report, written with every publish when ``dir`` is set."""
    dir: Path | None = setting(None, kind="path", doc="report.html, report.json and problems.xml (not public "
                                                      "unless you point it into output.dir)")
    url: str | None = setting(None, kind="url", doc="where report.dir is served, if it is (for problems.xml's "
                                                     "self link); default: its file: URL")


@dataclass(frozen=True, slots=True)
class Rule:
    """One filter rule: a regular expression searched in one field of an item."""
    field: str = setting(kind="choice", required=True, choices=RULE_FIELDS, what="field",
                         doc="the item field searched")
    pattern: re.Pattern[str] = setting(kind="regex", required=True,
                                       doc="compiled; matched with search (anywhere in the field)")


@dataclass(frozen=True, slots=True)
class Filters:
    """An item passes when it matches every ``keep`` rule (if any) and no ``drop`` rule."""
    keep: tuple[Rule, ...] = setting((), kind="rules", doc="an item must match every one of these")
    drop: tuple[Rule, ...] = setting((), kind="rules", doc="an item matching one of these is left out")

    def __bool__(self) -> bool:
        return bool(self.keep or self.drop)


@dataclass(frozen=True, slots=True)
class Source:
    name: str = setting(kind="name", required=True, doc="unique; letters, digits, - and _")
    path: Path | None = setting(None, kind="path", doc="local directory of articles")
    url: str | None = setting(None, kind="feed_url", doc="remote feed (http, https or file:)")
    interval: float = setting(DEFAULT_INTERVAL, kind="duration",
                              doc="seconds between fetches; defaults to schedule.interval")
    title: str | None = setting(None, kind="str", doc="display name override (atom:source title)")
    filters: Filters = setting(factory=Filters, kind="inline", doc="keep/drop rules of this source alone")
    max_items: int | None = setting(None, kind="int",
                                    doc="at most this many of this source in a published feed")
    max_age: float | None = setting(None, kind="duration",
                                    doc="seconds: older items of this source are not published")
    priority: int = setting(0, kind="int", min=None, doc="a higher priority wins duplicate stories")
    author: str | None = setting(None, kind="str", doc="author of items whose feed names none")
    categories: tuple[str, ...] = setting((), kind="str_list", doc="added to every item of this source")
    headers: tuple[tuple[str, str], ...] = setting((), kind="headers", doc="sent with every request of this source")
    auth: tuple[str, ...] | None = setting(None, kind="auth", doc="HTTP Basic/Digest or a bearer token")
    proxy: str | None = setting(None, kind="proxy", doc="the proxy this source is fetched through")
    verify: bool | str = setting(True, kind="verify", doc="TLS verification: false, or a CA bundle path")
    public_url: str | None = setting(None, kind="url", doc="the feed URL to publish instead of url "
                                                           "(derived when url carries credentials)")
    face: Path | str | None = setting(None, kind="face", doc="an image shown beside its posts and in the sources "
                                                             "list, copied into output.dir/faces/ at publish (a URL: "
                                                             "downloaded when the source is refreshed)")
    new_source_items: int | None = setting(None, kind="int", min=0,
                                           doc="items of its first fetch (or a bulk guid migration) that may "
                                               "reach the front page; defaults to new_source_items")
    from_opml: bool = False          # listed in sources_opml, not in the YAML (not a YAML key)

    @property
    def shown_url(self) -> str | None:
        """The feed's URL as it may be shown and published (never with credentials)."""
        return self.public_url or self.url

    @property
    def private(self) -> bool:
        """Whether its requests carry credentials (sent only to the feed's own origin)."""
        return bool(self.headers or self.auth)

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
    path: str = setting(kind="str", required=True,
                        doc="directory under output.dir holding its atom.xml, rss.xml…")
    title: str = setting(kind="str", required=True, doc="the topic feed's title")
    description: str = setting(kind="str", doc="defaults to title")
    sources: tuple[str, ...] = setting((), kind="str_list",
                                       doc="only items of (or also carried by) these sources")
    categories: tuple[str, ...] = setting((), kind="str_list",
                                          doc="only items with one of these categories (case-insensitive)")
    filters: Filters = setting(factory=Filters, kind="inline", doc="and passing these keep/drop rules")
    max_items: int = setting(DEFAULT_MAX_ITEMS, kind="int", doc="defaults to output.max_items")


@dataclass(frozen=True, slots=True)
class Config:
    path: Path                       # the config file (not a YAML key)
    site: Site = setting(kind="section", of=Site, required=True, doc="the published site")
    output: Output = setting(factory=Output, kind="section", doc="what is written, and where")
    state_dir: Path = setting(Path("state"), kind="path", doc="the SQLite store and lock files")
    interval: float = setting(DEFAULT_INTERVAL, kind="duration", key="schedule.interval",
                              doc="seconds: the default refresh interval of a source")
    sources: tuple[Source, ...] = setting((), kind="list", of=Source,
                                          doc="the feeds and article directories; required unless "
                                              "sources_opml is given")
    retention: Retention = setting(factory=Retention, kind="section", doc="how long items are kept")
    fetch: Fetch = setting(factory=Fetch, kind="section", doc="limits of one fetch")
    jitter: float = setting(0.1, kind="fraction", key="schedule.jitter",
                            doc="fraction of the interval the daemon spreads runs over")
    filters: Filters = setting(factory=Filters, kind="section", doc="global keep/drop rules")
    outputs: tuple[Topic, ...] = setting((), kind="list", of=Topic, doc="extra topic feeds")
    sources_opml: Path | None = setting(None, kind="path",
                                        doc="OPML file whose feeds are merged into sources")
    store: str | None = setting(None, kind="store_url",
                                doc="where items and state live (default: sqlite in state_dir; "
                                    "$FEEDSVC_STORE overrides)")
    health: Health = setting(factory=Health, kind="section", doc="when a source needs attention")
    report: Report = setting(factory=Report, kind="section", doc="the operator's report")
    min_interval: float = setting(300.0, kind="duration", key="schedule.min_interval",
                                  doc="no source is fetched more often than this (a typo must not hammer a server)")
    lease: float = setting(60.0, kind="duration", key="schedule.lease",
                           doc="seconds a worker holds a source it refreshes (renewed while it works)")
    new_source_items: int = setting(DEFAULT_NEW_SOURCE_ITEMS, kind="int", min=0,
                                    doc="items of a new source's first fetch that may reach the front page "
                                        "(the rest are backlog: archived, not on the front page)")

    def new_items(self, source: Source) -> int:
        """How many items of ``source``'s first fetch may reach the combined feeds' front."""
        return self.new_source_items if source.new_source_items is None else source.new_source_items

    @property
    def store_url(self) -> str:
        """The store's URL without a password ($FEEDSVC_STORE, else ``store``, else SQLite in
        ``state_dir``)."""
        import os

        from feedsvc.config.values import redact

        env = os.environ.get("FEEDSVC_STORE")
        return redact(env) if env else self.store or f"sqlite:///{self.state_dir / 'feedsvc.db'}"

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
