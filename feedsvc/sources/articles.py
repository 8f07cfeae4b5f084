"""Local article files (.txt, .md, .html) → ``RawEntry``.

Two halves: ``scan`` walks a directory (I/O: names, sizes, mtimes, symlink checks) and
``parse_article`` turns one file's bytes into a ``RawEntry`` (pure). The refresh stage reads only
the files whose size or mtime changed since the last scan.

Plain-text format (``.txt``)::

    Title on the first non-blank line

    Body paragraphs, separated by blank lines.

    Author: Jane Doe
    Date: 2026-11-22T16:00:00+01:00
    Tags: local, gardening

A line that is only ``Key: value`` with a known key (Author, Date, Tags, Link, Id, Summary), the
first of its kind, is metadata wherever it stands, and is removed from the body; every other line
is body text and is kept (a line right after ``Author:`` included).
"""

from __future__ import annotations

import html
import os
import re
import stat
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from feedsvc.errors import ArticleSkipped as ArticleSkipped  # re-exported: read_file and parse_article raise it
from feedsvc.model import Person, RawEntry

ARTICLE_SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown",
                    ".html": "html", ".htm": "html"}
META_KEYS = {"author", "date", "tags", "link", "id", "summary"}
_META_LINE = re.compile(r"^\s*([A-Za-z]+)\s*:\s*(.*?)\s*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0 and C1, not \t \n \r
_BACKUP = re.compile(r"(~|\.swp|\.swo|\.bak|\.orig|\.tmp|\.part)$|^#.*#$", re.I)


@dataclass(frozen=True, slots=True)
class ArticleFile:
    relpath: str                 # POSIX path relative to the source directory
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class ScanResult:
    files: tuple[ArticleFile, ...]
    problems: tuple[str, ...]    # files skipped while scanning (unreadable, symlink outside, ...)


def scan(root: Path) -> ScanResult:
    """List the article files under ``root`` (recursively), skipping hidden files and
    directories, editor backups and symlinks that lead outside ``root``. Raises OSError when
    ``root`` itself is unusable.

    One ``os.scandir`` per directory: the entries carry their type, so an unchanged rescan of
    10 000 files costs one stat each (for size and mtime) and no path arithmetic."""
    real_root = os.path.realpath(root)
    if not os.path.isdir(real_root):
        raise NotADirectoryError(f"{root} is not a directory")
    files: list[ArticleFile] = []
    problems: list[str] = []
    _scan_dir(real_root, "", real_root, files, problems, follow=True)
    files.sort(key=lambda f: f.relpath)
    return ScanResult(tuple(files), tuple(problems))


def _scan_dir(path: str, rel: str, real_root: str, files: list[ArticleFile], problems: list[str],
              follow: bool) -> None:
    """Scan one directory. ``follow``: walk symlinked directories that stay inside the root (at
    the top level; inside such a directory, symlinked directories are not followed again)."""
    try:
        with os.scandir(path) as it:
            entries = list(it)
    except OSError as exc:
        problems.append(f"{exc.filename}: {exc.strerror or exc}")
        return
    for e in entries:
        name = e.name
        shown = rel + name
        try:
            is_link = e.is_symlink()
            is_dir = e.is_dir()          # follows a symlink
        except OSError:
            is_link, is_dir = False, False
        if is_dir:
            if name.startswith("."):
                continue
            if not is_link:
                _scan_dir(e.path, shown + "/", real_root, files, problems, follow)
                continue
            target = os.path.realpath(e.path)
            if not _inside(target, real_root):
                problems.append(f"{shown}: symlink leads outside the source directory, not followed")
            elif follow:
                _scan_dir(target, shown + "/", real_root, files, problems, follow=False)
            continue
        if name.startswith(".") or _BACKUP.search(name):
            continue
        if os.path.splitext(name)[1].lower() not in ARTICLE_SUFFIXES:
            continue
        if is_link and not _inside(os.path.realpath(e.path), real_root):
            problems.append(f"{shown}: symlink leads outside the source directory, not followed")
            continue
        try:
            st = e.stat()                # follows a symlink
        except OSError as exc:
            problems.append(f"{shown}: {exc.strerror or exc}")
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        files.append(ArticleFile(shown, st.st_size, st.st_mtime_ns))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def read_file(root: Path, relpath: str) -> bytes:
    """Read one article file, refusing paths that resolve outside ``root``."""
    real_root = os.path.realpath(root)
    full = os.path.realpath(os.path.join(real_root, relpath))
    if not _inside(full, real_root):
        raise PermissionError(f"{relpath}: resolves outside the source directory")
    with open(full, "rb") as fh:
        return fh.read()


# ---- decoding ---------------------------------------------------------------------------------

def decode_text(data: bytes) -> tuple[str, str | None]:
    """Bytes → text. UTF-8 (BOM optional) first, else cp1252/latin-1 with a warning.
    Raises ArticleSkipped for empty or binary files. Stray control characters are dropped."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise ArticleSkipped("empty file")
    if b"\x00" in data:
        raise ArticleSkipped("binary file (NUL bytes)")
    warning = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
            warning = "not UTF-8; decoded as cp1252"
        except UnicodeDecodeError:
            text = data.decode("latin-1")
            warning = "not UTF-8; decoded as latin-1"
    controls = len(_CONTROL.findall(text))
    if controls > max(16, len(text) // 10):
        raise ArticleSkipped("binary file (mostly control characters)")
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ArticleSkipped("empty file")
    return text, warning


# ---- dates ------------------------------------------------------------------------------------

def parse_date(value: Any) -> datetime | None:
    """An article date (ISO 8601, RFC 822, or a YAML date) → aware UTC datetime, or None."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, time(0, 0))
    elif isinstance(value, str) and value.strip():
        s = value.strip()
        try:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
        except ValueError:
            try:
                dt = parsedate_to_datetime(s)
            except (TypeError, ValueError, IndexError):
                return None
    else:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


# ---- parsing ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ParsedArticle:
    entry: RawEntry
    warnings: tuple[str, ...]


def page_path(source: str, relpath: str) -> str:
    """Where an article's HTML page lives under output.dir (POSIX, URL-safe)."""
    stem = str(PurePosixPath(relpath).with_suffix(""))
    safe = "/".join(re.sub(r"[^A-Za-z0-9._-]+", "-", part).strip("-") or "_"
                    for part in stem.split("/") if part not in ("", ".", ".."))
    return f"articles/{source}/{safe}.html"


def parse_article(source: str, relpath: str, data: bytes) -> ParsedArticle:
    """One article file's bytes → RawEntry. Raises ArticleSkipped for files that are not articles."""
    text, warning = decode_text(data)
    kind = ARTICLE_SUFFIXES.get(PurePosixPath(relpath).suffix.lower(), "text")
    warnings = [warning] if warning else []
    if kind == "markdown":
        meta, body_html, title = _markdown(text, warnings)
    elif kind == "html":
        meta, body_html, title = _html(text)
    else:
        meta, body_html, title = _plain(text, warnings)
    if not title:
        title = PurePosixPath(relpath).stem.replace("-", " ").replace("_", " ")
    published = None
    if meta.get("date") not in (None, ""):
        published = parse_date(meta["date"])
        if published is None:
            warnings.append(f"unreadable date {meta['date']!r}; using the time first seen")
    authors = tuple(Person(name=a) for a in _as_list(meta.get("author")) if a)
    tags = tuple(t for t in _as_list(meta.get("tags")) if t)
    ident = str(meta["id"]).strip() if meta.get("id") else None
    entry = RawEntry(
        guid=ident,
        guid_is_permalink=False,
        link=str(meta["link"]).strip() if meta.get("link") else None,
        title=title,
        title_is_html=False,
        authors=authors,
        published=published,
        updated=None,
        summary=html.escape(str(meta["summary"])) if meta.get("summary") else None,
        content=body_html,
        categories=tags,
        enclosures=(),
        base=None,
        page=page_path(source, relpath),
        local_path=relpath,
    )
    return ParsedArticle(entry, tuple(warnings))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if v is not None]
    return [v.strip() for v in str(value).split(",")]


