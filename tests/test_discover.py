"""The subscription helpers against a real loopback site: ``sources discover`` on a page that
advertises two feeds, on one that advertises none but serves ``/feed``, and on one with no feed
at all; ``sources check`` naming the stored items a feed would merge with and why; and a web page
given as a source, which says what it is and which feeds it advertises."""

from __future__ import annotations

import json

import yaml

from conftest import rss, run_cli, write_config

BODY = "<p>" + "A long enough story about the harbour festival and its boats, " * 6 + "</p>"


def _page(title: str, links: str = "") -> bytes:
    return (f"<!DOCTYPE html><html><head><title>{title}</title>{links}</head>"
            "<body><h1>Hello</h1><p>not a feed</body></html>").encode()


def test_discover_a_page_with_two_advertised_feeds(tmp_path, feed_server):
    links = ('<link rel="alternate" type="application/rss+xml" title="Posts" href="/posts.xml">'
             '<link rel="alternate" type="application/atom+xml" href="https://127.0.0.1:1/never-fetched.xml">'
             '<link rel="alternate" type="application/atom+xml" href="/comments.atom">'
             '<link rel="stylesheet" href="/style.css">')
    feed_server.add("/blog/", _page("Harbour blog", links), content_type="text/html")
    feed_server.add("/posts.xml", rss([{"title": "One", "link": "https://h.example/1"}], title="Harbour posts"))
    feed_server.add("/comments.atom", rss([{"title": "C", "link": "https://h.example/c"}], title="Harbour comments"))
    cfg = write_config(tmp_path, [])
    r = run_cli("--config", str(cfg), "sources", "discover", feed_server.url("/blog/"))
    assert r.returncode == 0, r.stderr
    entries = yaml.safe_load("\n".join(ln[2:] for ln in r.stdout.splitlines()[1:]))
    assert [e["url"] for e in entries] == [feed_server.url("/posts.xml"), feed_server.url("/comments.atom")]
    assert [e["title"] for e in entries] == ["Harbour posts", "Harbour comments"]
    assert len({e["name"] for e in entries}) == 2
    as_json = json.loads(run_cli("--config", str(cfg), "sources", "discover", "--json", feed_server.url("/blog/")).stdout)
    assert len(as_json["found"]) == 2 and any("never-fetched" in t["url"] for t in as_json["tried"])


def test_discover_falls_back_to_common_paths_and_says_what_it_tried(tmp_path, feed_server):
    feed_server.add("/", _page("Plain site"), content_type="text/html")
    feed_server.add("/feed", rss([{"title": "One", "link": "https://p.example/1"}], title="Plain feed"))
    cfg = write_config(tmp_path, [])
    r = run_cli("--config", str(cfg), "sources", "discover", feed_server.url("/"))
    assert r.returncode == 0, r.stderr
    (entry,) = yaml.safe_load("\n".join(ln[2:] for ln in r.stdout.splitlines()[1:]))
    assert entry["url"] == feed_server.url("/feed") and entry["title"] == "Plain feed"
    del feed_server.resources["/feed"]
    none = run_cli("--config", str(cfg), "sources", "discover", feed_server.url("/"))
    assert none.returncode == 1
    assert "no feed found" in none.stderr and feed_server.url("/rss.xml") in none.stderr


def test_check_names_what_a_feed_would_merge_with_and_writes_nothing(tmp_path, feed_server):
    feed_server.add("/a.xml", rss([{"title": "Harbour festival", "link": "https://a.example/festival",
                                    "guid": "https://a.example/festival", "description": BODY,
                                    "date": "Mon, 02 Nov 2026 10:00:00 +0000"},
                                   {"title": "Boats", "link": "https://a.example/boats", "guid": "https://a.example/boats",
                                    "date": "Mon, 02 Nov 2026 11:00:00 +0000"}]))
    cfg = write_config(tmp_path, [{"name": "a", "url": feed_server.url("/a.xml")}])
    assert run_cli("--config", str(cfg), "refresh").returncode == 0
    feed_server.add("/b.xml", rss([
        {"title": "Boats", "link": "https://a.example/boats?utm_source=b", "guid": "b-1",
         "date": "Mon, 02 Nov 2026 11:00:00 +0000"},                                   # same link
        {"title": "Harbour festival", "link": "https://mirror.example/festival", "guid": "b-2",
         "description": BODY + "<p>Originally posted on A.</p>", "date": "Mon, 02 Nov 2026 10:00:00 +0000"},
        {"title": "Something new", "link": "https://b.example/new", "guid": "b-3"}]))
    before = (tmp_path / "state" / "feedsvc.db").read_bytes()
    r = run_cli("--config", str(cfg), "sources", "check", "--json", feed_server.url("/b.xml"))
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["items"] == 3 and report["would_be_new"] == 1
    assert {(m["title"], m["with_source"], m["by"]) for m in report["would_merge"]} == {
        ("Boats", "a", "canonical link"), ("Harbour festival", "a", "content fingerprint")}
    assert report["conditional_get"].startswith("answered 304")
    assert any("no usable date" in p for p in report["date_problems"])
    assert (tmp_path / "state" / "feedsvc.db").read_bytes() == before          # nothing written
    text = run_cli("--config", str(cfg), "sources", "check", feed_server.url("/b.xml")).stdout
    assert "would merge:    “Boats” with a's https://a.example/boats (by canonical link)" in text


def test_a_web_page_given_as_a_source_says_so_and_names_its_feeds(tmp_path, feed_server):
    links = '<link rel="alternate" type="application/rss+xml" href="/feed.xml">'
    feed_server.add("/home", _page("Alice's blog", links), content_type="text/html")
    cfg = write_config(tmp_path, [{"name": "alice", "url": feed_server.url("/home")}])
    r = run_cli("--config", str(cfg), "refresh")
    assert r.returncode == 1
    assert "this is an HTML page (“Alice's blog”), not a feed" in r.stdout
    assert f"set url: {feed_server.url('/feed.xml')}" in r.stdout
    assert "SAXParseException" not in r.stdout + r.stderr
