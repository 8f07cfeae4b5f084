"""A local-article source's refresh: scan the directory, read only the files whose size or mtime
changed, normalise them, and store the changes (a deleted or re-identified file drops its item)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from feedsvc.config import Source
from feedsvc.errors import ArticleSkipped, SourceError
from feedsvc.items.backlog import hold_back
from feedsvc.items.health import count_items
from feedsvc.items.health import tally as tally_writes
from feedsvc.items.source_state import Scanned
from feedsvc.model import Item, Origin, SourceOutcome, SourceState
from feedsvc.storage import FileChanges, FileRecord, SourceUpdate

if TYPE_CHECKING:
    from feedsvc.app.engine import Engine, _Round

log = logging.getLogger("feedsvc.app.engine")


def refresh_local(engine: Engine, rnd: _Round, source: Source, state: SourceState, now: datetime,
                  token: str | None) -> SourceOutcome:
    from feedsvc.items.decide import decide, lookups, resolve
    from feedsvc.items.normalise import Cleaners, SourceContext, normalise
    from feedsvc.sources import articles

    assert source.path is not None
    cfg = engine.config
    try:
        scan = articles.scan(source.path)
    except OSError as exc:
        raise SourceError(source.name, f"cannot read directory {source.path}: {exc.strerror or exc}") from None
    known = engine.storage.files(source.name)
    current = {f.relpath: f for f in scan.files}
    changed = [f for f in scan.files if known.get(f.relpath, FileRecord(-1, -1, None))[:2] != (f.size, f.mtime_ns)]
    deleted = [rel for rel in known if rel not in current]
    warnings = list(scan.problems)
    origin = Origin(title=source.title or cfg.site.title, link=cfg.site.url, id=cfg.site.id, home=cfg.site.url)
    ctx = SourceContext(name=source.name, origin=origin, base_url=cfg.site.url, site_url=cfg.site.url)
    items: list[Item] = []
    cleaners = Cleaners()
    file_keys: dict[str, str | None] = {}
    for f in changed:
        try:
            data = articles.read_file(source.path, f.relpath)
            parsed = articles.parse_article(source.name, f.relpath, data)
        except ArticleSkipped as exc:
            warnings.append(f"{f.relpath}: skipped, {exc}")
            file_keys[f.relpath] = None
            continue
        except OSError as exc:
            warnings.append(f"{f.relpath}: unreadable, {exc.strerror or exc}")
            continue
        warnings.extend(f"{f.relpath}: {w}" for w in parsed.warnings)
        item = normalise(parsed.entry, ctx, now, cleaners)
        items.append(item)
        file_keys[f.relpath] = item.key
    for w in warnings:
        log.warning("%s: %s", source.name, w)
    # files skipped on an earlier scan and untouched since are still skipped: keep saying so
    # in the source's warning (status, summary line), without logging the same WARNING every run
    still = [f"{rel}: still skipped (not a readable article)" for rel in sorted(current)
             if rel in known and rel not in file_keys and known[rel].key is None
             and known[rel][:2] == (current[rel].size, current[rel].mtime_ns)]
    for w in still:
        log.info("%s: %s", source.name, w)
    warning = "; ".join(warnings + still)[:1000] or None
    ok = engine._next(source, state, Scanned(title=origin.title, link=origin.home, warning=warning), now)
    if not changed and not deleted:
        engine._unchanged(rnd, ok, token)
        return SourceOutcome(source.name, "not-modified", unchanged=len(current), warning=warning,
                             next_due=ok.next_due)
    old_keys = {rel: known[rel].key for rel in deleted if known[rel].key}
    for f in changed:            # a changed file whose id changed drops its old item
        prev = known.get(f.relpath)
        if prev and prev.key and prev.key != file_keys.get(f.relpath):
            old_keys[f.relpath] = prev.key
    live = {i.key for i in items} | {known[r].key for r in current if r in known and r not in file_keys}
    files = FileChanges(set={f.relpath: FileRecord(f.size, f.mtime_ns, file_keys[f.relpath])
                             for f in changed if f.relpath in file_keys}, deleted=deleted)
    with engine.storage.write(source.name, token) as tx:
        removed = tx.remove([k for k in old_keys.values() if k and k not in live])
        own_keys, match = lookups(items)
        snap = tx.snapshot(own_keys, match)
        writes = resolve(decide(items, snap, engine.rank, rnd.run, engine.priority), snap, now, rnd.run)
        ok = count_items(ok, tally_writes(writes), now, parsed=False)
        writes = hold_back(writes, state, engine.config.new_items(source), now, engine.running(state),
                           migrations=False)     # a new directory's older articles are backlog
        counts = tx.apply(SourceUpdate(state=ok, run=rnd.run, writes=writes, files=files))
    return SourceOutcome(source.name, "ok", new=counts.new, updated=counts.updated + removed,
                         unchanged=len(current) - len(changed) + counts.unchanged,
                         duplicates=counts.duplicates, warning=warning, next_due=ok.next_due)