def _plain(text: str, warnings: list[str] | None = None) -> tuple[dict[str, str], str, str]:
    """Plain text → (metadata, body HTML, title). The first non-blank line is the title. A line
    standing on its own as ``Key: value`` with a known key (the first of its kind) is metadata
    wherever it is; every other line is body text and is kept, paragraphs split on blank lines."""
    lines = text.split("\n")
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    title = lines[i].strip() if i < len(lines) else ""
    meta: dict[str, str] = {}
    paragraphs: list[list[str]] = []
    current: list[str] = []
    for line in lines[i + 1:]:
        m = _META_LINE.match(line)
        if m and _is_meta(m.group(1).lower(), m.group(2), meta, warnings):
            meta[m.group(1).lower()] = m.group(2)
            continue
        if line.strip():
            current.append(line.rstrip())
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    body = ["<p>" + "\n".join(html.escape(line.strip(), quote=False) for line in para) + "</p>"
            for para in paragraphs]
    return meta, "\n".join(body), title


def _is_meta(key: str, value: str, meta: dict[str, str], warnings: list[str] | None) -> bool:
    if key not in META_KEYS or key in meta or not value:
        return False
    if key == "date" and parse_date(value) is None:
        # "Date: to be announced" in the prose: keep the line rather than lose it
        if warnings is not None:
            warnings.append(f"unreadable date {value!r} kept as body text")
        return False
    return True


