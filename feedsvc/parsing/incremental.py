"""One feed's bytes in, its normalised items out: the pure job a parse worker runs.

Parsing and normalising a feed is pure CPU work (expat, nh3) and holds the GIL, so the fetch
threads of one process would take turns on one core. ``ParsePool`` parses in one thread of this
process until the round has shown it is a big one (a second of parsing), then in worker
processes (spawned then, so a round where nothing or little changed never starts one), while
this process goes on fetching and storing. Jobs and results are frozen records (bytes, strings,
``Item``s): nothing but the job crosses the process boundary.

``parse_and_normalise`` is the job itself, pure: the same function runs inline or in a worker.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from feedsvc.errors import ParseError
from feedsvc.model import Item, Origin, ParsedFeed, RawEntry, Seen

if TYPE_CHECKING:
    from feedsvc.items.normalise import SourceContext
    from feedsvc.parsing.outline import Outline

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class ParseJob:
    """One fetched feed to parse and normalise."""
    source: str                  # source name
    content: bytes               # the body as fetched
    url: str                     # the URL finally fetched (base for relative links)
    feed_url: str                # the configured URL (the items' origin link)
    site_url: str                # config site.url (base of a file: feed without a home page)
    now: datetime                # the round's clock
    headers: dict[str, str] = field(default_factory=dict)
    max_entries: int = 500
    max_bytes: int = 10 * 1024 * 1024
    # entries normalised before, by fingerprint (see ``entry_fingerprints``): their entry key and
    # dedup keys. An entry whose fingerprint is here is not normalised again (it would give the
    # same Item), so a feed that gained one entry costs one entry's sanitising, not fifty.
    known: dict[str, Seen] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ParseOutput:
    """A parsed and normalised feed, or the reason it is not one."""
    items: tuple[Item, ...] = ()
    title: str | None = None
    link: str | None = None      # the feed's home page
    warning: str | None = None   # a recoverable parse problem
    ttl_seconds: int | None = None
    error: str | None = None     # ParseError message: the bytes yield no feed
    fingerprints: tuple[str, ...] = ()   # of ``items``, one each
    skipped: tuple[tuple[str, Seen], ...] = ()   # known entries not normalised again: (fp, seen)


def parse_and_normalise(job: ParseJob) -> ParseOutput:
    """Parse (fast path, else feedparser) and normalise one feed. Pure; raises nothing for bad
    bytes (``error`` says why).

    Entries seen before (``job.known``) are not normalised again, and where the document can be
    outlined (``outline.py``) not even parsed again: a changed feed costs its new entries."""
    from feedsvc.parsing.document import parse_document

    shape = _outline(job)
    try:
        if shape is not None and job.known:
            out = _parse_new_entries(job, shape)
            if out is not None:
                return out
        parsed = parse_document(job.source, job.content, job.url, job.headers,
                                max_entries=job.max_entries, max_bytes=job.max_bytes)
    except ParseError as exc:
        return ParseOutput(error=exc.message)
    ctx = _context(job, parsed)
    if shape is not None and len(shape.spans) == len(parsed.entries):
        fps = span_fingerprints(shape, ctx, parsed.entries, range(len(parsed.entries)), job.now)
    else:
        fps = entry_fingerprints(parsed.entries, ctx, job.now)
    out = _normalise_fresh(job, ctx, parsed, list(zip(fps, parsed.entries)),
                           tuple((fp, job.known[fp]) for fp in fps if fp is not None and fp in job.known),
                           full=parsed.entries)
    assert out is not None        # given every entry, it never gives up
    return out


def _outline(job: ParseJob) -> Outline | None:
    from feedsvc.parsing.common import unwrap
    from feedsvc.parsing.outline import outline

    try:
        shape = outline(unwrap(job.source, job.content, job.url, job.max_bytes))
    except ParseError:
        return None
    return shape if shape is not None and 0 < len(shape.spans) <= job.max_entries else None


def _context(job: ParseJob, parsed: ParsedFeed) -> SourceContext:
    from feedsvc.items.normalise import SourceContext

    origin = Origin(title=parsed.title, link=job.feed_url, id=parsed.id or parsed.link or job.feed_url,
                    home=parsed.link)
    base = job.url
    if not job.url.startswith(("http:", "https:")):   # a file: feed resolves against its own home page
        base = parsed.link or job.site_url
    return SourceContext(name=job.source, origin=origin, base_url=base, site_url=job.site_url,
                         authors=parsed.authors)


def _parse_new_entries(job: ParseJob, shape: Outline) -> ParseOutput | None:
    """Parse only the entries not seen before: the feed-level elements alone first (they make the
    context every fingerprint depends on), then the document without the known entries. None
    when that cannot stand in for parsing the whole document."""
    from feedsvc.parsing.document import parse_document

    def parse(content: bytes) -> ParsedFeed:
        return parse_document(job.source, content, job.url, job.headers,
                              max_entries=job.max_entries, max_bytes=job.max_bytes)

    n = len(shape.spans)
    try:
        feed = parse(shape.without(set(range(n))))
    except ParseError:   # e.g. a feed with no entries left is an error for a bozo document
        return None
    ctx = _context(job, feed)
    fps = span_fingerprints(shape, ctx, None, range(n), job.now)
    known = {i: fp for i, fp in enumerate(fps) if fp is not None and fp in job.known}   # index → fingerprint
    if not known:
        return None
    new = [i for i in range(n) if i not in known]
    try:     # every entry known (a feed that only touched a date of its own): the skeleton is it
        parsed = parse(shape.without(set(known))) if new else feed
    except ParseError:
        return None
    if len(parsed.entries) != len(new) or (parsed.title, parsed.link, parsed.id) != (feed.title, feed.link, feed.id):
        return None
    new_fps = span_fingerprints(shape, ctx, parsed.entries, new, job.now)
    return _normalise_fresh(job, ctx, parsed, list(zip(new_fps, parsed.entries)),
                            tuple((fp, job.known[fp]) for _, fp in sorted(known.items())),
                            full=None)


def _normalise_fresh(job: ParseJob, ctx: SourceContext, parsed: ParsedFeed,
                     entries: list[tuple[str | None, RawEntry]], skipped: tuple[tuple[str, Seen], ...],
                     full: Sequence[RawEntry] | None) -> ParseOutput | None:
    """Normalise the entries not known (fingerprint None or not in ``job.known``); the known ones
    are reported as ``skipped``. ``full``: every entry of the document, normalised instead when a
    new entry touches a skipped one's keys (None: the caller parses the whole document then)."""
    from feedsvc.items.normalise import normalise_all

    fresh = [(fp, e) for fp, e in entries if fp is None or fp not in job.known]
    items = normalise_all([e for _, e in fresh], ctx, job.now)
    if skipped:
        # decide looks at the whole batch (a repeated entry key, a dedup key shared by two
        # entries): when a new item touches a skipped entry's keys, normalise everything
        old_keys = {seen.key for _, seen in skipped}
        old_dkeys = {k for _, seen in skipped for k in seen.dedup_keys}
        if any(i.key in old_keys or not old_dkeys.isdisjoint(i.dedup_keys) for i in items) \
                or len(old_keys) < len(skipped):
            if full is None:
                return None
            fresh = entries
            items = normalise_all(full, ctx, job.now)
            skipped = ()
    return ParseOutput(items=tuple(items), title=parsed.title, link=parsed.link,
                       warning=parsed.warning, ttl_seconds=parsed.ttl_seconds,
                       fingerprints=tuple(fp or "" for fp, _ in fresh), skipped=skipped)


