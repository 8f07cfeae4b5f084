"""Moderation with a record (issue 19), end to end: ``feedsvc items list/hide/unhide/pin`` as
subprocesses against real feeds on 127.0.0.1, the published files parsed back.

A hidden story leaves every output at once (the command publishes) and stays hidden through
refreshes, an update, a new guid from its source (link + title, or content fingerprint), another
source's copy and a takeover by a source of higher priority; the store records who, when and
why. A pinned story leads every feed until its date. On a shared PostgreSQL store the commands
work from any machine."""

from __future__ import annotations

import getpass
import json
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import lxml.html
import pytest

from conftest import rss, write_config
from feedcheck import ATOM, parse_xml
from helpers_feedsvc import cli

NEWEST = datetime(2024, 5, 28, 9, 0, tzinfo=timezone.utc)
TEXT = ("The harbour board met on Tuesday evening and agreed, after a long debate about dredging, "
        "mooring fees and the winter timetable of the island ferries, to publish its minutes monthly "
        "on the notice board by the slipway.")
GONE = "https://alpha.example/p/2"


def post(i: int, **kw) -> dict:
    link = f"https://alpha.example/p/{i}"
    return {"title": f"Alpha story {i}", "link": link, "guid": link, "permalink": True,
            "date": format_datetime(NEWEST - timedelta(days=i)), "description": f"<p>{i}. {TEXT}</p>", **kw}


def alpha(changes: dict[int, dict] | None = None) -> str:
    return rss([(changes or {}).get(i, post(i)) for i in range(6)], title="Alpha")


def outputs(tmp: Path) -> dict[str, bytes]:
    public = tmp / "public"
    files = {n: (public / n).read_bytes() for n in ("atom.xml", "rss.xml", "feed.json", "index.html")}
    files.update({p.relative_to(public).as_posix(): p.read_bytes() for p in (public / "archive").rglob("*.xml")})
    return files


def atom_ids(tmp: Path) -> list[str]:
    return [e.findtext(f"{{{ATOM}}}id") for e in parse_xml((tmp / "public" / "atom.xml").read_bytes())
            .findall(f"{{{ATOM}}}entry")]


def shows(tmp: Path, needle: str) -> set[str]:
    """Which outputs mention ``needle``."""
    return {name for name, data in outputs(tmp).items() if needle.encode() in data}


def ok(r):
    assert r.returncode == 0 and "Traceback" not in r.stderr, (r.stdout, r.stderr)
    return r


def hidden(tmp: Path) -> list[dict]:
    return json.loads(ok(cli("items", "list", "--hidden", "--json", cwd=tmp)).stdout)


def planet(tmp: Path, server, *more: dict, **overrides) -> None:
    write_config(tmp, [{"name": "alpha", "url": server.url("/alpha.xml")}, *more],
                 output={"max_items": 50, "archive": "monthly"}, **overrides)


