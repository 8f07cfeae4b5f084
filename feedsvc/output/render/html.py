"""The human pages (pure): ``index.html`` (the newest items, the topic feeds, the sources) and one
page per local article.

Jinja2 templates with autoescaping on: every title, name and URL is escaped by the template
engine, and only HTML that normalise already sanitised (an article's body, a full post) is marked
safe. ``output.templates`` names a directory whose files replace the packaged templates of the
same name (``THEME_FILES``); the packaged ones stay the fallback, so an upgrade never loses a local
theme and a theme need only hold the files it changes.

The pages need no JavaScript. With ``output.front_page: summary`` (the default) they load nothing
from elsewhere: one inline stylesheet, system fonts, summaries as plain text, and no images but the
sources' faces, which publishing copies into output.dir. ``full`` shows each post as its source
wrote it (sanitised): its images load from where the post says, lazily and without a Referer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import nh3
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
)
from markupsafe import Markup

from feedsvc.config import Site
from feedsvc.errors import PublishError
from feedsvc.items.normalise import ATTRIBUTES, TAGS, URL_SCHEMES
from feedsvc.model import Item, StoredItem
from feedsvc.output.render.common import SourceInfo, entry_authors, safe_site, source_title, summary_text

# the packaged templates a theme (output.templates) may replace, by file name: feed.xsl is XSLT,
# the others Jinja2 (_style.css is included by both pages)
THEME_FILES = ("index.html", "article.html", "_style.css", "feed.xsl")
INDEX_SUMMARY_CHARS = 300
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
FEED_LABELS = {
    "atom.xml": ("application/atom+xml", "Atom"),
    "rss.xml": ("application/rss+xml", "RSS"),
    "feed.json": ("application/feed+json", "JSON Feed"),
}
ALL_FEEDS = tuple(FEED_LABELS)


@lru_cache(maxsize=4)
def _env(templates: str | None = None) -> Environment:
    # one immutable template environment per theme and process (templates are read once, and
    # again when their file changes: Jinja2 checks the modification time)
    package = PackageLoader("feedsvc.output", "templates")
    loader = ChoiceLoader([FileSystemLoader(templates), package]) if templates else package
    return Environment(loader=loader, autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True,
                       trim_blocks=True, lstrip_blocks=True)


def theme(templates: Path | None) -> Environment:
    """The template environment of ``output.templates`` (None: the packaged templates only)."""
    if templates is not None and not templates.is_dir():
        raise PublishError(f"output.templates: template directory {templates} does not exist")
    return _env(str(templates) if templates is not None else None)


def _render(templates: Path | None, name: str, **context: Any) -> bytes:
    where = "output.templates: " if templates is not None else "template "
    try:
        return theme(templates).get_template(name).render(**context).encode("utf-8")
    except TemplateSyntaxError as exc:
        raise PublishError(f"{where}{exc.filename or exc.name or name}:{exc.lineno}: {exc.message}") from None
    except TemplateError as exc:
        raise PublishError(f"{where}{name}: {exc}") from None


def check_theme(templates: Path) -> tuple[list[str], list[str]]:
    """The files of a theme directory that replace packaged templates, and those it holds that
    are not a template name (so never used). Compiles each: raises PublishError naming the file
    and line of a syntax error."""
    env = theme(templates)
    used, unknown = [], []
    for path in sorted(templates.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.name not in THEME_FILES:
            unknown.append(path.name)
            continue
        used.append(path.name)
        if path.name == "feed.xsl":
            from lxml import etree

            try:
                etree.XSLT(etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)))
            except (etree.XMLSyntaxError, etree.XSLTParseError) as exc:
                raise PublishError(f"{path}: not a usable XSLT stylesheet: {exc}") from None
        elif path.suffix in (".html", ".css"):
            try:
                env.get_template(path.name)
            except TemplateSyntaxError as exc:
                raise PublishError(f"{path}:{exc.lineno}: {exc.message}") from None
    return used, unknown


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


def byline(names: Sequence[str], source: str) -> str:
    """The authors to print beside the source's name: those that are not the source's own display
    name (case and spacing aside), so a page never says "Alice's blog · by Alice's blog"."""
    return ", ".join(n for n in names if _norm(n) != _norm(source))


# a full post on the front page: the stored (already sanitised) HTML, cleaned again with the same
# allow-list so images load lazily, without a Referer, and media wait for a click
_FULL = nh3.Cleaner(tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES, url_relative="deny",
                    clean_content_tags={"script", "style"},
                    set_tag_attribute_values={"img": {"loading": "lazy", "decoding": "async",
                                                      "referrerpolicy": "no-referrer"},
                                              "video": {"preload": "none"}, "audio": {"preload": "none"}})
_HEADING = re.compile(r"<(/?)h([1-6])(?=[\s>/])")


def full_post(item: Item) -> Markup:
    """An item's content (else its summary) for the front page: lazy images, and its headings
    moved below the item's own title (h1 → h4 …), so the page keeps one h1 and its outline.
    Only the digit of a tag name changes: nothing the sanitiser produced is re-parsed."""
    body = _FULL.clean(item.content or item.summary or "").strip()
    return Markup(_HEADING.sub(lambda m: f"<{m[1]}h{min(6, int(m[2]) + 3)}", body))


def human_date(dt: datetime) -> str:
    """"1 May 2024" (UTC), the same whatever the machine's locale."""
    dt = dt.astimezone(timezone.utc)
    return f"{dt.day} {MONTHS[dt.month - 1]} {dt.year}"


