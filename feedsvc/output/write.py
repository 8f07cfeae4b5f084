"""Writing the outputs: atomic write-if-changed (temporary file, fsync, rename), feeds last,
files no longer produced removed."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from feedsvc.config import FORMAT_FILES
from feedsvc.errors import PublishError

log = logging.getLogger(__name__)

STYLESHEET = "feed.xsl"
# every file publish owns at the top of output.dir: one no longer produced (a format switched
# off in output.formats) is removed, so no stale feed lingers
OWN_FILES = ("atom.xml", "rss.xml", "feed.json", STYLESHEET, "index.html", "sources.opml")
FEED_FILES = tuple(FORMAT_FILES.values())


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically replace ``path`` with ``data`` unless it already holds exactly these bytes.
    Temporary file in the same directory, fsync, rename, fsync of the directory.
    Returns True when the file was written."""
    try:
        with open(path, "rb") as fh:
            if fh.read(len(data) + 1) == data:
                return False
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise PublishError(f"cannot read {path}: {exc.strerror or exc}") from exc
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        tmp = None
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        raise PublishError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return True


def is_feed_file(rel: str) -> bool:
    """Whether an output path is a feed: atom.xml, rss.xml, feed.json, or a topic feed's."""
    directory, _, name = rel.rpartition("/")
    return name in FEED_FILES and not directory.startswith("articles")


def _write_order(rel: str) -> tuple[int, str]:
    # article pages first, then the stylesheet and the pages, feeds last (in format order): a
    # reader who sees a new feed finds its pages and its stylesheet in place
    if is_feed_file(rel):     # topic feeds, then the combined feeds, each in format order
        directory, _, name = rel.rpartition("/")
        return (2 if directory else 3, f"{FEED_FILES.index(name)}{rel}")
    return (1 if rel in OWN_FILES else 0, rel)


def write_all(out_dir: Path, files: dict[str, bytes], previous: Iterable[str] = ()) -> list[str]:
    """Write what changed; remove article pages and own files no longer produced, and the feeds
    and faces of ``previous`` (the files the last publish wrote) that are gone from the config (a
    topic feed removed from ``outputs:``, a format switched off, a source's ``face:``). Returns the written (or removed) paths."""
    written = []
    for rel in sorted(files, key=_write_order):
        if write_if_changed(out_dir / rel, files[rel]):
            written.append(rel)
    stale = [out_dir / name for name in OWN_FILES if name not in files]
    stale.extend(out_dir / rel for rel in previous if is_feed_file(rel) and "/" in rel)
    stale.extend(out_dir / rel for rel in previous if rel.startswith("faces/"))   # a face no longer configured
    pages_dir = out_dir / "articles"
    if pages_dir.is_dir():
        for dirpath, _dirs, names in os.walk(pages_dir):
            stale.extend(Path(dirpath) / n for n in names if n.endswith(".html"))
    for full in stale:
        rel = full.relative_to(out_dir).as_posix()
        if rel in files or not full.is_file():
            continue
        try:
            full.unlink()
            written.append(rel)
            if full.parent != out_dir and rel.count("/") == 1 and not any(full.parent.iterdir()):
                full.parent.rmdir()          # the emptied directory of a removed topic feed
        except OSError as exc:
            log.warning("cannot remove stale file %s: %s", full, exc)
    return written
