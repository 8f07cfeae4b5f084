"""The archive step of a publish (RFC 5005 archived feeds): which archive documents
exist and which must be written (periods.py, pure), then reading, curating, rendering and
writing only those, oldest first, before the subscription documents that link to them.

A round costs what changed: the plan reads one aggregate a period (how many items, their newest
change; from an index, no item data), and only the periods whose items changed are read and
rendered.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from feedsvc.config import Config, Topic
from feedsvc.errors import PublishError
from feedsvc.model import StoredItem
from feedsvc.output.curate import curate, selects
from feedsvc.output.periods import (
    ARCHIVE_DIR,
    ArchivePlan,
    ArchiveView,
    Doc,
    feed_dir,
    periods_between,
    plan_archives,
    with_items,
)
from feedsvc.output.write import write_if_changed
from feedsvc.storage.protocol import Storage

if TYPE_CHECKING:
    from feedsvc.output.render import SourceInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Archives:
    """The archives of one publish: the plan, and the digests to record once written."""
    plan: ArchivePlan

    @property
    def view(self) -> ArchiveView:
        return self.plan.view


def plan(storage: Storage, cfg: Config, context: str, rebuild: bool = False) -> Archives:
    """Which archive documents exist and which to write (``rebuild``: all of them). With
    ``output.archive: off`` there are none, and those written before are to be removed."""
    recorded = storage.archives()
    if cfg.output.archive == "off":
        return Archives(plan_archives((), (), recorded, lambda p: True, context))
    span = storage.archive_span()
    every = periods_between(span[0], span[1], cfg.output.archive) if span else []
    periods = with_items(every, storage.archive_digests([(p.start, p.end) for p in every]))
    feeds = ["", *(t.path + "/" for t in cfg.outputs)]
    out = cfg.output.dir
    return Archives(plan_archives(periods, feeds, recorded, lambda p: (out / p).is_file(), context, rebuild))


def current_url(cfg: Config, feed: str) -> str:
    """The subscription document an archive belongs to (``rel="current"``): the feed's Atom
    document, else the first format written."""
    name = "atom.xml" if "atom" in cfg.output.formats else cfg.output.feed_files[0]
    return cfg.site.url + feed + name


def write(storage: Storage, cfg: Config, archives: Archives, meta: dict[str, tuple[str | None, str | None]],
          now: datetime) -> list[str]:
    """Render and write the documents the plan names (period by period, each period's items read
    and curated once for every feed), remove those gone, record the digests. Returns the paths
    written or removed. ``meta``: the feeds' own titles and links (``Storage.feed_meta``)."""
    p = archives.plan
    written: list[str] = []
    done: dict[str, str] = {}
    topics = {t.path + "/": t for t in cfg.outputs}
    if p.write:              # feedgen and lxml only when there is something to render
        from feedsvc.output.render import source_infos

        sources = source_infos(cfg, meta)
    for period in p.periods():
        docs = [d for d in p.write if d.period.name == period.name]
        pool = curate(storage.between(period.start, period.end), cfg, now, limits=False)
        for d in docs:
            topic = topics.get(d.feed)
            chosen = pool if topic is None else [s for s in pool if selects(topic, s)]
            if write_if_changed(cfg.output.dir / d.path, _render(cfg, d, chosen, sources, topic)):
                written.append(d.path)
            done[d.path] = d.digest
    written += _remove(cfg, p.remove)
    storage.record_archives(done, p.remove)
    if written:
        log.debug("archives: wrote %d, removed %d", len(done), len(p.remove))
    return written


def _render(cfg: Config, d: Doc, items: list[StoredItem], sources: dict[str, SourceInfo],
            topic: Topic | None) -> bytes:
    from feedsvc.output.render import topic_site
    from feedsvc.output.render.feeds import STYLESHEET, render_archive

    site = cfg.site if topic is None else topic_site(cfg.site, topic)
    links = [("current", current_url(cfg, d.feed), "application/atom+xml")]
    if d.prev:
        links.append(("prev-archive", cfg.site.url + d.prev, "application/atom+xml"))
    if d.next:
        links.append(("next-archive", cfg.site.url + d.next, "application/atom+xml"))
    xsl = "../" * d.path.count("/") + STYLESHEET
    return render_archive(site, items, sources, d.path, tuple(links), f"{site.title}: archive of {d.period.label}", xsl)


def _remove(cfg: Config, paths: tuple[str, ...]) -> list[str]:
    """Remove archive documents no longer produced, and the directories they leave empty."""
    removed = []
    root = cfg.output.dir / ARCHIVE_DIR
    for rel in paths:
        full = cfg.output.dir / rel
        try:
            full.unlink()
            removed.append(rel)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise PublishError(f"cannot remove {full}: {exc.strerror or exc}") from exc
        parent = full.parent
        while parent != root.parent and parent.is_dir() and not any(parent.iterdir()):
            os.rmdir(parent)
            parent = parent.parent
    return removed


__all__ = ["Archives", "current_url", "feed_dir", "plan", "write"]