def _alternates(site: Site, feeds: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"type": FEED_LABELS[f][0], "label": FEED_LABELS[f][1], "file": f, "href": site.url + f}
            for f in feeds if f in FEED_LABELS]


def render_index(site: Site, items: list[StoredItem], sources: dict[str, SourceInfo],
                 feeds: tuple[str, ...] = ALL_FEEDS,
                 topics: Sequence[tuple[str, str | None, str]] = (),
                 archives: Sequence[tuple[str, str]] = (), *, front_page: str = "summary",
                 templates: Path | None = None, faces: Mapping[str, str] | None = None,
                 latest: Mapping[str, datetime] | None = None) -> bytes:
    """index.html: the newest items (title, source, author, date, summary or the full post, link,
    the other sources that carried the story) and the subscription links, with <link
    rel="alternate"> autodiscovery for each feed written; ``topics`` (title, description,
    directory) adds the topic feeds of ``outputs:``; ``archives`` (label, path), newest first, the
    "Archive" list of the combined feed's archive documents (shown by feed.xsl in a browser).
    The sources list: every source in ``sources`` with its home page, its feed, its face (``faces``:
    source → path under output.dir) and the date of its newest published item (``latest``)."""
    site, sources = safe_site(site, sources)
    faces = faces or {}
    rows = []
    for s in items:
        item = s.item
        info = sources.get(item.source)
        source = source_title(item, sources) if item.page is None else (info.title if info else site.title)
        rows.append({
            "title": item.title or "(untitled)",
            "link": item.link,
            "source": source,
            "source_link": (info.home if info else None) or (item.origin.home if item.page is None else None),
            "authors": byline([p.name for p in entry_authors(item, site, sources)], source),
            "face": faces.get(item.source),
            "iso": s.date.astimezone(timezone.utc).isoformat(timespec="seconds"),
            "date": human_date(s.date),
            "summary": summary_text(item, INDEX_SUMMARY_CHARS),
            "content": full_post(item) if front_page == "full" else None,
            "also_in": [{"source": sources[c.source].title if c.source in sources else c.source,
                         "link": c.link} for c in s.copies],
        })
    updated = max((s.date for s in items), default=None)
    last = latest or {}
    blogroll = [{"name": i.name, "title": i.title, "home": i.home, "feed": i.url, "face": faces.get(i.name),
                 "local": i.local,
                 "last": human_date(last[i.name]) if i.name in last else None,
                 "last_iso": last[i.name].astimezone(timezone.utc).isoformat(timespec="seconds")
                 if i.name in last else None}
                for i in sorted(sources.values(), key=lambda i: (_norm(i.title), i.name))]
    return _render(
        templates, "index.html",
        site=site, lang=site.language or "en", items=rows, feeds=_alternates(site, feeds),
        front_page=front_page, sources=blogroll,
        topics=[{"title": title,
                 # a description is printed only when it says more than the title (it defaults to it)
                 "description": description if description and _norm(description) != _norm(title) else None,
                 "feeds": [{**f, "file": path + f["file"], "href": site.url + path + f["file"]}
                           for f in _alternates(site, feeds)]}
                for title, description, path in topics],
        archives=[{"label": label, "href": path} for label, path in archives],
        updated=human_date(updated) if updated else None,
        updated_iso=updated.astimezone(timezone.utc).isoformat(timespec="seconds") if updated else None)


def render_page(site: Site, stored: StoredItem, feeds: tuple[str, ...] = ALL_FEEDS, *,
                source: str | None = None, face: str | None = None, templates: Path | None = None) -> bytes:
    """A local article's own page; links back to index.html. ``source``: its source's display
    name, ``face``: its source's face (a path under output.dir)."""
    site, _ = safe_site(site, {})
    item = stored.item
    up = "../" * (item.page or "").count("/")
    return _render(
        templates, "article.html",
        site=site, lang=site.language or "en", feeds=_alternates(site, feeds),
        home=up + "index.html", title=item.title, source=source,
        authors=byline([p.name for p in item.authors], source or ""),
        face=up + face if face else None,
        iso=stored.date.astimezone(timezone.utc).isoformat(timespec="seconds"),
        date=human_date(stored.date),
        body=Markup(item.content or item.summary),       # sanitised by normalise
        tags=list(item.categories))