FINGERPRINT_VERSION = "2"        # bump when normalise's output for the same input changes (2: digit groups
                                 # keep their boundary in fingerprints, fragments in entry keys)


def entry_fingerprints(entries: Sequence[RawEntry], ctx: SourceContext, now: datetime) -> list[str | None]:
    """A hash of everything ``normalise`` reads for each entry (the raw entry, the source context,
    the feedsvc version): equal fingerprints give equal Items. None for an entry whose result
    also depends on ``now`` (a date in the future, dropped until it is not)."""
    from feedsvc import __version__
    from feedsvc.items.normalise import FUTURE_SLACK

    base = hashlib.sha256(repr((FINGERPRINT_VERSION, __version__, ctx)).encode("utf-8", "surrogatepass"))
    limit = now + FUTURE_SLACK
    out: list[str | None] = []
    for e in entries:
        if any(d is not None and (d.tzinfo is None or d > limit) for d in (e.published, e.updated)):
            out.append(None)
            continue
        h = base.copy()
        h.update(repr(e).encode("utf-8", "surrogatepass"))
        out.append(h.hexdigest()[:32])
    return out


def span_fingerprints(shape: Outline, ctx: SourceContext, entries: Sequence[RawEntry] | None,
                      which: Iterable[int], now: datetime) -> list[str | None]:
    """Fingerprints of the outlined entries ``which`` from their bytes (and the source context,
    the document's feed-level context and the feedsvc version): the same bytes in the same
    context parse and normalise to the same Item. ``entries``: their parsed records, one per
    index, to give None for one dated in the future (normalised again until it is not)."""
    from feedsvc import __version__
    from feedsvc.items.normalise import FUTURE_SLACK

    base = hashlib.sha256(repr(("span", FINGERPRINT_VERSION, __version__, ctx)).encode("utf-8", "surrogatepass"))
    base.update(shape.context)
    limit = now + FUTURE_SLACK
    out: list[str | None] = []
    for n, i in enumerate(which):
        e = entries[n] if entries is not None else None
        if e is not None and any(d is not None and (d.tzinfo is None or d > limit) for d in (e.published, e.updated)):
            out.append(None)
            continue
        h = base.copy()
        h.update(shape.entry(i))
        out.append(h.hexdigest()[:32])
    return out
