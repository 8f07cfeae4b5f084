"""``sources.opml`` (OPML 2.0, http://opml.org/spec2.opml): one outline per source (pure), so a
reader can subscribe to the sources directly instead of to the combined feed.

A remote source is ``type="rss"`` with ``xmlUrl`` (its feed) and ``htmlUrl`` (its home page
when known). A local article source, or a feed read from a ``file:`` URL, has no public feed
of its own: it is a ``type="link"`` outline to its home page (the site for local articles).
"""

from __future__ import annotations

from email.utils import format_datetime

from lxml import etree

from feedsvc.config import Site, Source
from feedsvc.model import StoredItem
from feedsvc.output.render.common import SourceInfo, safe_site


def render_opml(site: Site, config_sources: tuple[Source, ...], sources: dict[str, SourceInfo],
                items: list[StoredItem]) -> bytes:
    site, sources = safe_site(site, sources)
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = f"Sources of {site.title}"
    newest = max((s.date for s in items), default=None)
    if newest is not None:                      # deterministic: the newest item, not the run time
        etree.SubElement(head, "dateModified").text = format_datetime(newest, usegmt=True)
    if site.author:
        etree.SubElement(head, "ownerName").text = site.author
    etree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = etree.SubElement(root, "body")
    for src in config_sources:
        info = sources.get(src.name) or SourceInfo(src.name, src.title or src.name, None)
        title = info.title or src.name
        home = info.home or (site.url if src.kind == "local" else None)
        if info.url:
            el = etree.SubElement(body, "outline", type="rss", text=title, title=title, xmlUrl=info.url)
            if home:
                el.set("htmlUrl", home)
        elif home:
            etree.SubElement(body, "outline", type="link", text=title, title=title, url=home)
        else:
            etree.SubElement(body, "outline", text=title, title=title)
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return out
