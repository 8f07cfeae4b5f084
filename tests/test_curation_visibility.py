"""Curation made visible (issue 20): ``refresh`` says how many new items the filters and limits
hide, ``status`` carries each source's hidden count, and ``feedsvc publish --explain ID|URL`` says
why an item is or is not published. Real feeds on 127.0.0.1, the CLI as subprocesses."""

from __future__ import annotations

import getpass
import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

from conftest import rss, write_config
from helpers_feedsvc import cli

NEWEST = datetime(2024, 5, 28, 9, 0, tzinfo=timezone.utc)
TEXT = ("The harbour board met on Tuesday evening and agreed, after a long debate about dredging, "
        "mooring fees and the winter timetable of the island ferries, to publish its minutes monthly "
        "on the notice board by the slipway.")


def post(host: str, n: int, days: float, title: str | None = None, **kw) -> dict:
    link = f"https://{host}/p/{n}"
    return {"title": title or f"{host} story {n}", "link": link, "guid": link, "permalink": True,
            "date": format_datetime(NEWEST - timedelta(days=days)), "description": f"<p>{n}: {host}</p>", **kw}


def ok(r, code: int = 0):
    assert r.returncode == code, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    return r


def line(out: str, name: str) -> str:
    (found,) = [x for x in out.splitlines() if x.startswith(name + " ")]
    return " ".join(found.split())


def test_refresh_says_how_many_new_items_curation_hides(tmp_path, feed_server):
    alpha = [post("a.example", 0, 0, "Sponsored: buy now"), post("a.example", 1, 1), post("a.example", 2, 2),
             post("a.example", 3, 3)]
    feed_server.add("/a.xml", rss(alpha, title="Alpha"))
    feed_server.add("/b.xml", rss([post("b.example", 0, 0)], title="Beta"))
    write_config(tmp_path, [{"name": "alpha", "url": feed_server.url("/a.xml"), "max_items": 2},
                            {"name": "beta", "url": feed_server.url("/b.xml")}],
                 filters={"drop": [{"field": "title", "pattern": "(?i)sponsored"}]})
    r = ok(cli("refresh", cwd=tmp_path))
    assert line(r.stdout, "alpha") == "alpha ok 4 new (2 hidden: 1 by filters, 1 by max_items), 0 updated, 0 unchanged"
    assert line(r.stdout, "beta") == "beta ok 1 new, 0 updated, 0 unchanged"
    feed_server.add("/a.xml", rss([post("a.example", 9, -0.5, "SPONSORED again"), *alpha], title="Alpha"))
    r = ok(cli("refresh", cwd=tmp_path))
    assert line(r.stdout, "alpha") == "alpha ok 1 new (1 hidden by filters), 0 updated, 4 unchanged"

    data = json.loads(ok(cli("status", "--json", cwd=tmp_path)).stdout)
    rows = {s["name"]: s for s in data["sources"]}
    assert rows["alpha"]["hidden"] == 3 and rows["alpha"]["hidden_by"] == {"filters": 2, "max_items": 1}
    assert rows["beta"]["hidden"] == 0 and rows["beta"]["hidden_by"] == {}
    long = ok(cli("status", cwd=tmp_path)).stdout
    assert "hidden:       3 (2 by filters, 1 by max_items) among the newest 6 stored items" in long


def test_status_counts_hidden_items_over_the_publish_window_only(tmp_path, feed_server):
    """A big store is not read whole on every status: the count covers the items the publish
    reads to fill the feeds (and says how many that was)."""
    many = [post("a.example", n, n / 24, "Sponsored" if n == 1 else None) for n in range(300)]
    feed_server.add("/a.xml", rss(many, title="Alpha"))
    extra = []
    for i in range(20):                                 # more than 20 sources: the compact table
        path = tmp_path / f"f{i}.xml"
        path.write_text(rss([post(f"s{i}.example", 0, 10 + i)], title=f"S{i}"), encoding="utf-8")
        extra.append({"name": f"s{i}", "url": f"file:f{i}.xml"})
    write_config(tmp_path, [{"name": "alpha", "url": feed_server.url("/a.xml")}, *extra],
                 output={"dir": "public", "max_items": 5}, fetch={"max_entries": 500},
                 filters={"drop": [{"field": "title", "pattern": "Sponsored"}]})
    ok(cli("refresh", cwd=tmp_path))
    data = json.loads(ok(cli("status", "--json", cwd=tmp_path)).stdout)
    assert data["store_items"] == 320
    assert data["hidden_counted_over"] <= 40
    assert {s["name"]: s["hidden"] for s in data["sources"]}["alpha"] == 1
    table = ok(cli("status", cwd=tmp_path)).stdout.splitlines()
    head = table[0].split()
    assert head[:7] == ["SOURCE", "STATE", "EVERY", "LAST", "SUCCESS", "ITEMS", "HIDDEN"]
    (alpha,) = [x for x in table if x.startswith("alpha ")]
    assert alpha.split()[5:7] == ["300", "1"]           # items stored, hidden


def explain(tmp: Path, ref: str, code: int) -> list[str]:
    r = ok(cli("publish", "--explain", ref, cwd=tmp), code)
    return r.stdout.splitlines()


