"""Publishing: from the store to the files in ``output.dir``, under the store's publisher lock.

    purge (retention) → plan (plan.py) → gather the selection (curate.py) → the archive documents
    of changed periods (archive.py) → plan again → render every output (render/, pure) → write
    what changed (write.py) → record → ping (websub.py)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from feedsvc import __version__
from feedsvc.config import Config, Source
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
            lock_timeout: float | None = None, archives: bool = False) -> PublishResult:
    """Render the outputs from the store and write the files that changed (see plan.py for when
    nothing is rendered). Raises ``PublishError`` (a file could not be written), ``StoreError``.
    The archive documents (archive.py) are written when their period's items changed;
    ``archives`` writes them all again (``feedsvc publish --archives``, after curation rules
    changed)."""
    with storage.publisher(PUBLISH_LOCK_TIMEOUT if lock_timeout is None else lock_timeout):
        # purge first: rendering items about to be dropped would make the next refresh, with
        # nothing new, rewrite the outputs without them
        storage.purge(clock(), cfg.retention.max_age, cfg.retention.per_source)
        meta = storage.feed_meta()
        now = clock()
        context = planning.context_digest(__version__, repr(cfg) + _local_inputs(cfg), meta)
        pins = storage.pinned(now)       # a pin that ends changes the outputs without a new item
        fp = planning.fingerprint(planning.digest(context, *(s.item.id for s in pins)) if pins else context,
                                  storage.generation(), now, any(s.max_age for s in cfg.sources))
        last = storage.last_publish()
        present = last is not None and all((cfg.output.dir / rel).is_file() for rel in last.files)
        plan = plan_publish(last, fp, None, present, force or archives)
        if plan is Plan.SKIP:
            assert last is not None
            return _not_rendered(cfg, last.items)
        from feedsvc.output import archive
        from feedsvc.output.curate import gather

        chosen = gather(storage.newest, cfg, now, pins)   # filters and limits, pinned items first
        items = chosen.combined
        local = {s.name for s in cfg.sources if s.kind == "local"} | storage.local_sources()
        pages = storage.pages(sorted(local))
        arch = archive.plan(storage, cfg, context, rebuild=archives)   # which periods changed
        listed = (repr(arch.view),) if arch.plan.docs else ()
        sel = planning.selection(context, repr(chosen.combined), repr(chosen.topics), repr(pages),
                                 repr(sorted(chosen.latest.items())), *listed)
        plan = plan_publish(last, fp, sel, present, force)
        archived = archive.write(storage, cfg, arch, meta, now)     # before the feeds that link to them
        if plan is Plan.KEEP:
            assert last is not None     # the next round with nothing new takes the cheap check
            storage.record_publish(PublishRecord(fp, sel, last.files, len(items), now))
            return _not_rendered(cfg, len(items), archived)
        from feedsvc.output.render import render_all, source_infos
        from feedsvc.output.write import is_feed_file, write_all

        files = render_all(cfg, items, pages, source_infos(cfg, meta), chosen.topics, arch.view,
                           faces=_faces(cfg), latest=chosen.latest)
        written = archived + write_all(cfg.output.dir, files, last.files if last else ())
        storage.record_publish(PublishRecord(fp, sel, tuple(sorted(files)), len(items), now))
        warnings: list[str] = []
        if cfg.site.websub_hub:          # changed feeds (and pings still pending) go to the hub
            from feedsvc.output import websub

            changed = [cfg.site.url + w for w in written if is_feed_file(w) and w in files]
            warnings = websub.notify(cfg.site.websub_hub, changed, cfg.state_dir)
    for rel in written:
        log.debug("wrote %s", rel)
    return PublishResult(written=tuple(written), items=len(items), warnings=tuple(warnings))


def _not_rendered(cfg: Config, items: int, archived: list[str] | None = None) -> PublishResult:
    """The outputs are already what a render would give: nothing is written (but the archive
    documents of periods whose items changed, ``archived``), and only the hub pings that failed
    before are retried."""
    log.debug("outputs unchanged since the last publish: not rendered")
    warnings: list[str] = []
    if cfg.site.websub_hub:
        from feedsvc.output import websub

        warnings = websub.notify(cfg.site.websub_hub, [], cfg.state_dir)
    return PublishResult(written=tuple(archived or ()), items=items, warnings=tuple(warnings), rendered=False)


def _face_file(cfg: Config, source: Source) -> Path | None:
    """The file of a source's face: the local file, or the copy of a URL face that refreshing
    downloaded into state_dir (none before the first download succeeded: no face is shown)."""
    if isinstance(source.face, str):
        from feedsvc.sources.faces import cached_face

        return cached_face(cfg.state_dir, source)
    return source.face


def _faces(cfg: Config) -> dict[str, tuple[str, bytes]]:
    """Each source's ``face:`` image, to copy to ``faces/<source>.<type>`` (its type read from its
    first bytes). One that cannot be read now (it was checked with the config, or when it was
    downloaded) is left out, with a warning: a missing picture never stops a publish."""
    from feedsvc.config.faces import MAX_FACE_BYTES, image_type

    out: dict[str, tuple[str, bytes]] = {}
    for s in cfg.sources:
        path = _face_file(cfg, s)
        if path is None:
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            log.warning("%s: cannot read its face %s (%s): published without it", s.name, path, exc.strerror or exc)
            continue
        kind = image_type(data[:16])
        if kind is None or len(data) > MAX_FACE_BYTES:
            log.warning("%s: its face %s is no longer a PNG, JPEG, GIF, WebP or AVIF image of at most 1 MiB: "
                        "published without it", s.name, path)
            continue
        out[s.name] = (f"faces/{s.name}.{kind}", data)
    return out


def _local_inputs(cfg: Config) -> str:
    """What the outputs read besides the store and the config text: the faces' (a URL face's
    downloaded copy) and the theme's files (size and modification time), so replacing one is
    published like a config change."""
    stamps = []
    for s in cfg.sources:
        if s.face is not None:
            path = _face_file(cfg, s)
            stamps.append(_stamp(path) if path is not None else f"{s.name}: no copy of {s.face} yet")
    templates = cfg.output.templates
    if templates is not None:
        try:
            stamps.extend(_stamp(p) for p in sorted(templates.iterdir()))
        except OSError as exc:
            stamps.append(f"{templates}: {exc}")
    return "\n".join(stamps)


def _stamp(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{path}: -"
    return f"{path}: {st.st_size} {st.st_mtime_ns}"
