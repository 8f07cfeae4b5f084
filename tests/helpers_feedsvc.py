"""Helpers shared by the issue-2 tests: running the CLI from the source tree, reading the published
feeds back, building raw entries and items, and a fake of our own ``Fetcher`` interface.

Nothing here fakes a library: outputs are parsed back with feedparser and lxml, the store is real
SQLite, and the only fake is of feedsvc's own ``Fetcher`` protocol (for unit tests).
"""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import feedparser
from lxml import etree

from feedsvc.items.normalise import SourceContext, normalise
from feedsvc.model import Enclosure, FetchResult, Origin, Person, RawEntry, StoredItem

from conftest import REPO, run_cli

ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/elements/1.1/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
NS = {"a": ATOM, "dc": DC, "content": CONTENT}
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m feedsvc ARGS`` in a subprocess that imports feedsvc from this source tree, so the
    suite runs from a checkout whether or not the package is installed."""
    extra = dict(env or {})
    extra["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return run_cli(*args, cwd=cwd, env=extra)


# ---- reading outputs back ----------------------------------------------------------------------

@dataclass
class Published:
    """atom.xml and rss.xml of an output directory, parsed back as a reader would."""
    atom_bytes: bytes
    rss_bytes: bytes
    atom: Any                    # feedparser result
    rss: Any
    atom_xml: etree._Element     # lxml root (well-formedness is checked on load)
    rss_xml: etree._Element

    @property
    def atom_entries(self) -> list[etree._Element]:
        return self.atom_xml.findall(f"{{{ATOM}}}entry")

    @property
    def rss_items(self) -> list[etree._Element]:
        return self.rss_xml.findall("channel/item")

    def atom_entry(self, title: str) -> etree._Element:
        found = [e for e in self.atom_entries if e.findtext(f"{{{ATOM}}}title") == title]
        assert len(found) == 1, f"{len(found)} Atom entries titled {title!r}: {self.titles()}"
        return found[0]

    def rss_item(self, title: str) -> etree._Element:
        found = [i for i in self.rss_items if i.findtext("title") == title]
        assert len(found) == 1, f"{len(found)} RSS items titled {title!r}"
        return found[0]

    def titles(self) -> list[str]:
        return [e.findtext(f"{{{ATOM}}}title") or "" for e in self.atom_entries]

    def rss_titles(self) -> list[str]:
        return [i.findtext("title") or "" for i in self.rss_items]


def parse_xml(data: bytes) -> etree._Element:
    """Strict XML parse (raises on anything not well-formed)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=False)
    return etree.fromstring(data, parser)


def published(public: Path) -> Published:
    a = (public / "atom.xml").read_bytes()
    r = (public / "rss.xml").read_bytes()
    pa = feedparser.parse(a)
    pr = feedparser.parse(r)
    assert not pa.bozo, pa.get("bozo_exception")
    assert not pr.bozo, pr.get("bozo_exception")
    assert pa.version == "atom10" and pr.version == "rss20"
    return Published(a, r, pa, pr, parse_xml(a), parse_xml(r))


def from_bytes(atom: bytes, rss_: bytes) -> Published:
    pa, pr = feedparser.parse(atom), feedparser.parse(rss_)
    assert not pa.bozo, pa.get("bozo_exception")
    assert not pr.bozo, pr.get("bozo_exception")
    return Published(atom, rss_, pa, pr, parse_xml(atom), parse_xml(rss_))


def mtimes(public: Path) -> dict[str, int]:
    return {n: (public / n).stat().st_mtime_ns for n in ("atom.xml", "rss.xml")}


# ---- building inputs ---------------------------------------------------------------------------

def raw_entry(**kw: Any) -> RawEntry:
    """A RawEntry with every field defaulted; override what the test is about."""
    base: dict[str, Any] = dict(guid=None, guid_is_permalink=False, link=None, title="A title",
                                title_is_html=False, authors=(), published=None, updated=None,
                                summary=None, content=None, categories=(), enclosures=(),
                                base="https://example.org/feed.xml")
    base.update(kw)
    return RawEntry(**base)