def planet(tmp: Path, feed_server) -> None:
    feed_server.add("/a.xml", rss([post("a.example", 0, 0, "Sponsored: buy now"), post("a.example", 1, 1),
                                   post("a.example", 2, 2), post("a.example", 3, 3)], title="Alpha"))
    feed_server.add("/b.xml", rss([post("b.example", 0, 0.5, categories=["go"]),
                                   post("b.example", 1, 1.5, categories=["python"])], title="Beta"))
    feed_server.add("/g.xml", rss([post("g.example", 0, 0.2)], title="Gamma"))
    story = {"title": "Harbour minutes", "date": format_datetime(NEWEST - timedelta(days=4)),
             "description": f"<p>{TEXT}</p>", "permalink": True}
    feed_server.add("/o.xml", rss([{**story, "link": "https://origin.example/minutes",
                                    "guid": "https://origin.example/minutes"}], title="Origin"))
    feed_server.add("/m.xml", rss([{**story, "link": "https://mirror.example/copy/minutes",
                                    "guid": "https://mirror.example/copy/minutes"}], title="Mirror"))
    write_config(tmp, [{"name": "alpha", "url": feed_server.url("/a.xml"), "max_items": 2},
                       {"name": "beta", "url": feed_server.url("/b.xml"),
                        "keep": [{"field": "category", "pattern": "^python$"}]},
                       {"name": "gamma", "url": feed_server.url("/g.xml"), "max_age": "30d"},
                       {"name": "origin", "url": feed_server.url("/o.xml"), "priority": 10},
                       {"name": "mirror", "url": feed_server.url("/m.xml")}],
                 output={"dir": "public", "max_items": 3},
                 filters={"drop": [{"field": "title", "pattern": "(?i)sponsored"}]},
                 outputs=[{"path": "python", "title": "Python", "categories": ["python"]}])
    ok(cli("refresh", cwd=tmp))


def test_explain_names_the_rule_or_limit_that_hides_an_item(tmp_path, feed_server):
    planet(tmp_path, feed_server)
    out = explain(tmp_path, "https://a.example/p/0", 1)
    assert out[0].endswith("“Sponsored: buy now” (alpha, dated 2024-05-28T09:00:00+00:00)")
    assert out[1] == "not published: it matches the global drop rule filters.drop[0] (title ~ '(?i)sponsored')"
    out = explain(tmp_path, "https://b.example/p/0", 1)
    assert out[1] == ("not published: it does not match beta's keep rule sources[1].keep[0] "
                      "(category ~ '^python$')")
    out = explain(tmp_path, "https://a.example/p/3", 1)
    assert out[1] == "not published: alpha already has 2 newer items in the feeds (max_items: 2)"
    assert "  decided by sources[0].max_items in config.yaml" in out
    out = explain(tmp_path, "https://g.example/p/0", 1)
    assert out[1] == "not published: it is older than gamma's max_age (30d)"
    out = explain(tmp_path, "https://origin.example/minutes", 1)
    assert out[1] == ("not published: it passes every rule, but is number 4 in the combined feed, below the "
                      "newest output.max_items (3)")
    r = ok(cli("publish", "--explain", "https://nowhere.example/x", cwd=tmp_path), 1)
    assert "no stored item has the id or link 'https://nowhere.example/x'" in r.stderr


def test_explain_says_where_a_published_item_is(tmp_path, feed_server):
    planet(tmp_path, feed_server)
    out = explain(tmp_path, "https://b.example/p/1", 0)
    assert out[1] == "published: atom.xml, rss.xml, feed.json, number 2 of 3"
    assert out[2:] == ["  on index.html", "  in topic feed python/ (Python)"]
    out = explain(tmp_path, "https://a.example/p/1", 0)
    assert "  not in topic feed python/: none of its categories (python)" in out


def test_explain_names_the_source_whose_copy_of_a_story_is_published(tmp_path, feed_server):
    planet(tmp_path, feed_server)
    out = explain(tmp_path, "https://mirror.example/copy/minutes", 1)
    assert "“Harbour minutes” (origin," in out[0]
    assert ("  duplicate: https://mirror.example/copy/minutes is mirror's copy of this story, which is "
            "published once, as origin's (origin's priority 10 is higher than mirror's 0)") in out


def test_explain_reports_moderation_and_backlog(tmp_path, feed_server):
    planet(tmp_path, feed_server)
    ok(cli("items", "hide", "https://a.example/p/1", "--reason", "takedown request", cwd=tmp_path))
    out = explain(tmp_path, "https://a.example/p/1", 1)
    assert out[1].startswith(f"not published: hidden by moderation (by {getpass.getuser()} at ")
    assert out[1].endswith(": takedown request)")
    # a source added to a running planet: its first fetch beyond new_source_items is backlog
    feed_server.add("/d.xml", rss([post("d.example", n, n) for n in range(3)], title="Delta"))
    text = (tmp_path / "config.yaml").read_text(encoding="utf-8").replace(
        "sources:\n", f"sources:\n- name: delta\n  url: {feed_server.url('/d.xml')}\n  new_source_items: 0\n", 1)
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    ok(cli("refresh", "delta", cwd=tmp_path))
    out = explain(tmp_path, "https://d.example/p/0", 1)
    assert out[1].startswith("not published: held back as delta's backlog")
    assert out[2] == "  archived only, and output.archive is off: in no output"
