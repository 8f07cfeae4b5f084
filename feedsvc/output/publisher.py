"""Publishing: from the store to the files in ``output.dir``, under the store's publisher lock.

    purge (retention) → plan (plan.py) → gather the selection (curate.py) → plan again →
    render every output (render/, pure) → write what changed (write.py) → record → ping (websub.py)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from feedsvc import __version__
from feedsvc.config import Config
from feedsvc.output import plan as planning
from feedsvc.output.plan import Plan, plan_publish
from feedsvc.storage.protocol import PublishRecord, Storage

log = logging.getLogger(__name__)

PUBLISH_LOCK_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class PublishResult:
    written: tuple[str, ...]     # files (relative to output.dir) rewritten this time
    items: int                   # items in the combined feeds
    warnings: tuple[str, ...] = ()  # problems that did not stop the publish (a failed hub ping)
    rendered: bool = True        # False when the outputs were already what a render would give


def publish(storage: Storage, cfg: Config, clock: Callable[[], datetime], force: bool = False,
            lock_timeout: float | None = None) -> PublishResult:
    """Render the outputs from the store and write the files that changed (see plan.py for when
    nothing is rendered). Raises ``PublishError`` (a file could not be written), ``StoreError``."""
    with storage.publisher(PUBLISH_LOCK_TIMEOUT if lock_timeout is None else lock_timeout):
        # purge first: rendering items about to be dropped would make the next refresh, with
        # nothing new, rewrite the outputs without them
        storage.purge(clock(), cfg.retention.max_age, cfg.retention.per_source)
        meta = storage.feed_meta()
        now = clock()
        context = planning.context_digest(__version__, repr(cfg), meta)
        fp = planning.fingerprint(context, storage.generation(), now, any(s.max_age for s in cfg.sources))
        last = storage.last_publish()
        present = last is not None and all((cfg.output.dir / rel).is_file() for rel in last.files)
        plan = plan_publish(last, fp, None, present, force)
        if plan is Plan.SKIP:
            assert last is not None
            return _not_rendered(cfg, last.items)
        from feedsvc.output.curate import gather

        chosen = gather(storage.newest, cfg, now)   # filters and limits
        items = chosen.combined
        local = {s.name for s in cfg.sources if s.kind == "local"} | storage.local_sources()
        pages = storage.pages(sorted(local))
        sel = planning.selection(context, repr(chosen.combined), repr(chosen.topics), repr(pages))
        plan = plan_publish(last, fp, sel, present, force)
        if plan is Plan.KEEP:
            assert last is not None     # the next round with nothing new takes the cheap check
            storage.record_publish(PublishRecord(fp, sel, last.files, len(items), now))
            return _not_rendered(cfg, len(items))
        from feedsvc.output.render import render_all, source_infos
        from feedsvc.output.write import is_feed_file, write_all

        files = render_all(cfg, items, pages, source_infos(cfg, meta), chosen.topics)
        written = write_all(cfg.output.dir, files, last.files if last else ())
        storage.record_publish(PublishRecord(fp, sel, tuple(sorted(files)), len(items), now))
        warnings: list[str] = []
        if cfg.site.websub_hub:          # changed feeds (and pings still pending) go to the hub
            from feedsvc.output import websub

            changed = [cfg.site.url + w for w in written if is_feed_file(w) and w in files]
            warnings = websub.notify(cfg.site.websub_hub, changed, cfg.state_dir)
    for rel in written:
        log.debug("wrote %s", rel)
    return PublishResult(written=tuple(written), items=len(items), warnings=tuple(warnings))


def _not_rendered(cfg: Config, items: int) -> PublishResult:
    """The outputs are already what a render would give: nothing is written, and only the hub
    pings that failed before are retried."""
    log.debug("outputs unchanged since the last publish: not rendered")
    warnings: list[str] = []
    if cfg.site.websub_hub:
        from feedsvc.output import websub

        warnings = websub.notify(cfg.site.websub_hub, [], cfg.state_dir)
    return PublishResult(written=(), items=items, warnings=tuple(warnings), rendered=False)
