"""A source's ``face:`` given as an http(s) URL: downloaded when the source is refreshed, kept in
``state_dir/faces/``, and copied from there by the publisher like a local face (so ``feedsvc
publish`` never touches the network, and no reader's browser asks a third party for it).

- ``refresh_face`` (the engine calls it after a source's refresh): when the copy is missing, was
  taken from another URL, or was last checked a day ago or more (``FRESH``), GET the URL with the
  feeds' own fetcher (User-Agent, timeouts, size cap, redirects; a conditional GET with the ETag
  and Last-Modified of the copy), through the host's politeness gate. The bytes must be a PNG,
  JPEG, GIF, WebP or AVIF image by their first bytes (never an SVG, an HTML error page…) of at
  most ``MAX_FACE_BYTES``: they replace ``state_dir/faces/<source>.<ext>`` atomically.
- A failure never fails the source's refresh and never removes the copy held: it is logged as a
  warning when it differs from the last one (once per state change, across processes: it is kept
  in ``<source>.json`` beside the copy), and tried again after ``RETRY`` (or at a forced refresh).
- ``cached_face``: the copy the publisher shows; none until a download succeeded.

The request carries the source's own headers, credentials, proxy and TLS settings only when the
face is on the feed's own origin (scheme, host, port), as the fetcher does for redirects.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from feedsvc.config import Source
from feedsvc.config.faces import IMAGE_TYPES, MAX_FACE_BYTES, image_type, is_url
from feedsvc.errors import FetchError
from feedsvc.sources.politeness import HostGate, HostPaused

if TYPE_CHECKING:
    from feedsvc.sources.fetch import Fetcher, RequestOptions

log = logging.getLogger(__name__)

FACES_DIR = "faces"
FRESH = timedelta(days=1)        # a copy checked this recently is not asked for again
RETRY = timedelta(hours=1)       # a failed download is tried again after this (or at a forced refresh)


@dataclass(frozen=True, slots=True)
class FaceRecord:
    """``state_dir/faces/<source>.json``: what is known of a URL face's copy."""
    url: str
    file: str | None = None          # the copy's name in state_dir/faces (None: no download yet)
    checked: str | None = None       # when the server last confirmed the copy (ISO 8601)
    tried: str | None = None         # the last attempt, successful or not
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None         # why the last attempt failed (None: it succeeded)


def faces_dir(state_dir: Path) -> Path:
    return state_dir / FACES_DIR


def _record_path(state_dir: Path, name: str) -> Path:
    return faces_dir(state_dir) / f"{name}.json"


def load_record(state_dir: Path, name: str) -> FaceRecord | None:
    """The record of ``name``'s URL face; None when there is none or it cannot be read."""
    try:
        data = json.loads(_record_path(state_dir, name).read_text(encoding="utf-8"))
        return FaceRecord(**{k: data.get(k) for k in FaceRecord.__dataclass_fields__})
    except (OSError, ValueError, TypeError, AttributeError):    # none yet, or not a record: download again
        return None


def cached_face(state_dir: Path, source: Source) -> Path | None:
    """The downloaded copy of ``source``'s URL face, when there is one of the URL the config
    names now (a copy of a previous URL is not shown)."""
    if not is_url(source.face):
        return None
    rec = load_record(state_dir, source.name)
    if rec is None or rec.url != source.face or not rec.file or Path(rec.file).name != rec.file:
        return None
    path = faces_dir(state_dir) / rec.file
    return path if path.is_file() else None


def _due(rec: FaceRecord | None, url: str, copy: Path | None, now: datetime, force: bool) -> bool:
    if rec is None or rec.url != url:
        return True
    if rec.error is not None and not force:     # failed last time: not before RETRY
        return rec.tried is None or now - datetime.fromisoformat(rec.tried) >= RETRY
    if copy is None:
        return True
    return rec.checked is None or now - datetime.fromisoformat(rec.checked) >= FRESH


def refresh_face(source: Source, state_dir: Path, fetcher: Fetcher, now: datetime,
                 gate: HostGate | None = None, force: bool = False, force_host: bool = False) -> bool:
    """Download ``source``'s URL face when its copy is missing or stale (see the module). Returns
    True when the copy changed (the outputs should be published again). Never raises."""
    if not is_url(source.face):
        return False
    assert isinstance(source.face, str)
    url = source.face
    try:
        rec = load_record(state_dir, source.name)
        copy = cached_face(state_dir, source)
        if not _due(rec, url, copy, now, force):
            return False
        return _download(source, url, state_dir, fetcher, now, rec, copy, gate, force_host)
    except Exception as exc:  # noqa: BLE001 - a picture must never fail a source's refresh
        log.warning("%s: its face %s could not be refreshed: %s", source.name, url, exc)
        log.debug("traceback", exc_info=True)
        return False


