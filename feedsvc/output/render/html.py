"""The human pages (pure): ``index.html`` (the newest items) and one page per local article.

Jinja2 templates in feedsvc/templates/ with autoescaping on: every title, name and URL is escaped
by the template engine, and only HTML that normalise already sanitised (an article's body) is
marked safe. The pages need no JavaScript and load nothing from elsewhere: one inline
stylesheet, system fonts, no images of their own. Summaries on the index are plain text, so a
remote item's images or embeds never load from the front page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from feedsvc.config import Site
from feedsvc.model import StoredItem
from feedsvc.output.render.common import SourceInfo, entry_authors, safe_site, source_title, summary_text

INDEX_SUMMARY_CHARS = 300
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
FEED_LABELS = {
    "atom.xml": ("application/atom+xml", "Atom"),
    "rss.xml": ("application/rss+xml", "RSS"),
    "feed.json": ("application/feed+json", "JSON Feed"),
}
ALL_FEEDS = tuple(FEED_LABELS)


@lru_cache(maxsize=1)
def _env() -> Environment:
    # one immutable template environment per process (templates are read once)
    return Environment(loader=PackageLoader("feedsvc.output", "templates"), autoescape=True,
                       undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                       lstrip_blocks=True)


def human_date(dt: datetime) -> str:
    """"1 May 2024" (UTC), the same whatever the machine's locale."""
    dt = dt.astimezone(timezone.utc)
    return f"{dt.day} {MONTHS[dt.month - 1]} {dt.year}"


def _alternates(site: Site, feeds: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"type": FEED_LABELS[f][0], "label": FEED_LABELS[f][1], "file": f, "href": site.url + f}
            for f in feeds if f in FEED_LABELS]


def render_index(site: Site, items: list[StoredItem], sources: dict[str, SourceInfo],
                 feeds: tuple[str, ...] = ALL_FEEDS,
                 topics: Sequence[tuple[str, str | None, str]] = ()) -> bytes:
    """index.html: the newest items (title, source, author, date, summary, link, the other
    sources that carried the story) and the subscription links, with <link rel="alternate">
    autodiscovery for each feed written; ``topics`` (title, description, directory) adds the
    topic feeds of ``outputs:``."""
    site, sources = safe_site(site, sources)
    rows = []
    for s in items:
        item = s.item
        info = sources.get(item.source)
        rows.append({
            "title": item.title or "(untitled)",
            "link": item.link,
            "source": source_title(item, sources) if item.page is None else (info.title if info else site.title),
            "source_link": (info.home if info else None) or (item.origin.home if item.page is None else None),
            "authors": ", ".join(p.name for p in entry_authors(item, site, sources)),
            "iso": s.date.astimezone(timezone.utc).isoformat(timespec="seconds"),
            "date": human_date(s.date),
            "summary": summary_text(item, INDEX_SUMMARY_CHARS),
            "also_in": [{"source": sources[c.source].title if c.source in sources else c.source,
                         "link": c.link} for c in s.copies],
        })
    updated = max((s.date for s in items), default=None)
    html = _env().get_template("index.html").render(
        site=site, lang=site.language or "en", items=rows, feeds=_alternates(site, feeds),
        topics=[{"title": title, "description": description,
                 "feeds": [{**f, "file": path + f["file"], "href": site.url + path + f["file"]}
                           for f in _alternates(site, feeds)]}
                for title, description, path in topics],
        updated=human_date(updated) if updated else None,
        updated_iso=updated.astimezone(timezone.utc).isoformat(timespec="seconds") if updated else None)
    return html.encode("utf-8")


def render_page(site: Site, stored: StoredItem, feeds: tuple[str, ...] = ALL_FEEDS) -> bytes:
    """A local article's own page; links back to index.html."""
    site, _ = safe_site(site, {})
    item = stored.item
    depth = (item.page or "").count("/")
    html = _env().get_template("article.html").render(
        site=site, lang=site.language or "en", feeds=_alternates(site, feeds),
        home="../" * depth + "index.html", title=item.title,
        authors=", ".join(p.name for p in item.authors),
        iso=stored.date.astimezone(timezone.utc).isoformat(timespec="seconds"),
        date=human_date(stored.date),
        body=Markup(item.content or item.summary),       # sanitised by normalise
        tags=list(item.categories))
    return html.encode("utf-8")
