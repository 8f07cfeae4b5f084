"""Smarter duplicates end to end: a syndicated copy under another URL is one story (content
fingerprint), the higher-priority source wins it without a re-post, the losing copies are kept on
the winner (``also_in`` with links), and a CMS that changes every guid does not flood the feed."""

from __future__ import annotations

from lxml import html as lxml_html

from feedsvc.app.engine import Engine
from feedsvc.config import load_config

from conftest import rss, write_config
from helpers_feedsvc import ATOM, cli, published

BODY = ("<p>The harbour bridge reopened on Monday after eight months of repairs. Volunteers from the "
        "river council painted the railings, the museum lent its old photographs for the opening, "
        "and the winter market will move back to the east bank next month. The library has a small "
        "exhibition about the first bridge, built in 1887, open every afternoon until June.</p>")


def _post(link: str, guid: str, body: str = BODY, title: str = "Bridge reopens", **kw) -> dict:
    return {"title": title, "guid": guid, "link": link, "date": "Mon, 06 May 2024 09:00:00 GMT",
            "content": body, **kw}


def test_a_syndicated_copy_is_one_story_and_priority_wins_without_a_re_post(tmp_path, feed_server):
    # the mirror (a planet, listed first) stores the story before the origin blog is added
    feed_server.add("/mirror.xml", rss([
        _post("https://planet.example/mirror/1234?utm_source=planet", "planet-1234",
              body="<div><em>" + BODY.upper().replace("<P>", "").replace("</P>", "") + "</em></div>"
                   "<p>Originally posted on <a href='https://alice.example/'>Alice's blog</a>.</p>",
              title="BRIDGE REOPENS!"),
        _post("https://planet.example/mirror/99", "planet-99", body="<p>Another story entirely, "
              "about the orchard.</p>", title="Orchard"),
    ], title="Planet"))
    cfg = write_config(tmp_path, [{"name": "planet", "url": feed_server.url("/mirror.xml")}])
    assert cli("refresh", cwd=tmp_path).returncode == 0
    before = published(tmp_path / "public")
    bridge_id = before.atom_entry("BRIDGE REOPENS!").findtext(f"{{{ATOM}}}id")

    feed_server.add("/alice.xml", rss([_post("https://alice.example/2024/05/bridge", "https://alice.example/?p=7")],
                                      title="Alice"))
    write_config(tmp_path, [{"name": "planet", "url": feed_server.url("/mirror.xml")},
                            {"name": "alice", "url": feed_server.url("/alice.xml"), "priority": 10}])
    r = cli("refresh", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    pub = published(tmp_path / "public")
    assert sorted(pub.titles()) == ["Bridge reopens", "Orchard"]          # one story, not two
    entry = pub.atom_entry("Bridge reopens")                               # the origin's copy won
    (fp_entry,) = [e for e in pub.atom.entries if e.title == "Bridge reopens"]
    assert fp_entry.link == "https://alice.example/2024/05/bridge"
    assert entry.findtext(f"{{{ATOM}}}id") == bridge_id                     # same id: no re-post
    # the losing copy is remembered on the winner, with its link, for index.html
    rt = Engine(load_config(cfg))
    try:
        (story,) = [x for x in rt.storage.newest(10) if x.item.title == "Bridge reopens"]
    finally:
        rt.close()
    assert story.item.source == "alice" and story.also_in == ("planet",)
    assert [(c.source, c.link) for c in story.copies] == \
        [("planet", "https://planet.example/mirror/1234?utm_source=planet")]
    # and index.html shows it: "Also in: Planet", linking to the mirror's copy
    index = lxml_html.fromstring((tmp_path / "public" / "index.html").read_bytes())
    (art,) = [a for a in index.iter("article") if a.findtext(".//h3/a") == "Bridge reopens"]
    (also,) = art.find_class("also")
    assert also.text_content().split() == ["Also", "in:", "Planet"]
    assert also.find("a").get("href") == "https://planet.example/mirror/1234?utm_source=planet"
    # both refresh again: nothing changes
    r = cli("refresh", "--full", cwd=tmp_path)
    assert r.returncode == 0 and "nothing changed" in r.stdout


def test_without_priority_the_first_seen_copy_wins(tmp_path, feed_server):
    feed_server.add("/mirror.xml", rss([_post("https://planet.example/m/1", "m1", title="Bridge Reopens")]))
    write_config(tmp_path, [{"name": "planet", "url": feed_server.url("/mirror.xml")}])
    assert cli("refresh", cwd=tmp_path).returncode == 0
    feed_server.add("/alice.xml", rss([_post("https://alice.example/b", "a1")]))
    write_config(tmp_path, [{"name": "alice", "url": feed_server.url("/alice.xml")},
                            {"name": "planet", "url": feed_server.url("/mirror.xml")}])
    r = cli("refresh", cwd=tmp_path)
    assert "1 duplicate" in r.stdout
    pub = published(tmp_path / "public")
    assert pub.titles() == ["Bridge Reopens"]
    story_id = pub.atom_entries[0].findtext(f"{{{ATOM}}}id")
    # raising alice's priority later hands her the story, under the same id
    write_config(tmp_path, [{"name": "alice", "url": feed_server.url("/alice.xml"), "priority": 5},
                            {"name": "planet", "url": feed_server.url("/mirror.xml")}])
    assert cli("refresh", "--full", cwd=tmp_path).returncode == 0
    pub = published(tmp_path / "public")
    assert pub.titles() == ["Bridge reopens"] and pub.atom.entries[0].link == "https://alice.example/b"
    assert pub.atom_entries[0].findtext(f"{{{ATOM}}}id") == story_id


def test_posts_sharing_a_title_stay_apart(tmp_path, feed_server):
    weekly = [_post(f"https://{s}.example/weekly", f"{s}-w", title="Weekly update",
                    body=f"<p>{s.title()} team: " + " ".join(f"{s} item {n} shipped" for n in range(30)) + "</p>")
              for s in ("alpha", "beta")]
    feed_server.add("/a.xml", rss([weekly[0]]))
    feed_server.add("/b.xml", rss([weekly[1]]))
    write_config(tmp_path, [{"name": "a", "url": feed_server.url("/a.xml")},
                            {"name": "b", "url": feed_server.url("/b.xml")}])
    assert cli("refresh", cwd=tmp_path).returncode == 0
    assert published(tmp_path / "public").titles() == ["Weekly update", "Weekly update"]


def test_a_cms_migration_changing_every_guid_is_not_a_flood_of_re_posts(tmp_path, feed_server):
    posts = [{"title": f"Post number {n}", "link": f"https://blog.example/{2024}/post-{n}",
              "date": f"Wed, {n + 1:02d} May 2024 12:00:00 GMT", "content": f"<p>Body {n}.</p>"}
             for n in range(12)]
    feed_server.add("/feed.xml", rss([{**p, "guid": f"https://blog.example/?p={n}"} for n, p in enumerate(posts)]))
    write_config(tmp_path, [{"name": "blog", "url": feed_server.url("/feed.xml")}])
    assert cli("refresh", cwd=tmp_path).returncode == 0
    before = published(tmp_path / "public")
    ids = {e.findtext(f"{{{ATOM}}}title"): e.findtext(f"{{{ATOM}}}id") for e in before.atom_entries}
    assert len(ids) == 12

    # the migration: new guids for every post, tracking parameters on every link
    feed_server.add("/feed.xml", rss([{**p, "guid": f"tag:blog.example,2024:post-{n}",
                                       "link": p["link"] + "?utm_source=rss"} for n, p in enumerate(posts)]))
    r = cli("refresh", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "0 new" in r.stdout
    after = published(tmp_path / "public")
    assert {e.findtext(f"{{{ATOM}}}title"): e.findtext(f"{{{ATOM}}}id") for e in after.atom_entries} == ids
    assert len(after.rss_items) == 12
    # and the next refresh knows the new guids: unchanged
    r = cli("refresh", "--full", cwd=tmp_path)
    assert "12 unchanged" in r.stdout and "nothing changed" in r.stdout
