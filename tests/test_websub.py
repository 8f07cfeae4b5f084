"""WebSub: with ``site.websub_hub`` set, the feeds name the hub and every publish that changed a
feed pings it — once per changed feed, never for an unchanged round, again at the next publish
when a ping failed — against a small real hub on 127.0.0.1."""

from __future__ import annotations

import json

from helpers_daemon import Hub  # noqa: F401  (the hub fixture's class, in conftest)

from feedcheck import check_atom, check_json, check_rss, parse_xml
from helpers_feedsvc import ATOM, cli
from helpers_subscribers import REMOTE, make_site, refresh, remote_feed

SITE = "http://127.0.0.1:8080/"
FEEDS = [SITE + "atom.xml", SITE + "rss.xml", SITE + "feed.json"]


def test_feeds_name_the_hub_and_each_change_pings_it_once(tmp_path, feed_server, hub):
    make_site(tmp_path, feed_server, site={"websub_hub": hub.url})
    r = refresh(tmp_path)
    assert "WebSub" not in r.stderr
    pub = tmp_path / "public"
    assert check_atom((pub / "atom.xml").read_bytes(), SITE + "atom.xml", hub.url) == []
    assert check_rss((pub / "rss.xml").read_bytes(), SITE + "rss.xml", hub.url) == []
    assert check_json((pub / "feed.json").read_bytes(), SITE + "feed.json", hub.url) == []
    assert parse_xml((pub / "atom.xml").read_bytes()).find(f"{{{ATOM}}}link[@rel='hub']").get("href") == hub.url
    assert hub.take() == FEEDS                                  # one ping per feed written
    outputs = [line for line in cli("status", cwd=tmp_path).stdout.splitlines() if line.startswith("output: ")]
    n = len(parse_xml((pub / "atom.xml").read_bytes()).findall(f"{{{ATOM}}}entry"))
    assert [line.rsplit("/", 1)[1] for line in outputs] == [f"{f}: {n} items" for f in ("atom.xml", "rss.xml", "feed.json")]
    # an unchanged round: nothing written, no ping
    assert "nothing changed" in refresh(tmp_path).stdout
    assert cli("publish", cwd=tmp_path).returncode == 0
    assert hub.take() == []
    # a change in a source: one ping per feed again
    feed_server.add("/news.xml", remote_feed(REMOTE + [{"title": "New", "link": "https://news.example/n",
                                                          "guid": "n-1"}]))
    refresh(tmp_path)
    assert hub.take() == FEEDS
    assert not (tmp_path / "state" / "websub-pending.json").exists()


def test_a_failed_ping_is_a_warning_and_is_retried_at_the_next_publish(tmp_path, feed_server, hub):
    make_site(tmp_path, feed_server, site={"websub_hub": hub.url}, output={"formats": ["atom"]})
    hub.status = 503
    r = refresh(tmp_path)                                        # the publish itself succeeds
    assert r.returncode == 0 and "published" in r.stdout
    assert "WARNING" in r.stderr and "WebSub ping" in r.stderr and "HTTP 503" in r.stderr
    assert "retrying at the next publish" in r.stderr and "Traceback" not in r.stderr
    pending = json.loads((tmp_path / "state" / "websub-pending.json").read_text())
    assert pending == {"urls": [SITE + "atom.xml"]}
    assert hub.take() == []
    status = cli("status", cwd=tmp_path).stdout
    assert f"websub: hub {hub.url}: 1 ping(s) pending" in status
    outputs = [line for line in status.splitlines() if line.startswith("output: ")]
    assert len(outputs) == 1 and "atom.xml: " in outputs[0]       # only the format written
    # the hub is back: the next round retries although nothing changed, once
    hub.status = 204
    r = refresh(tmp_path)
    assert "nothing changed" in r.stdout and "WebSub" not in r.stderr
    assert hub.take() == [SITE + "atom.xml"]
    assert not (tmp_path / "state" / "websub-pending.json").exists()
    assert "no ping pending" in cli("status", cwd=tmp_path).stdout
    refresh(tmp_path)
    assert hub.take() == []


def test_an_unreachable_hub_never_fails_the_publish(tmp_path, feed_server):
    dead = Hub()
    url = dead.url
    dead.stop()                                                  # nothing listens there any more
    make_site(tmp_path, feed_server, site={"websub_hub": url}, output={"formats": ["rss", "json"]})
    r = refresh(tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert r.stderr.count("WebSub ping") == 2                    # rss.xml and feed.json, each once
    assert json.loads((tmp_path / "state" / "websub-pending.json").read_text())["urls"] == \
        [SITE + "rss.xml", SITE + "feed.json"]
    # still down: still pending, still one warning per feed, still exit 0
    r = refresh(tmp_path)
    assert r.returncode == 0 and r.stderr.count("WebSub ping") == 2


def test_without_a_hub_there_is_no_hub_link(tmp_path, feed_server):
    make_site(tmp_path, feed_server)
    refresh(tmp_path)
    pub = tmp_path / "public"
    assert b'rel="hub"' not in (pub / "atom.xml").read_bytes() + (pub / "rss.xml").read_bytes()
    assert "hubs" not in json.loads((pub / "feed.json").read_bytes())
    assert not (tmp_path / "state" / "websub-pending.json").exists()
