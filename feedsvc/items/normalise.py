"""Raw entry → ``Item``. Pure: no I/O, no clock (``now`` comes in as a parameter).

What normalise guarantees about every Item it returns:
- every string is XML-safe (no control characters, no lone surrogates) and titles are plain text
  of bounded length;
- HTML fields are sanitised with nh3's allow-list (no script/style/iframe, no event handlers,
  only http(s)/mailto URLs) and relative URLs are resolved against the entry's base;
- links and enclosure URLs are absolute http(s) URLs, or absent;
- dates are aware UTC, and dates more than a day in the future are dropped (the store then uses
  the time first seen), so a bad clock cannot pin an item to the top;
- ``id`` is a valid IRI that depends only on the source and the entry's identity.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urljoin, urlsplit

import nh3

from feedsvc import compact_json
from feedsvc.items.keys import canonical_link, dedup_keys, link_identity, with_derived_keys
from feedsvc.model import Enclosure, Item, Origin, Person, RawEntry

ID_NAMESPACE = uuid.UUID("6f0c7b55-1d0a-4c53-9a8e-5b8f2f6c9e11")  # never change: ids derive from it
MAX_TITLE = 300
MAX_NAME = 200
FUTURE_SLACK = timedelta(days=1)

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_WS = re.compile(r"\s+")
_IRI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_IRI_FORBIDDEN = re.compile(r"[\s<>\"{}|\\^`]")
URL_SCHEMES = {"http", "https", "mailto"}
# nh3's default allow-list, plus the media elements a feed reader shows
TAGS = set(nh3.ALLOWED_TAGS) | {"audio", "video", "source", "picture"}
ATTRIBUTES = {k: set(v) for k, v in nh3.ALLOWED_ATTRIBUTES.items()}
ATTRIBUTES.setdefault("img", set()).update({"src", "alt", "title", "width", "height", "srcset"})
ATTRIBUTES.setdefault("a", set()).update({"href", "title"})
ATTRIBUTES["audio"] = {"src", "controls"}
ATTRIBUTES["video"] = {"src", "controls", "poster", "width", "height"}
ATTRIBUTES["source"] = {"src", "type"}
_CLEAN_CONTENT = {"script", "style"}
# nh3.Cleaner holds a compiled allow-list (building one per call cost about half of each clean):
# immutable once built, so these module-level ones are constants, not state. A cleaner that
# rewrites relative URLs depends on the base, so those are built per batch (see ``Cleaners``).
_PLAIN = nh3.Cleaner(tags=set(), clean_content_tags=_CLEAN_CONTENT)
_DENY_RELATIVE = nh3.Cleaner(tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES,
                             url_relative="deny", clean_content_tags=_CLEAN_CONTENT)


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What normalise needs to know about the source an entry came from."""
    name: str
    origin: Origin
    base_url: str                # feed URL (remote) or site URL (local)
    site_url: str                # where output.dir is served; local article pages hang off it
    authors: tuple[Person, ...] = ()  # the feed's own author(s): an entry that names none has these


def clean_text(value: str | None) -> str:
    """Make a string XML-safe: drop control characters, replace lone surrogates."""
    if not value:
        return ""
    if _XML_BAD.search(value):
        value = _XML_BAD.sub("", value)
    if not value.isascii() and _SURROGATE.search(value):
        value = _SURROGATE.sub("\ufffd", value)
    return value