def test_a_hidden_story_stays_hidden_through_updates_new_guids_copies_and_takeovers(tmp_path, feed_server):
    feed_server.add("/alpha.xml", alpha())
    planet(tmp_path, feed_server)
    ok(cli("refresh", cwd=tmp_path))
    assert shows(tmp_path, "Alpha story 2") == {"atom.xml", "rss.xml", "feed.json", "index.html", "archive/2024-05.xml"}

    r = ok(cli("items", "hide", GONE, "--reason", "takedown request from the author", cwd=tmp_path))
    assert r.stdout.startswith(f"hidden: {GONE} “Alpha story 2” (alpha)") and "atom.xml" in r.stdout
    assert shows(tmp_path, "Alpha story 2") == set() and len(atom_ids(tmp_path)) == 5
    (rec,) = hidden(tmp_path)
    assert (rec["id"], rec["hidden_by"], rec["reason"]) == (GONE, getpass.getuser(), "takedown request from the author")
    assert abs(datetime.fromisoformat(rec["hidden_at"]) - datetime.now(timezone.utc)) < timedelta(minutes=5)
    plain = ok(cli("items", "list", "--hidden", cwd=tmp_path)).stdout
    assert f"[hidden by {getpass.getuser()} at " in plain and ": takedown request from the author]" in plain
    assert GONE not in ok(cli("items", "list", cwd=tmp_path)).stdout

    steps = {
        "the source edits it": alpha({2: post(2, description=f"<p>2. {TEXT} Updated.</p>")}),
        "a new guid, the same link and title": alpha({2: post(2, guid="urn:uuid:1b6a2f2e-0000-4000-8000-000000000002",
                                                                permalink=False)}),
        "a new guid and link, the same text and day": alpha({2: post(2, guid="https://alpha.example/posts/two",
                                                                      link="https://alpha.example/posts/two")}),
    }
    for why, body in steps.items():
        feed_server.add("/alpha.xml", body)
        out = ok(cli("refresh", cwd=tmp_path)).stdout
        assert "0 new" in out, (why, out)
        assert shows(tmp_path, "Alpha story 2") == set(), why
        assert [x["id"] for x in hidden(tmp_path)] == [GONE], why

    # another source carries the story (the same link), first as a copy, then winning it
    copy = {"title": "Alpha story 2 (mirrored)", "link": "https://alpha.example/posts/two?utm_source=beta",
            "guid": "beta-2", "date": format_datetime(NEWEST - timedelta(days=2)), "description": f"<p>2. {TEXT}</p>"}
    feed_server.add("/beta.xml", rss([copy], title="Beta"))
    planet(tmp_path, feed_server, {"name": "beta", "url": feed_server.url("/beta.xml")})
    assert "1 duplicate" in ok(cli("refresh", cwd=tmp_path)).stdout
    assert shows(tmp_path, "Alpha story 2") == set()
    planet(tmp_path, feed_server, {"name": "beta", "url": feed_server.url("/beta.xml"), "priority": 10})
    feed_server.add("/beta.xml", rss([{**copy, "description": f"<p>2. {TEXT} Mirrored.</p>"}], title="Beta"))
    ok(cli("refresh", cwd=tmp_path))
    assert shows(tmp_path, "Alpha story 2") == set()
    (rec,) = hidden(tmp_path)
    assert rec["source"] == "beta" and rec["id"] == GONE            # the story, whoever owns it now

    r = ok(cli("items", "unhide", GONE, cwd=tmp_path))
    assert r.stdout.startswith("unhidden: ")
    assert shows(tmp_path, "Alpha story 2 (mirrored)") >= {"atom.xml", "rss.xml", "feed.json", "index.html",
                                                            "archive/2024-05.xml"}
    assert hidden(tmp_path) == [] and len(atom_ids(tmp_path)) == 6


def test_hiding_by_a_copys_link_hides_the_story_in_every_feed(tmp_path, feed_server):
    feed_server.add("/alpha.xml", alpha())
    feed_server.add("/beta.xml", rss([{**post(2), "guid": "beta-2", "permalink": False,
                                       "link": "https://alpha.example/p/2?utm_medium=feed#top"}], title="Beta"))
    planet(tmp_path, feed_server, {"name": "beta", "url": feed_server.url("/beta.xml")},
           outputs=[{"path": "beta", "title": "Beta only", "sources": ["beta"]}])
    ok(cli("refresh", cwd=tmp_path))
    assert b"Alpha story 2" in (tmp_path / "public" / "beta" / "atom.xml").read_bytes()
    ok(cli("items", "hide", "https://ALPHA.example:443/p/2?utm_source=x", cwd=tmp_path))
    assert shows(tmp_path, "Alpha story 2") == set()
    assert b"Alpha story 2" not in (tmp_path / "public" / "beta" / "atom.xml").read_bytes()
    assert not list((tmp_path / "public" / "archive" / "beta").glob("*.xml")) or all(
        b"Alpha story 2" not in p.read_bytes() for p in (tmp_path / "public" / "archive" / "beta").glob("*.xml"))