def _download(source: Source, url: str, state_dir: Path, fetcher: Fetcher, now: datetime,
              rec: FaceRecord | None, copy: Path | None, gate: HostGate | None, force_host: bool) -> bool:
    stamp = now.isoformat()
    same = rec if rec is not None and rec.url == url else None
    base = same or FaceRecord(url=url)
    etag = same.etag if same and copy else None
    modified = same.last_modified if same and copy else None
    try:
        with _slot(gate, source.name, url, force_host):
            result = fetcher.fetch(source.name, url, etag, modified, _options(source, url))
    except HostPaused:
        return False                # not now: the host asked for a pause
    except FetchError as exc:
        return _failed(source, state_dir, replace(base, tried=stamp), exc.message, rec)
    if result.not_modified:
        _save(state_dir, source.name, replace(base, checked=stamp, tried=stamp, error=None,
                                              etag=result.etag or base.etag,
                                              last_modified=result.last_modified or base.last_modified), rec)
        return False
    data = result.content
    kind = image_type(data[:16])
    if kind is None:
        return _failed(source, state_dir, replace(base, tried=stamp), _not_an_image(data, result.headers), rec)
    if len(data) > MAX_FACE_BYTES:
        return _failed(source, state_dir, replace(base, tried=stamp),
                       f"{len(data)} bytes: larger than 1 MiB (a face is shown 48 pixels wide)", rec)
    name = f"{source.name}.{kind}"
    changed = copy is None or copy.name != name or copy.read_bytes() != data
    folder = faces_dir(state_dir)
    if changed:
        _write(folder / name, data)
        for other in IMAGE_TYPES:         # the copy of another type it replaces
            if other != kind:
                with contextlib.suppress(FileNotFoundError):
                    (folder / f"{source.name}.{other}").unlink()
    _save(state_dir, source.name, FaceRecord(url=url, file=name, checked=stamp, tried=stamp,
                                             etag=result.etag, last_modified=result.last_modified), rec)
    if changed:
        log.info("%s: face downloaded from %s (%d bytes)", source.name, url, len(data))
    return changed


def _failed(source: Source, state_dir: Path, rec: FaceRecord, error: str, old: FaceRecord | None) -> bool:
    """Remember the failure (the copy held stays); a warning when it is news."""
    _save(state_dir, source.name, replace(rec, error=error), old)
    return False


def _save(state_dir: Path, name: str, rec: FaceRecord, old: FaceRecord | None) -> None:
    """Write the record, and say what changed: a new failure (warning), a recovery (info)."""
    before = old.error if old is not None and old.url == rec.url else None
    if rec.error is not None and rec.error != before:
        held = " (the copy downloaded before is kept)" if rec.file else ": published without a face"
        log.warning("%s: its face %s could not be downloaded: %s%s", name, rec.url, rec.error, held)
    elif rec.error is not None:
        log.debug("%s: its face %s still could not be downloaded: %s", name, rec.url, rec.error)
    elif before is not None:
        log.info("%s: its face %s downloads again", name, rec.url)
    _write(_record_path(state_dir, name), json.dumps(asdict(rec), indent=1).encode("utf-8"))


def _not_an_image(data: bytes, headers: dict[str, str]) -> str:
    ctype = headers.get("content-type", "").split(";")[0].strip().lower() or "no Content-Type"
    head = data[:512].lstrip().lower()
    if "svg" in ctype or head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "an SVG image, which is not accepted (served from the planet's origin it can carry scripts)"
    return f"not a PNG, JPEG, GIF, WebP or AVIF image (the server sent {ctype})"


def _options(source: Source, url: str) -> RequestOptions | None:
    """The source's own request settings, on the feed's own origin only."""
    from feedsvc.sources.fetch import RequestOptions

    if source.url is None or _origin(source.url) != _origin(url):
        return None
    return RequestOptions(headers=source.headers, auth=source.auth, proxy=source.proxy, verify=source.verify)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


@contextlib.contextmanager
def _slot(gate: HostGate | None, name: str, url: str, force_host: bool) -> Iterator[None]:
    if gate is None:
        yield
        return
    with gate.slot(name, url, force_host=force_host):
        yield


def _write(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically (a temporary file in its directory, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
