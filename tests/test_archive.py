"""Archived feeds (RFC 5005 section 4, issue 19), end to end: real feeds on 127.0.0.1, the CLI as a
subprocess, the published files parsed back.

Following ``prev-archive`` from the subscription document visits every published item exactly
once; every document passes the RFC 4287 schema with RFC 5005's elements and the W3C rules
feedcheck.py checks; a publish with nothing new rewrites no archive; an item edited in a
completed month rewrites that month's document only; real readers read the documents."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import feedparser
import lxml.html
import pytest
from lxml import etree

from conftest import need, rss, write_config
from feedcheck import (
    ATOM,
    FH_SCHEMA,
    archive_links,
    check_archive,
    check_atom,
    check_json,
    check_rss,
    parse_xml,
    relaxng_errors,
    stylesheet_href,
)
from helpers_feedsvc import cli

SITE = "http://127.0.0.1:8080/"
NEWEST = datetime(2024, 5, 28, 9, 0, tzinfo=timezone.utc)


def items(prefix: str, n: int, every_days: float, newest: datetime = NEWEST, edit: dict | None = None) -> list[dict]:
    out = []
    for i in range(n):
        d = newest - timedelta(days=every_days * i)
        link = f"https://{prefix}.example/posts/{i}"
        it = {"title": f"{prefix} post {i}", "link": link, "guid": link, "permalink": True,
              "date": format_datetime(d), "description": f"<p>{prefix} {i}: what happened on {d:%d %B}.</p>"}
        it.update((edit or {}).get(i, {}))
        out.append(it)
    return out


def planet(tmp: Path, server, archive: str = "monthly", **overrides) -> Path:
    """alpha: 40 posts, one every 3 days (February to May 2024); beta: 12, one a week, whose
    newest is a copy of alpha's newest (the same link): stored once."""
    server.add("/alpha.xml", rss(items("alpha", 40, 3), title="Alpha"))
    beta = items("beta", 12, 7, NEWEST - timedelta(hours=5))
    beta[0] = {**items("alpha", 1, 3)[0], "guid": "beta-copy", "permalink": False}
    server.add("/beta.xml", rss(beta, title="Beta"))
    cfg = {"output": {"max_items": 10, "archive": archive},
           "outputs": [{"path": "beta-only", "title": "Beta only", "sources": ["beta"]}]}
    cfg.update(overrides)
    return write_config(tmp, [{"name": "alpha", "url": server.url("/alpha.xml")},
                              {"name": "beta", "url": server.url("/beta.xml")}], **cfg)