def test_a_pinned_story_leads_every_feed_until_its_date(tmp_path, feed_server):
    feed_server.add("/alpha.xml", alpha())
    planet(tmp_path, feed_server)
    ok(cli("refresh", cwd=tmp_path))
    oldest = "https://alpha.example/p/5"
    assert atom_ids(tmp_path)[-1] == oldest
    r = ok(cli("items", "pin", oldest, "--until", "2099-01-01", cwd=tmp_path))
    assert r.stdout.startswith(f"pinned until 2099-01-01T00:00:00+00:00: {oldest}")
    assert atom_ids(tmp_path)[0] == oldest
    public = tmp_path / "public"
    assert parse_xml((public / "rss.xml").read_bytes()).findtext("channel/item/guid") == oldest
    assert json.loads((public / "feed.json").read_bytes())["items"][0]["id"] == oldest
    page = lxml.html.fromstring((public / "index.html").read_bytes())
    assert page.xpath("//main//article//h3//a")[0].get("href") == oldest
    rows = json.loads(ok(cli("items", "list", "--json", cwd=tmp_path)).stdout)
    assert next(x for x in rows if x["id"] == oldest)["pinned_until"] == "2099-01-01T00:00:00+00:00"
    # archives keep their date order: a pin is about the front page
    assert parse_xml((public / "archive/2024-05.xml").read_bytes()).findall(f"{{{ATOM}}}entry")[0] \
        .findtext(f"{{{ATOM}}}id") == "https://alpha.example/p/0"
    ok(cli("items", "unpin", oldest, cwd=tmp_path))
    assert atom_ids(tmp_path)[-1] == oldest
    # a pin ends by itself at its date: the next publish puts the story back in its place
    ok(cli("items", "pin", oldest, "--until", "2s", cwd=tmp_path))
    assert atom_ids(tmp_path)[0] == oldest
    time.sleep(2.5)
    ok(cli("publish", cwd=tmp_path))
    assert atom_ids(tmp_path)[-1] == oldest


@pytest.mark.parametrize("until,message", [("yesterday", "expected a date"), ("2001-01-01", "not in the future")])
def test_a_wrong_pin_date_is_a_usage_error(tmp_path, feed_server, until, message):
    feed_server.add("/alpha.xml", alpha())
    planet(tmp_path, feed_server)
    ok(cli("refresh", cwd=tmp_path))
    r = cli("items", "pin", "https://alpha.example/p/1", "--until", until, cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr


def test_an_unknown_or_ambiguous_item_is_refused(tmp_path, feed_server):
    feed_server.add("/alpha.xml", alpha())
    # two posts of one page (a linkblog): one link, two stories
    feed_server.add("/links.xml", rss([{"title": "Monday links", "link": "https://links.example/day", "guid": "mon"},
                                       {"title": "Tuesday links", "link": "https://links.example/day", "guid": "tue"}],
                                      title="Links"))
    planet(tmp_path, feed_server, {"name": "links", "url": feed_server.url("/links.xml")})
    ok(cli("refresh", cwd=tmp_path))
    r = cli("items", "hide", "https://nowhere.example/", cwd=tmp_path)
    assert r.returncode == 1 and "no stored item has the id or link" in r.stderr
    r = cli("items", "hide", "https://links.example/day", cwd=tmp_path)
    assert r.returncode == 1 and "names 2 stored items" in r.stderr
    assert "Monday links" in r.stderr and "Tuesday links" in r.stderr
    assert hidden(tmp_path) == []


def test_moderation_works_from_another_machine_on_a_shared_postgresql_store(tmp_path, feed_server, pg_url):
    feed_server.add("/alpha.xml", alpha())
    shared = tmp_path / "shared-public"
    machines = []
    for name in ("one", "two"):
        home = tmp_path / name
        home.mkdir()
        write_config(home, [{"name": "alpha", "url": feed_server.url("/alpha.xml")}], store=pg_url,
                     output={"dir": str(shared), "max_items": 50, "archive": "monthly"})
        machines.append(home)
    one, two = machines
    ok(cli("refresh", cwd=one))
    ok(cli("items", "hide", GONE, "--reason", "from the second machine", cwd=two))
    assert b"Alpha story 2" not in (shared / "atom.xml").read_bytes()
    assert [(x["id"], x["reason"]) for x in hidden(one)] == [(GONE, "from the second machine")]
    ok(cli("refresh", cwd=one))                       # the first machine's next publish keeps it hidden
    assert b"Alpha story 2" not in (shared / "atom.xml").read_bytes()
    ok(cli("items", "pin", "https://alpha.example/p/4", "--until", "7d", cwd=one))
    ok(cli("publish", cwd=two))
    assert [e.findtext(f"{{{ATOM}}}id") for e in parse_xml((shared / "atom.xml").read_bytes())
            .findall(f"{{{ATOM}}}entry")][0] == "https://alpha.example/p/4"
