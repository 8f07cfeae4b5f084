"""The records that travel between stages: small frozen dataclasses, no behaviour.

fetch → ``FetchResult`` → parse → ``ParsedFeed`` of ``RawEntry`` → normalise → ``Item``
→ decide → ``Decision`` → store → ``StoredItem`` → publish.

Every datetime here is timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Person:
    name: str                    # display name (never empty)
    email: str | None = None
    uri: str | None = None


@dataclass(frozen=True, slots=True)
class Enclosure:
    url: str                     # absolute URL
    type: str | None = None      # media type, e.g. audio/mpeg
    length: int | None = None    # bytes, when the feed says


@dataclass(frozen=True, slots=True)
class Origin:
    """The feed an item came from, for atom:source / RSS <source>."""
    title: str | None = None
    link: str | None = None      # the feed's own URL (for RSS <source url>) or home page
    id: str | None = None        # the feed's id / URL
    home: str | None = None      # the feed's alternate (home page) link


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What fetch hands to parse: bytes plus response metadata, or "not modified"."""
    url: str                     # the URL finally fetched (after redirects)
    not_modified: bool           # True on 304 (or an unchanged file: URL); content is then b""
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased response headers
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200
    permanent_url: str | None = None  # set when a permanent redirect moved the feed


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One entry as the parser (or article reader) found it, before normalisation."""
    guid: str | None             # the feed's guid/id, as written
    guid_is_permalink: bool      # RSS guid without isPermaLink="false" that is a URL
    link: str | None             # the entry's alternate link, maybe relative
    title: str | None            # maybe HTML, see title_is_html
    title_is_html: bool
    authors: tuple[Person, ...]
    published: datetime | None
    updated: datetime | None
    summary: str | None          # HTML (plain text is escaped by the parser)
    content: str | None          # HTML
    categories: tuple[str, ...]
    enclosures: tuple[Enclosure, ...]
    base: str | None             # base URL for relative links (xml:base, feed URL)
    page: str | None = None      # local articles: path of the article's page under output.dir
    local_path: str | None = None  # local articles: path relative to the source directory


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What parse hands to normalise."""
    title: str | None
    link: str | None             # the feed's home page
    id: str | None
    entries: tuple[RawEntry, ...]
    warning: str | None = None   # a recoverable parse problem (feedparser's bozo), kept on the source
    ttl_seconds: int | None = None  # the feed's own <ttl> / sy:updatePeriod, when given
    authors: tuple[Person, ...] = ()  # the feed's own author(s) (Atom feed author, RSS managingEditor,
                                      # channel dc:creator): those of its entries that name none


@dataclass(frozen=True, slots=True)
class Item:
    """The common item model, whatever the origin. Pure data, built by ``normalise``."""
    source: str                  # name of the source it comes from
    key: str                     # identity within the source (guid, else link, else title+date hash)
    id: str                      # published id: a valid IRI, stable forever
    title: str                   # plain text
    link: str | None             # absolute URL of the item's page
    canonical_link: str | None   # link canonicalised for cross-source dedup
    dedup_keys: tuple[str, ...]  # match keys (link:, id:, fp:, lt:, pf:; see items/keys.py): equal keys = same story
    authors: tuple[Person, ...]
    published: datetime | None   # as the feed says (None: first_seen is used)
    updated: datetime | None
    summary: str                 # sanitised HTML ("" when none)
    content: str                 # sanitised HTML ("" when none)
    categories: tuple[str, ...]
    enclosures: tuple[Enclosure, ...]
    origin: Origin
    page: str | None             # local article page path under output.dir
    content_hash: str            # hash of the fields a reader sees; a change means "updated"
    future_date: bool = False    # the feed dated it in the future (so it is dated when first seen)


@dataclass(frozen=True, slots=True)
class Copy:
    """Another source's copy of a stored story (the losing side of a duplicate)."""
    source: str                  # the source that carried it
    link: str | None             # that copy's own link (None when it had none)


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item as the store holds it, with the dates the store owns."""
    item: Item
    first_seen: datetime
    date: datetime               # the publication date used for ordering (published or first_seen)
    updated: datetime            # last change (feed's updated, or when we saw the change)
    also_in: tuple[str, ...]     # other sources that carried the same story
    copies: tuple[Copy, ...] = ()  # also_in with each copy's link, for index.html ("also in X")


@dataclass(frozen=True, slots=True)
class Seen:
    """What the store remembers of an entry normalised before."""
    key: str                     # its entry key
    dedup_keys: tuple[str, ...]  # its dedup keys (before decide drops the ambiguous ones)


@dataclass(frozen=True, slots=True)
class SourceState:
    """Per-source fetch state kept in the store."""
    name: str
    kind: str                    # "feed" or "local"
    url: str | None = None       # configured URL
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    error_since: datetime | None = None
    failures: int = 0            # consecutive failures
    warning: str | None = None   # last parse warning
    retry_after: datetime | None = None  # do not fetch before (daemon): back-off / Retry-After
    gone: bool = False           # 410 Gone seen
    moved_to: str | None = None  # permanent redirect target in use
    moved_count: int = 0         # consecutive successes through a permanent redirect
    moved_candidate: str | None = None
    item_count: int = 0
    feed_title: str | None = None
    feed_link: str | None = None
    ttl_seconds: int | None = None
    cache_seconds: int | None = None   # the server's Cache-Control max-age / Expires, as a lower bound
    cache_by: str | None = None        # which header gave it: "Cache-Control" or "Expires"
    next_due: datetime | None = None   # when the daemon fetches it again (None: at once; never when gone)
    # health counters (items/health.py reads them), kept with the state
    last_new_at: datetime | None = None  # when it last brought a new item
    fetches: int = 0             # answers that reached us (200s and 304s)
    not_modified: int = 0        # of them: 304s, or the same bytes again
    stale_200: int = 0           # of them: a 200 with new bytes but no new or changed item
    items_seen: int = 0          # new items it brought
    undated: int = 0             # of them: without a date
    future_dated: int = 0        # of them: dated in the future (dated when first seen instead)
    redated: int = 0             # updates that only moved an item's date
    churn: str | None = None     # JSON list of the times (epoch s) its items changed guid, last 30 days
    error_class: str | None = None  # dns, connect, tls, timeout, http, html, challenge, parse, too-large
    first_seen_order: str | None = None  # why its items are ordered by first-seen time, not their dates (items/backlog.py)
    lease_owner: str | None = None     # the worker refreshing it now (read from the store, never written with the state)
    lease_until: datetime | None = None  # when that lease expires unless renewed


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """The summary of one source's refresh, for the CLI, the log and systemd STATUS."""
    name: str
    status: str                  # "ok", "not-modified", "error", "skipped"
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    error: str | None = None
    warning: str | None = None
    seconds: float = 0.0
    next_due: datetime | None = None   # the source's next due time after this refresh
    group: str | None = None     # its host group (remote feeds)
    http_status: int | None = None  # the last HTTP answer's status (None: no answer)
    bytes: int = 0               # body bytes fetched
    face_changed: bool = False   # its URL face was downloaded anew (the pages change)

    @property
    def changed(self) -> bool:
        return self.new > 0 or self.updated > 0 or self.face_changed
