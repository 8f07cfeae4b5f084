"""Every output file, rendered from the store's items (pure): the feeds chosen by
output.formats (feeds.py: Atom and RSS; json_feed.py), index.html and the article pages
(html.py), sources.opml (opml.py) and the feeds' stylesheet.

Rendering is deterministic: the same items give the same bytes, so an unchanged round rewrites
nothing and readers' conditional GETs keep getting 304.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from importlib import resources
from pathlib import Path

from feedsvc.config import Config, Site, Topic
from feedsvc.errors import PublishError
from feedsvc.items.normalise import MAX_TITLE, absolute_url, plain_text
from feedsvc.model import StoredItem
from feedsvc.output.periods import ArchiveView
from feedsvc.output.render.common import SourceInfo
from feedsvc.output.render.feeds import STYLESHEET, render_atom, render_atom_and_rss, render_rss
from feedsvc.output.render.html import render_index, render_page
from feedsvc.output.render.json_feed import render_json
from feedsvc.output.render.opml import render_opml

__all__ = ["SourceInfo", "render_all", "render_feeds", "source_infos", "stylesheet", "topic_site"]


def stylesheet(templates: Path | None = None) -> bytes:
    """The XSLT that turns atom.xml and rss.xml into a readable page in a browser: the theme's
    (``output.templates``) when it has one, else the packaged one."""
    if templates is not None:
        try:
            return (templates / STYLESHEET).read_bytes()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise PublishError(f"output.templates: cannot read {templates / STYLESHEET}: {exc.strerror or exc}") from None
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
                                 home=absolute_url(fhome, None), local=s.kind == "local")
    return out


def topic_site(site: Site, topic: Topic) -> Site:
    """A topic feed's own metadata: its title and description, an id derived from the site's."""
    return replace(site, title=topic.title, description=topic.description,
                   id=f"{site.id.rstrip('/')}/{topic.path}")


def render_feeds(site: Site, formats: tuple[str, ...], items: list[StoredItem],
                 sources: dict[str, SourceInfo], prefix: str = "", archive: str | None = None) -> dict[str, bytes]:
    """One feed in every chosen format, under ``prefix`` (a topic feed's ``path/``); ``archive``:
    the path of its newest archive document (RFC 5005: ``prev-archive``)."""
    xsl = "../" * prefix.count("/") + STYLESHEET
    url = site.url + archive if archive else None
    links = (("prev-archive", url, "application/atom+xml"),) if url else ()
    files: dict[str, bytes] = {}
    if "atom" in formats and "rss" in formats:
        files[prefix + "atom.xml"], files[prefix + "rss.xml"] = render_atom_and_rss(
            site, items, sources, xsl, prefix=prefix, links=links)
    elif "atom" in formats:
        files[prefix + "atom.xml"] = render_atom(site, items, sources, xsl, prefix=prefix, links=links)
    elif "rss" in formats:
        files[prefix + "rss.xml"] = render_rss(site, items, sources, xsl, prefix=prefix, links=links)
    if "json" in formats:
        files[prefix + "feed.json"] = render_json(site, items, sources, prefix=prefix, archive=url)
    return files


def render_all(config: Config, items: list[StoredItem], pages: list[StoredItem],
               sources: dict[str, SourceInfo],
               topics: dict[str, list[StoredItem]] | None = None,
               archives: ArchiveView | None = None, faces: Mapping[str, tuple[str, bytes]] | None = None,
               latest: Mapping[str, datetime] | None = None) -> dict[str, bytes]:
    """Every output file, by path relative to output.dir (pure): the feeds chosen by
    output.formats (the combined one, and each ``outputs:`` topic feed under its path, with
    ``topics`` its items), their stylesheet, index.html, sources.opml and the article pages.
    ``archives``: the archive documents the feeds link to and index.html lists (written apart,
    output/archive.py). ``faces``: source → (its path under output.dir, the image's bytes), read
    by the publisher; ``latest``: source → the date of its newest published item."""
    site = config.site
    formats = config.output.formats
    arch = archives or ArchiveView()
    files: dict[str, bytes] = {}
    if any(f in ("atom", "rss") for f in formats) or arch.newest:
        files[STYLESHEET] = stylesheet(config.output.templates)
    files.update(render_feeds(site, formats, items, sources, archive=arch.newest.get("")))
    topic_links = []
    for t in config.outputs:
        files.update(render_feeds(topic_site(site, t), formats, (topics or {}).get(t.path, []),
                                  sources, prefix=t.path + "/", archive=arch.newest.get(t.path + "/")))
        topic_links.append((t.title, t.description, t.path + "/"))
    feeds = config.output.feed_files
    face_paths = {name: path for name, (path, _data) in (faces or {}).items()}
    files.update({path: data for path, data in (faces or {}).values()})
    templates = config.output.templates
    files["index.html"] = render_index(site, items[:config.output.page_items], sources, feeds,
                                       topic_links, arch.listing, front_page=config.output.front_page,
                                       templates=templates, faces=face_paths, latest=latest)
    files["sources.opml"] = render_opml(site, config.sources, sources, items)
    for p in pages:
        if p.item.page:
            info = sources.get(p.item.source)
            files[p.item.page] = render_page(site, p, feeds, source=info.title if info else None,
                                             face=face_paths.get(p.item.source), templates=templates)
    return files
