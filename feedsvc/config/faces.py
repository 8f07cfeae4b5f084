"""A source's ``face:``: a small image shown beside its posts and in the sources list of index.html.

A face is a local file (relative to the config file), checked when the config is read: it exists,
it is a PNG, JPEG, GIF, WebP or AVIF image by its first bytes (not by its name), and it is at most
``MAX_FACE_BYTES``. Publishing copies it into ``output.dir/faces/<source>.<ext>``, so a reader's
browser only ever asks the planet's own server for it.

Or it is an http(s) URL (kept as a ``str``; a local face is a ``Path``): refreshing the source
downloads it into ``state_dir/faces/`` (``sources/faces.py``, with the same checks on the bytes),
and publishing copies that copy, so ``feedsvc publish`` still never touches the network and no
reader's browser calls a third party. An SVG is refused: served from the planet's own origin, it
can carry scripts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from feedsvc.config.values import resolve_path, typename

MAX_FACE_BYTES = 1024 * 1024
IMAGE_TYPES = {"png": "PNG", "jpg": "JPEG", "gif": "GIF", "webp": "WebP", "avif": "AVIF"}


def image_type(head: bytes) -> str | None:
    """The file extension of an image by its first 16 bytes: png, jpg, gif, webp, avif; else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "avif"
    return None


def is_url(face: Path | str | None) -> bool:
    """Whether a source's ``face`` (as the config holds it) is a URL, downloaded at refresh."""
    return isinstance(face, str)


def check_face(value: str, base: Path) -> Path | str:
    """``face: faces/alice.png`` → the file's path; ``face: https://…/me.png`` → the URL. Raises
    ValueError with the config error's text."""
    value = value.strip()
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(f"{value!r} is not a URL with a host")
        if parts.path.lower().endswith(".svg"):
            raise ValueError(f"{value!r}: SVG is not accepted (served from the planet's origin it can carry "
                             "scripts); use a PNG, JPEG, GIF, WebP or AVIF image")
        return value
    if "://" in value or scheme in ("data", "file"):
        raise ValueError(f"{value!r}: a face is a local image file or an http(s) URL (downloaded when the "
                         "source is refreshed, copied into output.dir at publish)")
    path = resolve_path(base, value)
    if path.suffix.lower() == ".svg":
        raise ValueError(f"{value!r}: SVG is not accepted (served from the planet's origin it can carry "
                         "scripts); use a PNG, JPEG, GIF, WebP or AVIF image")
    try:
        with open(path, "rb") as fh:
            head = fh.read(MAX_FACE_BYTES + 1)
    except FileNotFoundError:
        raise ValueError(f"image file {path} not found") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a directory, not an image file") from None
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if image_type(head[:16]) is None:
        raise ValueError(f"{path} is not a PNG, JPEG, GIF, WebP or AVIF image")
    if len(head) > MAX_FACE_BYTES:
        raise ValueError(f"{path} is larger than 1 MiB: a face is shown 48 pixels wide, make it smaller")
    return path


def read_face(r: Any, m: dict[str, Any], s: Any, path: str, default: Any) -> Any:
    """The loader's reader for ``kind="face"``."""
    raw = m.get(s.leaf)
    if raw is None:
        return default
    if not isinstance(raw, str) or not raw.strip():
        raise r.doc.error(path, f"must be the path or http(s) URL of an image, not {typename(raw)}")
    try:
        return check_face(raw, r.base)
    except ValueError as exc:
        raise r.doc.error(path, str(exc)) from None