def plain_text(value: str | None, is_html: bool = True, limit: int | None = None) -> str:
    """HTML (or text) → one line of plain text: tags stripped, entities decoded, spaces collapsed."""
    text = clean_text(value)
    if not text:
        return ""
    if is_html and ("<" in text or "&" in text):
        text = html.unescape(_PLAIN.clean(text))
    text = _WS.sub(" ", text).strip()
    text = clean_text(text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


class Cleaners:
    """The HTML cleaners of one batch of entries, one per base URL (entries of a feed share it).
    Owned by whoever normalises the batch; nothing is kept between batches."""

    __slots__ = ("_by_base",)

    def __init__(self) -> None:
        self._by_base: dict[str, nh3.Cleaner] = {}

    def for_base(self, base: str | None) -> nh3.Cleaner:
        if not base or urlsplit(base).scheme not in ("http", "https"):
            return _DENY_RELATIVE
        cleaner = self._by_base.get(base)
        if cleaner is None:
            cleaner = nh3.Cleaner(tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES,
                                  url_relative=("rewrite_with_base", base),
                                  clean_content_tags=_CLEAN_CONTENT)
            self._by_base[base] = cleaner
        return cleaner


def sanitise_html(value: str | None, base: str | None, cleaners: Cleaners | None = None) -> str:
    """Allow-list sanitising with relative URLs resolved against ``base``."""
    text = clean_text(value)
    if not text.strip():
        return ""
    return (cleaners or Cleaners()).for_base(base).clean(text).strip()


def absolute_url(url: str | None, base: str | None) -> str | None:
    """Resolve ``url`` against ``base``; only http(s) results survive."""
    url = clean_text(url).strip()
    if not url:
        return None
    try:
        joined = urljoin(base or "", url) if base else url
        parts = urlsplit(joined)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if _IRI_FORBIDDEN.search(joined):
        joined = re.sub(r"\s", "%20", joined)
        joined = _IRI_FORBIDDEN.sub(lambda m: f"%{ord(m.group()):02X}", joined)
    return joined


def is_iri(value: str) -> bool:
    return bool(_IRI_SCHEME.match(value)) and not _IRI_FORBIDDEN.search(value)


def entry_key(raw: RawEntry, link: str | None) -> str:
    """Identity within a source: guid/id, else link, else a hash of title and date.

    The link is canonicalised (scheme and host case, default port, tracking parameters, query
    order) but keeps its fragment (``keys.link_identity``): a feed whose entries are one page's
    fragments (``entries.php#111``, ``#110``, … one per issue) has one entry per fragment. A link
    without a fragment gives the key it always did."""
    guid = clean_text(raw.guid).strip() if raw.guid else ""
    if guid:
        return "g:" + guid
    if raw.local_path:
        return "f:" + raw.local_path
    if link:
        return "l:" + (link_identity(link) or link)
    when = raw.published or raw.updated
    basis = json.dumps([plain_text(raw.title, raw.title_is_html),
                        when.isoformat() if when else "",
                        plain_text(raw.summary or raw.content)[:200] if not raw.title else ""])
    return "h:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


GLOBAL_ID_SCHEMES = ("http", "https", "tag", "urn")


def published_id(source: str, key: str, guid: str | None) -> str:
    """The id published for an item: the feed's guid when it is a valid IRI in a scheme meant to
    be globally unique (http(s), tag:, urn:), else a urn:uuid derived from the source name and the
    entry key (stable across runs and machines). "alpha-0007" or "post:7" would otherwise be
    published as is and collide with another feed's "post:7"."""
    if (guid and is_iri(guid) and len(guid) <= 1000
            and guid.split(":", 1)[0].lower() in GLOBAL_ID_SCHEMES):
        return guid
    return "urn:uuid:" + str(uuid.uuid5(ID_NAMESPACE, f"{source}\n{key}"))


def content_hash(item_fields: dict[str, object]) -> str:
    """Stable hash of what a reader sees; 'updated' is excluded (noisy). Pinned by a test."""
    return hashlib.sha256(compact_json.dumps(item_fields, sort_keys=True)).hexdigest()[:32]


def _utc(dt: datetime | None) -> datetime | None:
    """Aware UTC (a naive datetime is taken as UTC)."""
    if dt is None:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def normalise_origin(origin: Origin, base: str | None) -> Origin:
    """The source feed's metadata, made safe to publish: plain-text title, http(s) links only
    (never a local file: URL), an id only when it is an IRI."""
    oid = clean_text(origin.id).strip() if origin.id else ""
    return Origin(title=plain_text(origin.title, False, MAX_TITLE) or None,
                  link=absolute_url(origin.link, None),
                  id=oid if oid and is_iri(oid) and not oid.lower().startswith("file:") else None,
                  home=absolute_url(origin.home, base))


def normalise_all(entries: Iterable[RawEntry], ctx: SourceContext, now: datetime) -> list[Item]:
    """``normalise`` every entry of one batch (one feed, one fetch), sharing the HTML cleaners."""
    cleaners = Cleaners()
    origin = normalise_origin(ctx.origin, ctx.base_url)
    return [normalise(raw, ctx, now, cleaners, origin) for raw in entries]


def normalise(raw: RawEntry, ctx: SourceContext, now: datetime, cleaners: Cleaners | None = None,
              origin: Origin | None = None) -> Item:
    """One raw entry → Item. ``cleaners`` and ``origin`` (``normalise_origin`` of the context's)
    are shared by ``normalise_all`` across a batch; alone, they are built here."""
    cleaners = cleaners or Cleaners()
    base = raw.base if raw.base and urlsplit(raw.base).scheme in ("http", "https") else ctx.base_url
    if raw.page is not None:
        link: str | None = ctx.site_url + raw.page
        page_base = link
        declared = absolute_url(raw.link, page_base)
    else:
        link = absolute_url(raw.link, base)
        page_base = base
        declared = None
    if link is None and raw.guid_is_permalink:
        link = absolute_url(raw.guid, base)
    key = entry_key(raw, link if raw.page is None else None)
    guid = clean_text(raw.guid).strip() if raw.guid else None
    title = plain_text(raw.title, raw.title_is_html, MAX_TITLE)
    summary = sanitise_html(raw.summary, page_base, cleaners)
    content = sanitise_html(raw.content, page_base, cleaners)
    if not title:
        title = plain_text(summary or content, True, 80) or "Untitled"
    authors = tuple(Person(name=plain_text(p.name, True, MAX_NAME),
                           email=clean_text(p.email).strip() or None if p.email else None,
                           uri=absolute_url(p.uri, base) if p.uri else None)
                    for p in (raw.authors or ctx.authors) if plain_text(p.name, True))
    categories: list[str] = []
    for c in raw.categories:
        t = plain_text(c, False, 100)
        if t and t not in categories:
            categories.append(t)
    enclosures = []
    for e in raw.enclosures:
        u = absolute_url(e.url, base)
        if u:
            enclosures.append(Enclosure(url=u, type=plain_text(e.type, False, 100) or None,
                                        length=e.length if e.length and e.length > 0 else None))
    limit = now + FUTURE_SLACK
    published = _utc(raw.published)
    future = published is not None and published > limit
    published = published if published and published <= limit else None
    updated = _utc(raw.updated)
    updated = updated if updated and updated <= limit else None
    canonical = canonical_link(declared or link) if (declared or link) else None
    keys = dedup_keys(canonical, guid, raw.guid_is_permalink)
    if raw.page is not None and declared:
        # in order (a set's order changed with PYTHONHASHSEED, and so the stored keys between runs)
        keys = tuple(k for k in dict.fromkeys(keys + (canonical_link(declared) or "",)) if k)
    origin = origin or normalise_origin(ctx.origin, ctx.base_url)
    fields: dict[str, object] = {
        "title": title, "link": link, "summary": summary, "content": content,
        "authors": [[a.name, a.email, a.uri] for a in authors],
        "categories": categories,
        "enclosures": [[e.url, e.type, e.length] for e in enclosures],
        "published": published.isoformat() if published else None,
    }
    # with the content fingerprint and the other derived match keys (``dedup.match_keys``),
    # computed here once (on the parse workers) rather than again by the store and by decide
    keys = with_derived_keys(keys, title, content or summary, published, canonical, link)
    return Item(
        source=ctx.name, key=key, id=published_id(ctx.name, key, guid), title=title, link=link,
        canonical_link=canonical, dedup_keys=keys, authors=authors, published=published,
        updated=updated, summary=summary, content=content, categories=tuple(categories),
        enclosures=tuple(enclosures), origin=origin, page=raw.page,
        content_hash=content_hash(fields), future_date=future,
    )
