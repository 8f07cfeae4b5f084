"""``feedsvc sources discover URL`` and ``feedsvc sources check URL``: the subscription helpers.

- discover: fetch a page (with the configured limits and User-Agent), and find its feeds: the
  page itself if it is one, else the ``<link rel="alternate">`` feeds it advertises, else the
  common paths (``/feed``, ``/rss.xml``, ``/atom.xml``, ``/index.xml``, ``/feed.json``…), each
  checked by fetching and parsing it. Prints YAML source entries to paste (or JSON).
- check: a dry run of one URL through fetch, parse, normalise and the deduplication against the
  current store, writing nothing: how many items, how many would be new, which stored items they
  would merge with and by which key, date problems, whether a conditional GET is answered 304,
  the size and the time taken.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from feedsvc.config import Config
from feedsvc.errors import FeedsvcError
from feedsvc.model import ParsedFeed
from feedsvc.sources.fetch import HttpFetcher

COMMON_PATHS = ("/feed", "/feed/", "/rss.xml", "/atom.xml", "/index.xml", "/feed.xml", "/feed.json", "/rss")


@dataclass(frozen=True, slots=True)
class Found:
    url: str
    title: str | None
    name: str


@dataclass
class Discovery:
    found: list[Found] = field(default_factory=list)
    tried: list[tuple[str, str]] = field(default_factory=list)     # (url, what happened)


def _fetcher(config: Config) -> HttpFetcher:
    from feedsvc import __version__

    return HttpFetcher(user_agent=config.fetch.user_agent or f"feedsvc/{__version__} (+{config.site.url})",
                       base_dir=config.path.parent, connect_timeout=config.fetch.connect_timeout,
                       timeout=config.fetch.timeout, max_bytes=config.fetch.max_bytes)


def _parse(url: str, content: bytes, headers: dict[str, str]) -> ParsedFeed:
    from feedsvc.parsing.document import parse_document

    return parse_document("discover", content, url, headers)


def discover(config: Config, url: str) -> Discovery:
    from feedsvc.config.opml import derive_name
    from feedsvc.parsing.html_page import looks_like_html, read_page

    out = Discovery()
    fetcher = _fetcher(config)
    names: set[str] = set()

    def add(feed_url: str, title: str | None) -> None:
        name = base = derive_name(title, feed_url)
        n = 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        out.found.append(Found(feed_url, title, name))

    def try_feed(feed_url: str) -> bool:
        try:
            res = fetcher.fetch("discover", feed_url)
            feed = _parse(res.url, res.content, res.headers)
        except FeedsvcError as exc:
            out.tried.append((feed_url, getattr(exc, "message", str(exc))))
            return False
        out.tried.append((feed_url, f"a feed ({len(feed.entries)} entries)"))
        add(feed_url, feed.title)
        return True

    try:
        page = fetcher.fetch("discover", url)
    except FeedsvcError as exc:
        out.tried.append((url, getattr(exc, "message", str(exc))))
        fetcher.close()
        return out
    try:
        try:
            feed = _parse(page.url, page.content, page.headers)
            out.tried.append((url, f"a feed ({len(feed.entries)} entries)"))
            add(url, feed.title)
            return out
        except FeedsvcError:
            pass
        if looks_like_html(page.content, page.headers.get("content-type", "")):
            advertised = read_page(page.content, page.url).feeds
            out.tried.append((url, f"an HTML page advertising {len(advertised)} feed(s)"))
            for a in advertised:
                try_feed(a.url)
            if out.found:
                return out
        else:
            out.tried.append((url, "neither a feed nor an HTML page"))
        root = f"{urlsplit(page.url).scheme}://{urlsplit(page.url).netloc}"
        for path in COMMON_PATHS:
            if try_feed(urljoin(root, path)):
                break
        return out
    finally:
        fetcher.close()


def to_yaml(found: list[Found]) -> str:
    import yaml

    rows = [{"name": f.name, "url": f.url, **({"title": f.title} if f.title else {})} for f in found]
    text = yaml.safe_dump(rows, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return "".join("  " + line + "\n" for line in text.splitlines())


def check(config: Config, url: str) -> dict[str, Any]:
    """The dry run (see the module docstring); raises FeedsvcError when the URL yields no feed."""
    from feedsvc.clock import utcnow
    from feedsvc.items.decide import Action, decide, lookups
    from feedsvc.parsing.incremental import ParseJob, parse_and_normalise
    from feedsvc.storage import open_storage

    fetcher = _fetcher(config)
    now = utcnow()
    started = time.monotonic()
    try:
        res = fetcher.fetch("check", url)
        elapsed = time.monotonic() - started
        out = parse_and_normalise(ParseJob(source="(check)", content=res.content, url=res.url, feed_url=url,
                                           site_url=config.site.url, now=now, headers=res.headers,
                                           max_entries=config.fetch.max_entries, max_bytes=config.fetch.max_bytes))
        if out.error:
            raise FeedsvcError(out.error)
        conditional = "no validators (ETag, Last-Modified) sent: every fetch downloads the whole feed"
        if res.etag or res.last_modified:
            again = fetcher.fetch("check", url, res.etag, res.last_modified)
            conditional = ("answered 304 Not Modified to a conditional GET" if again.not_modified
                           else "sends validators but answered a conditional GET with the whole feed again")
    finally:
        fetcher.close()
    items = list(out.items)
    store = open_storage(config, readonly=True)
    try:
        own, keys = lookups(items)
        snap = store.peek("(check)", own, keys)
    finally:
        store.close()
    decisions = decide(items, snap, {}, 0)
    merges = []
    for d in decisions:
        if d.action in (Action.DUPLICATE, Action.TAKEOVER) and d.target is not None:
            by = next((k.split(":", 1)[0] for k in d.item.dedup_keys if snap.by_dedup_key.get(k) == d.target), "?")
            merges.append({"title": d.item.title, "with_source": d.target.source, "with_id": d.target.id,
                           "by": {"link": "canonical link", "id": "global id", "fp": "content fingerprint"}.get(by, by)})
    dates = [i.published for i in items]        # normalise drops a date in the future
    undated = sum(1 for x in dates if x is None)
    distinct = {x for x in dates if x is not None}
    problems = []
    if undated:
        problems.append(f"{undated} of {len(items)} entries have no usable date (missing or in the future): "
                        "they are dated when first seen")
    if len(items) > 1 and len(distinct) == 1:
        problems.append("every entry carries the same date")
    return {"url": url, "final_url": res.url, "bytes": len(res.content), "seconds": round(elapsed, 3),
            "title": out.title, "items": len(items),
            "would_be_new": sum(1 for d in decisions if d.action is Action.NEW),
            "would_merge": merges, "date_problems": problems, "conditional_get": conditional,
            "warning": out.warning, "checked_at": now.isoformat(timespec="seconds")}