def refresh(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    r = cli("refresh", *args, cwd=tmp)
    assert r.returncode == 0 and "Traceback" not in r.stderr, (r.stdout, r.stderr)
    return r


def chain(public: Path, start: str) -> list[tuple[str, bytes]]:
    """The archive documents reached from the subscription document ``start`` by prev-archive,
    newest first: (URL, bytes)."""
    docs: list[tuple[str, bytes]] = []
    url = archive_links((public / start).read_bytes()).get("prev-archive", [None])[0]
    while url is not None:
        assert url.startswith(SITE) and url not in [u for u, _ in docs], url
        data = (public / url[len(SITE):]).read_bytes()
        docs.append((url, data))
        url = archive_links(data).get("prev-archive", [None])[0]
    return docs


def entries(data: bytes) -> list:
    return parse_xml(data).findall(f"{{{ATOM}}}entry")


def ids(data: bytes) -> list[str]:
    return [e.findtext(f"{{{ATOM}}}id") for e in entries(data)]


def published_ids(tmp: Path, source: str | None = None) -> set[str]:
    """What ``feedsvc items list`` says is stored and published."""
    r = cli("items", "list", "--json", *(["--source", source] if source else []), cwd=tmp)
    assert r.returncode == 0, r.stderr
    return {x["id"] for x in json.loads(r.stdout) if not any(n.startswith("not published") for n in x["notes"])}


def archive_mtimes(public: Path) -> dict[str, int]:
    return {p.relative_to(public).as_posix(): p.stat().st_mtime_ns for p in (public / "archive").rglob("*.xml")}


def test_the_chain_from_the_subscription_document_reaches_every_item_once(tmp_path, feed_server):
    planet(tmp_path, feed_server)
    r = refresh(tmp_path)
    # the summary counts the archive documents (4 months, and the topic feed's 4) instead of listing them
    assert "8 archive documents" in r.stdout and "archive/2024-05.xml" not in r.stdout, r.stdout
    public = tmp_path / "public"
    docs = chain(public, "atom.xml")
    assert [u[len(SITE):] for u, _ in docs] == ["archive/2024-05.xml", "archive/2024-04.xml",
                                                 "archive/2024-03.xml", "archive/2024-02.xml"]
    seen = [i for _, data in docs for i in ids(data)]
    assert len(seen) == len(set(seen))                       # no item in two archives
    stored = published_ids(tmp_path)
    assert len(stored) == 40 + 11 and set(seen) == stored    # the copy of alpha's newest is one story
    front = ids((public / "atom.xml").read_bytes())
    assert len(front) == 10 and set(front) <= set(ids(docs[0][1]))   # the current month's, in both
    # each document, as RFC 5005 and the checks say; links both ways; entries in the front page's order
    for n, (url, data) in enumerate(docs):
        assert relaxng_errors(data, FH_SCHEMA) == [], url
        assert check_archive(data, url, SITE + "atom.xml") == [], url
        assert stylesheet_href(data) == "../feed.xsl"
        links = archive_links(data)
        assert links.get("next-archive") == ([docs[n - 1][0]] if n else None)
        assert links.get("prev-archive") == ([docs[n + 1][0]] if n + 1 < len(docs) else None)
        dates = [e.findtext(f"{{{ATOM}}}published") for e in entries(data)]
        assert dates == sorted(dates, reverse=True) and dates
        month = url.rsplit("/", 1)[1][:7]
        assert {d[:7] for d in dates} == {month}
    # the subscription documents: valid, no fh:archive, prev-archive to the newest archive
    atom, rss_ = (public / "atom.xml").read_bytes(), (public / "rss.xml").read_bytes()
    assert relaxng_errors(atom, FH_SCHEMA) == [] and check_atom(atom, SITE + "atom.xml") == []
    assert parse_xml(atom).find("{http://purl.org/syndication/history/1.0}archive") is None
    assert check_rss(rss_, SITE + "rss.xml") == []
    assert archive_links(rss_)["prev-archive"] == [docs[0][0]]
    js = (public / "feed.json").read_bytes()
    assert check_json(js, SITE + "feed.json") == []
    assert json.loads(js)["_feedsvc"]["prev_archive"] == docs[0][0]
    # an entry reads the same in the subscription document and in its archive
    newest = entries(atom)[0]
    (twin,) = [e for e in entries(docs[0][1]) if e.findtext(f"{{{ATOM}}}id") == newest.findtext(f"{{{ATOM}}}id")]
    for tag in ("title", "published", "summary", "author/{%s}name" % ATOM):
        assert twin.findtext(f"{{{ATOM}}}{tag}") == newest.findtext(f"{{{ATOM}}}{tag}")
    # index.html lists the archive, newest first, linking to those documents
    page = lxml.html.fromstring((public / "index.html").read_bytes())
    (nav,) = page.xpath('//nav[@aria-label="Archive"]')
    assert [a.get("href") for a in nav.iter("a")] == [u[len(SITE):] for u, _ in docs]
    assert [a.text for a in nav.iter("a")] == ["May 2024", "April 2024", "March 2024", "February 2024"]
    # a person opening an archive document gets a page saying what it is, with the way around
    xslt = etree.XSLT(etree.parse(str(public / "feed.xsl")))
    shown = lxml.html.fromstring(str(xslt(etree.parse(str(public / "archive/2024-04.xml")))))
    assert "This is an archive" in shown.text_content() and SITE + "atom.xml" in shown.text_content()
    nav_links = {a.text: a.get("href") for a in shown.iter("a") if a.text in ("Newer articles", "Older articles")}
    assert nav_links == {"Newer articles": SITE + "archive/2024-05.xml", "Older articles": SITE + "archive/2024-03.xml"}


def test_a_topic_feed_has_its_own_archive(tmp_path, feed_server):
    planet(tmp_path, feed_server)
    refresh(tmp_path)
    public = tmp_path / "public"
    docs = chain(public, "beta-only/atom.xml")
    assert docs and all(u.startswith(SITE + "archive/beta-only/") for u, _ in docs)
    for url, data in docs:
        assert check_archive(data, url, SITE + "beta-only/atom.xml") == [], url
        assert stylesheet_href(data) == "../../feed.xsl"
    seen = [i for _, data in docs for i in ids(data)]
    assert len(seen) == len(set(seen)) == 12                  # beta's 11 and the story it also carried
    assert "https://alpha.example/posts/0" in seen


def test_a_publish_with_nothing_new_rewrites_no_archive_and_an_edit_rewrites_its_month_only(tmp_path, feed_server):
    planet(tmp_path, feed_server)
    refresh(tmp_path)
    public = tmp_path / "public"
    before = archive_mtimes(public)
    assert len(before) == 8                                   # 4 months, 2 feeds
    refresh(tmp_path)                                         # every source answers 304
    assert cli("publish", cwd=tmp_path).returncode == 0       # a forced render
    assert archive_mtimes(public) == before
    # alpha edits a post of February (a completed month): that month's document only
    feed_server.add("/alpha.xml", rss(items("alpha", 40, 3, edit={30: {"description": "<p>Corrected.</p>"}}),
                                      title="Alpha"))
    assert "1 updated" in refresh(tmp_path).stdout
    after = archive_mtimes(public)
    assert {p for p in after if after[p] != before[p]} == {"archive/2024-02.xml"}
    (feb,) = [e for e in entries((public / "archive/2024-02.xml").read_bytes())
              if e.findtext(f"{{{ATOM}}}title") == "alpha post 30"]
    assert "Corrected." in feb.findtext(f"{{{ATOM}}}summary")
    # a new post this month: the current month's document (and the front page), nothing older
    newer = [{"title": "alpha news", "link": "https://alpha.example/news", "guid": "https://alpha.example/news",
              "date": format_datetime(NEWEST + timedelta(hours=1)), "description": "<p>New.</p>"}]
    feed_server.add("/alpha.xml", rss(newer + items("alpha", 40, 3, edit={30: {"description": "<p>Corrected.</p>"}}),
                                      title="Alpha"))
    refresh(tmp_path)
    latest = archive_mtimes(public)
    assert {p for p in latest if latest[p] != after[p]} == {"archive/2024-05.xml"}
    assert ids((public / "archive/2024-05.xml").read_bytes())[0] == "https://alpha.example/news"


def test_publish_archives_rebuilds_them_after_a_curation_rule_changed(tmp_path, feed_server):
    planet(tmp_path, feed_server)
    refresh(tmp_path)
    public = tmp_path / "public"
    planet(tmp_path, feed_server, filters={"drop": [{"field": "title", "pattern": "^alpha post 35$"}]})
    assert cli("publish", cwd=tmp_path).returncode == 0
    old = ids((public / "archive/2024-02.xml").read_bytes())
    assert "https://alpha.example/posts/35" in old            # a completed archive is written once
    r = cli("publish", "--archives", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "archive/2024-02.xml" in r.stdout
    assert ids((public / "archive/2024-02.xml").read_bytes()) == [i for i in old if not i.endswith("/35")]


def test_weekly_archives_and_switching_archives_off(tmp_path, feed_server):
    planet(tmp_path, feed_server, archive="weekly")
    refresh(tmp_path)
    public = tmp_path / "public"
    docs = chain(public, "atom.xml")
    assert docs[0][0] == SITE + "archive/2024-W22.xml" and len(docs) >= 16
    assert len({i for _, d in docs for i in ids(d)}) == 51
    planet(tmp_path, feed_server, archive="off")
    r = cli("publish", cwd=tmp_path)
    assert r.returncode == 0 and "archive/2024-W22.xml" in r.stdout
    assert not (public / "archive").exists()
    assert "prev-archive" not in archive_links((public / "atom.xml").read_bytes())
    assert not lxml.html.fromstring((public / "index.html").read_bytes()).xpath('//nav[@aria-label="Archive"]')


def test_the_config_names_the_key_and_line_of_a_wrong_archive_period(tmp_path):
    cfg = write_config(tmp_path, [{"name": "a", "url": "https://a.example/feed.xml"}])
    text = cfg.read_text().replace("max_items: 50", "max_items: 50\n  archive: yearly")
    cfg.write_text(text)
    r = cli("check", cwd=tmp_path)
    line = text.splitlines().index("  archive: yearly") + 1
    assert r.returncode == 2
    assert f"config.yaml:{line}: output.archive: 'yearly' is not a valid archive period" in r.stderr
    cfg.write_text(text.replace("archive: yearly", "archive: off"))      # YAML's `off` is false: still off
    assert cli("check", cwd=tmp_path).returncode == 0


# ---- real readers -------------------------------------------------------------------------------

@pytest.fixture
def served(tmp_path, feed_server):
    from feedsvc.app.serve import StaticServer

    server = StaticServer(tmp_path / "public", "127.0.0.1", 0)
    server.start()
    try:
        planet(tmp_path, feed_server, site={"title": "Test Planet", "url": server.url})
        refresh(tmp_path)
        yield tmp_path, server.url
    finally:
        server.stop()


def test_feedparser_reads_the_archive_documents(served):
    import requests

    tmp, url = served
    public = tmp / "public"
    names = sorted(p.name for p in (public / "archive").glob("*.xml"))
    assert names == ["2024-02.xml", "2024-03.xml", "2024-04.xml", "2024-05.xml"]
    for name in names:
        resp = requests.get(url + "archive/" + name, timeout=10)
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/atom+xml")
        d = feedparser.parse(resp.content)
        assert not d.bozo and d.version == "atom10", d.get("bozo_exception")
        assert [e.id for e in d.entries] == ids((public / "archive" / name).read_bytes())
        rels = {link.rel: link.href for link in d.feed.links}
        assert rels["self"] == url + "archive/" + name and rels["current"] == url + "atom.xml"
        assert ("next-archive" in rels) == (name != "2024-05.xml")
        assert ("prev-archive" in rels) == (name != "2024-02.xml")


def test_newsboat_reads_an_archive_document(served, tmp_path_factory):
    need(shutil.which("newsboat") is not None, "newsboat is not installed (Debian package newsboat)")
    tmp, url = served
    doc = url + "archive/2024-03.xml"
    home = tmp_path_factory.mktemp("newsboat")
    (home / "urls").write_text(doc + "\n", encoding="utf-8")
    (home / "config").write_text("", encoding="utf-8")
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local"), "TERM": "dumb"}
    r = subprocess.run(["newsboat", "-x", "reload", "-u", str(home / "urls"), "-c", str(home / "cache.db"),
                        "-C", str(home / "config")], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    db = sqlite3.connect(home / "cache.db")
    try:
        (title,) = db.execute("SELECT title FROM rss_feed WHERE rssurl = ?", (doc,)).fetchone()
        guids = [g for (g,) in db.execute("SELECT guid FROM rss_item")]
    finally:
        db.close()
    assert title == "Test Planet: archive of March 2024"
    assert sorted(guids) == sorted(ids((tmp / "public" / "archive" / "2024-03.xml").read_bytes()))