def ctx(name: str = "src", base_url: str = "https://example.org/feed.xml",
        site_url: str = "http://127.0.0.1:8080/", title: str = "Example feed") -> SourceContext:
    return SourceContext(name=name, origin=Origin(title=title, link=base_url, id="https://example.org/",
                                                  home="https://example.org/"),
                         base_url=base_url, site_url=site_url)


def item(source: str = "src", now: datetime = T0, **kw: Any):  # -> Item
    return normalise(raw_entry(**kw), ctx(source), now)


def stored(it, date: datetime | None = None, updated: datetime | None = None,
           first_seen: datetime = T0, also_in: tuple[str, ...] = ()) -> StoredItem:
    d = date or it.published or first_seen
    return StoredItem(item=it, first_seen=first_seen, date=d, updated=updated or it.updated or d,
                      also_in=also_in)


def atom_feed(entries: list[dict[str, Any]], title: str = "Atom Feed", feed_id: str = "urn:x-test:feed",
              link: str = "https://atom.example/") -> str:
    """A small Atom 1.0 document from dicts with id/title/link/updated/published/summary/content."""
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
             f"<title>{title}</title><id>{feed_id}</id><updated>2024-01-01T00:00:00Z</updated>",
             f'<link href="{link}"/>']
    for e in entries:
        parts.append("<entry>")
        if e.get("id"):
            parts.append(f"<id>{e['id']}</id>")
        parts.append(f"<title>{e.get('title', 'untitled')}</title>")
        if e.get("link"):
            parts.append(f'<link rel="alternate" href="{e["link"]}"/>')
        for k in ("updated", "published"):
            if e.get(k):
                parts.append(f"<{k}>{e[k]}</{k}>")
        if e.get("author"):
            parts.append(f"<author><name>{e['author']}</name></author>")
        if e.get("summary"):
            parts.append(f'<summary type="html">{e["summary"]}</summary>')
        if e.get("content"):
            parts.append(f'<content type="html">{e["content"]}</content>')
        for enc in e.get("enclosures", []):
            parts.append(f'<link rel="enclosure" href="{enc[0]}" type="{enc[1]}" length="{enc[2]}"/>')
        parts.append("</entry>")
    parts.append("</feed>")
    return "".join(parts)


# ---- fakes of our own interfaces ---------------------------------------------------------------

class Clock:
    """An injectable clock: ``now()`` returns the current fake time; ``advance`` moves it."""

    def __init__(self, start: datetime = T0) -> None:
        self.t = start

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t = self.t + timedelta(**kw)


@dataclass
class FakeFetcher:
    """Implements feedsvc.fetch.Fetcher from a dict url → bytes (or an exception to raise).
    Sends a 304 when the caller's ETag matches the body's, like a real server."""
    bodies: dict[str, bytes | BaseException] = field(default_factory=dict)
    calls: list[tuple[str, str | None]] = field(default_factory=list)
    gates: dict[str, threading.Event] = field(default_factory=dict)
    closed: bool = False

    def fetch(self, source: str, url: str, etag: str | None = None,
              last_modified: str | None = None, options: Any = None) -> FetchResult:
        self.calls.append((url, etag))
        gate = self.gates.get(url)
        if gate is not None:
            assert gate.wait(30), f"gate for {url} never opened"
        body = self.bodies[url]
        if isinstance(body, BaseException):
            raise body
        tag = f'"{abs(hash(body)):x}"'
        if etag == tag:
            return FetchResult(url=url, not_modified=True, status=304, etag=tag)
        return FetchResult(url=url, not_modified=False, content=body, status=200, etag=tag,
                           headers={"content-type": "application/xml"})

    def release_idle(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


__all__ = ["ATOM", "DC", "CONTENT", "NS", "T0", "cli", "Published", "published", "from_bytes",
           "parse_xml", "mtimes", "raw_entry", "ctx", "item", "stored", "atom_feed", "Clock",
           "FakeFetcher", "Enclosure", "Person"]
