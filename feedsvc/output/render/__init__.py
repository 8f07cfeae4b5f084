"""Every output file, rendered from the store's items (pure): the feeds chosen by
output.formats (feeds.py: Atom and RSS; json_feed.py), index.html and the article pages
(html.py), sources.opml (opml.py) and the feeds' stylesheet.

Rendering is deterministic: the same items give the same bytes, so an unchanged round rewrites
nothing and readers' conditional GETs keep getting 304.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources

from feedsvc.config import Config, Site, Topic
from feedsvc.items.normalise import MAX_TITLE, absolute_url, plain_text
from feedsvc.model import StoredItem
from feedsvc.output.render.common import SourceInfo
from feedsvc.output.render.feeds import STYLESHEET, render_atom, render_atom_and_rss, render_rss
from feedsvc.output.render.html import render_index, render_page
from feedsvc.output.render.json_feed import render_json
from feedsvc.output.render.opml import render_opml

__all__ = ["SourceInfo", "render_all", "render_feeds", "source_infos", "stylesheet", "topic_site"]


def stylesheet() -> bytes:
    """The XSLT that turns atom.xml and rss.xml into a readable page in a browser."""
    return resources.files("feedsvc.output").joinpath("templates", STYLESHEET).read_bytes()



def source_infos(config: Config, feed_meta: dict[str, tuple[str | None, str | None]]) -> dict[str, SourceInfo]:
    """Display data per source: the config's title, else the feed's own title, else the name."""
    out = {}
    for s in config.sources:
        ftitle, fhome = feed_meta.get(s.name, (None, None))
        # the feed's own title and link come from the network: make them XML-safe plain text and
        # an http(s) URL; a file: URL is a local path, never published
        out[s.name] = SourceInfo(name=s.name,
                                 title=s.title or plain_text(ftitle, False, MAX_TITLE) or s.name,
                                 url=absolute_url(s.shown_url, None) if s.kind == "feed" else None,
                                 home=absolute_url(fhome, None))
    return out


def topic_site(site: Site, topic: Topic) -> Site:
    """A topic feed's own metadata: its title and description, an id derived from the site's."""
    return replace(site, title=topic.title, description=topic.description,
                   id=f"{site.id.rstrip('/')}/{topic.path}")


def render_feeds(site: Site, formats: tuple[str, ...], items: list[StoredItem],
                 sources: dict[str, SourceInfo], prefix: str = "") -> dict[str, bytes]:
    """One feed in every chosen format, under ``prefix`` (a topic feed's ``path/``)."""
    xsl = "../" * prefix.count("/") + STYLESHEET
    files: dict[str, bytes] = {}
    if "atom" in formats and "rss" in formats:
        files[prefix + "atom.xml"], files[prefix + "rss.xml"] = render_atom_and_rss(
            site, items, sources, xsl, prefix=prefix)
    elif "atom" in formats:
        files[prefix + "atom.xml"] = render_atom(site, items, sources, xsl, prefix=prefix)
    elif "rss" in formats:
        files[prefix + "rss.xml"] = render_rss(site, items, sources, xsl, prefix=prefix)
    if "json" in formats:
        files[prefix + "feed.json"] = render_json(site, items, sources, prefix=prefix)
    return files


def render_all(config: Config, items: list[StoredItem], pages: list[StoredItem],
               sources: dict[str, SourceInfo],
               topics: dict[str, list[StoredItem]] | None = None) -> dict[str, bytes]:
    """Every output file, by path relative to output.dir (pure): the feeds chosen by
    output.formats (the combined one, and each ``outputs:`` topic feed under its path, with
    ``topics`` its items), their stylesheet, index.html, sources.opml and the article pages."""
    site = config.site
    formats = config.output.formats
    files: dict[str, bytes] = {}
    if any(f in ("atom", "rss") for f in formats):
        files[STYLESHEET] = stylesheet()
    files.update(render_feeds(site, formats, items, sources))
    topic_links = []
    for t in config.outputs:
        files.update(render_feeds(topic_site(site, t), formats, (topics or {}).get(t.path, []),
                                  sources, prefix=t.path + "/"))
        topic_links.append((t.title, t.description, t.path + "/"))
    feeds = config.output.feed_files
    files["index.html"] = render_index(site, items[:config.output.page_items], sources, feeds,
                                       topic_links)
    files["sources.opml"] = render_opml(site, config.sources, sources, items)
    for p in pages:
        if p.item.page:
            files[p.item.page] = render_page(site, p, feeds)
    return files