def _front_matter(text: str, warnings: list[str]) -> tuple[dict[str, Any], str]:
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---", 4)
    if end < 0:
        return {}, text
    after = text.find("\n", end + 4)
    block, body = text[4:end], (text[after + 1:] if after >= 0 else "")
    try:
        data = yaml.safe_load(block) or {}
    except yaml.YAMLError as exc:
        warnings.append(f"front matter is not valid YAML ({getattr(exc, 'problem', exc)}); kept as text")
        return {}, text
    if not isinstance(data, dict):
        warnings.append("front matter is not a mapping; kept as text")
        return {}, text
    return {str(k).lower(): v for k, v in data.items()}, body


def _markdown(text: str, warnings: list[str]) -> tuple[dict[str, Any], str, str]:
    from markdown_it import MarkdownIt

    meta, body = _front_matter(text, warnings)
    title = str(meta.get("title") or "").strip()
    m = re.match(r"\s*#\s+(.+?)\s*#*\s*(\n|$)", body)
    if m and (not title or " ".join(m.group(1).split()).casefold() == " ".join(title.split()).casefold()):
        title = title or m.group(1)        # the heading is the title: the page shows it once, as its h1
        body = body[m.end():]
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    html = md.render(body).strip()
    if title and "<h1" in html:            # the page's one h1 is the title: the body's headings move down
        html = re.sub(r"<(/?)h([1-5])\b", lambda h: f"<{h.group(1)}h{int(h.group(2)) + 1}", html)
    return meta, html, title


def _html(text: str) -> tuple[dict[str, Any], str, str]:
    from lxml import html as lhtml

    try:
        doc = lhtml.document_fromstring(text)
    except Exception:  # lxml raises a handful of types on garbage; treat as plain text
        return {}, "<p>" + html.escape(text.strip()) + "</p>", ""
    title_el = doc.find(".//title")
    h1 = doc.find(".//h1")
    title = (title_el.text_content() if title_el is not None else "") or \
            (h1.text_content() if h1 is not None else "")
    meta: dict[str, Any] = {}
    for m in doc.iter("meta"):
        name = (m.get("name") or "").lower()
        if name in ("author", "date", "keywords", "description") and m.get("content"):
            meta[{"keywords": "tags", "description": "summary"}.get(name, name)] = m.get("content")
    body = doc.find(".//body")
    if body is None:
        body = doc
    if h1 is not None and title_el is None and h1.getparent() is not None:
        h1.getparent().remove(h1)
    inner = (body.text or "") + "".join(lhtml.tostring(c, encoding="unicode") for c in body)
    return meta, inner.strip(), " ".join(title.split())

