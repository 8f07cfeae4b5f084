"""Curation at publish time (curate.py): keep/drop rules on each field, per-source limits and
overrides, topic feeds — pure on stored items, then end to end through ``feedsvc refresh`` and
``feedsvc publish`` with the published files parsed back."""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html

from feedsvc.config import parse_config
from feedsvc.model import Person
from feedsvc.output.curate import gather, select

from conftest import rss, write_config
from helpers_feedsvc import ATOM, T0, cli, item, published, stored

HEAD = """\
site: {title: T, url: "http://127.0.0.1:8080/"}
output: {max_items: 50}
"""


def config(tmp_path: Path, body: str, max_items: int = 50):
    head = HEAD.replace("max_items: 50", f"max_items: {max_items}")
    return parse_config(head + textwrap.dedent(body), tmp_path / "config.yaml")


def s(source="a", n=0, title=None, days_old=0, **kw):
    """A stored item of ``source``, ``days_old`` days before T0, newest first by n."""
    it = item(source=source, guid=f"{source}-{n}", title=title or f"{source} {n}",
              published=T0 - timedelta(days=days_old, minutes=n), **kw)
    return stored(it)


def titles(items):
    return [x.item.title for x in items]


SOURCES = """\
sources:
  - {name: a, url: "https://a.example/feed"}
  - {name: b, url: "https://b.example/feed"}
"""


def test_each_field_can_be_matched(tmp_path):
    items = [s("a", 0, "Sponsored: buy now"),
             s("a", 1, "Plain", content="<p>About <b>Rust</b> &amp; Python</p>"),
             s("a", 2, "Linked", link="https://a.example/drafts/x"),
             s("a", 3, "By Mallory", authors=(Person("Mallory", "m@evil.example"),)),
             s("a", 4, "Tagged", categories=("Ads", "news")),
             s("a", 5, "Kept")]
    for rule, hidden in [("{field: title, pattern: '(?i)^sponsored'}", "Sponsored: buy now"),
                         ("{field: content, pattern: 'Rust & Python'}", "Plain"),   # text, not markup
                         ("{field: link, pattern: '/drafts/'}", "Linked"),
                         ("{field: author, pattern: 'evil\\.example$'}", "By Mallory"),
                         ("{field: category, pattern: '^Ads$'}", "Tagged")]:
        cfg = config(tmp_path, SOURCES + f"filters:\n  drop:\n    - {rule}\n")
        got = titles(select(items, cfg, T0).combined)
        assert hidden not in got and len(got) == 5, (rule, got)


def test_an_id_is_published_once_even_if_two_stored_items_share_it(tmp_path):
    cfg = config(tmp_path, SOURCES)
    guid = "tag:example.org,2024:story"
    newer = stored(item(source="a", guid=guid, title="the copy from a", published=T0))
    older = stored(item(source="b", guid=guid, title="the copy from b", published=T0 - timedelta(days=1)))
    assert newer.item.id == older.item.id == "tag:example.org,2024:story"
    got = select([newer, s("b", 2, "other", days_old=0.5), older], cfg, T0).combined
    assert titles(got) == ["the copy from a", "other"]


def test_keep_rules_all_must_match_drop_rules_any(tmp_path):
    items = [s("a", 0, "python release", categories=("python",)),
             s("a", 1, "python news", categories=("python",)),
             s("a", 2, "rust release", categories=("rust",)),
             s("b", 3, "anything from b")]
    cfg = config(tmp_path, """\
        sources:
          - name: a
            url: "https://a.example/feed"
            keep:
              - {field: category, pattern: python}
              - {field: title, pattern: release}
          - {name: b, url: "https://b.example/feed"}
        filters:
          drop:
            - {field: title, pattern: never}
            - {field: title, pattern: "^anything"}
        """)
    # a's keep rules apply to a alone; the global drop list to every source
    assert titles(select(items, cfg, T0).combined) == ["python release"]


def test_per_source_limits_and_overrides(tmp_path):
    items = ([s("loud", n) for n in range(10)] + [s("quiet", 20 + n, days_old=n * 20) for n in range(3)]
             + [s("gone", 30, "from a removed source")])
    cfg = config(tmp_path, """\
        sources:
          - name: loud
            url: "https://loud.example/feed"
            max_items: 3
            author: "Loud Person"
            categories: [planet, loud]
          - name: quiet
            url: "https://quiet.example/feed"
            max_age: 30d
        filters:
          drop:
            - {field: category, pattern: "^nothing$"}
        """)
    got = select(sorted(items, key=lambda x: x.date, reverse=True), cfg, T0).combined
    # the item of a source no longer in the config is hidden (an unsubscribe), not published
    assert titles(got) == ["loud 0", "loud 1", "loud 2", "quiet 20", "quiet 21"]
    loud = got[0].item
    assert loud.authors == (Person("Loud Person"),) and loud.categories == ("planet", "loud")
    # an author the feed names is kept; categories are not repeated
    named = s("loud", 0, authors=(Person("Real"),), categories=("loud",))
    (one,) = select([named], cfg, T0).combined
    assert one.item.authors == (Person("Real"),) and one.item.categories == ("loud", "planet")


def test_topic_feeds_select_by_source_category_and_rule(tmp_path):
    cfg = config(tmp_path, SOURCES + textwrap.dedent("""\
        outputs:
          - {path: b-only, title: "B", sources: [b]}
          - {path: releases, title: "Releases", categories: [RELEASE]}
          - path: no-drafts
            title: "No drafts"
            max_items: 2
            drop: [{field: link, pattern: /drafts/}]
        """))
    items = [s("a", 0, "a release", categories=("release",)),
             s("a", 1, "a story also in b"),
             s("b", 2, "b draft", link="https://b.example/drafts/1"),
             s("a", 3, "a plain")]
    items[1] = stored(items[1].item, also_in=("b",))
    got = select(items, cfg, T0)
    assert titles(got.combined) == ["a release", "a story also in b", "b draft", "a plain"]
    assert titles(got.topics["b-only"]) == ["a story also in b", "b draft"]
    assert titles(got.topics["releases"]) == ["a release"]
    assert titles(got.topics["no-drafts"]) == ["a release", "a story also in b"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y", "z"]),
                          st.integers(0, 60)), max_size=60),
       st.integers(1, 8), st.integers(1, 5))
def test_gather_reads_a_prefix_and_equals_the_whole_store(tmp_path_factory, rows, max_items, per_source):
    tmp = tmp_path_factory.mktemp("g")
    cfg = config(tmp, f"""\
        sources:
          - {{name: a, url: "https://a.example/f", max_items: {per_source}, max_age: 30d}}
          - {{name: b, url: "https://b.example/f", keep: [{{field: title, pattern: "x|y"}}]}}
          - {{name: c, url: "https://c.example/f"}}
        outputs:
          - {{path: t, title: T, max_items: 3, keep: [{{field: title, pattern: z}}]}}
        """, max_items=max_items)
    items = sorted((s(src, n, f"{src} {word} {n}", days_old=age) for n, (src, word, age) in enumerate(rows)),
                   key=lambda x: (-x.date.timestamp(), x.item.id))
    asked: list[int] = []

    def newest(limit: int):
        asked.append(limit)
        return items[:limit]

    got = gather(newest, cfg, T0)
    whole = select(items, cfg, T0)
    assert titles(got.combined) == titles(whole.combined)[:max_items]
    assert titles(got.topics["t"]) == titles(whole.topics["t"])
    assert asked == sorted(asked)


def test_without_curation_publish_reads_exactly_max_items(tmp_path):
    cfg = config(tmp_path, SOURCES)
    asked: list[int] = []
    gather(lambda n: asked.append(n) or [], cfg, T0)
    assert asked == [50]


# ---- end to end: rules applied to the store by `feedsvc publish` ----------------------------------

def _feed(n_items: int, prefix: str, **extra):
    return rss([{"title": f"{prefix} {i}", "guid": f"{prefix}-{i}", "link": f"https://{prefix}.example/{i}",
                 "date": f"Wed, {i + 1:02d} May 2024 12:00:00 GMT", **extra} for i in range(n_items)],
               title=f"{prefix} feed", link=f"https://{prefix}.example/")


def _rewrite(cfg_path: Path, change) -> None:
    data = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    change(data)
    cfg_path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_changing_rules_and_republishing_applies_them_to_stored_items(tmp_path, feed_server):
    feed_server.add("/loud.xml", _feed(8, "loud"))
    feed_server.add("/quiet.xml", rss([
        {"title": "Sponsored: a mattress", "guid": "q1", "link": "https://quiet.example/1",
         "date": "Wed, 01 May 2024 10:00:00 GMT"},
        {"title": "A real post", "guid": "q2", "link": "https://quiet.example/2",
         "date": "Wed, 01 May 2024 11:00:00 GMT", "categories": ["python"]},
    ], title="quiet feed", link="https://quiet.example/"))
    cfg_path = write_config(tmp_path, [{"name": "loud", "url": feed_server.url("/loud.xml")},
                                       {"name": "quiet", "url": feed_server.url("/quiet.xml")}])
    r = cli("refresh", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    public = tmp_path / "public"
    assert len(published(public).titles()) == 10
    hits = len(feed_server.hits)

    def tighten(d):
        d["filters"] = {"drop": [{"field": "title", "pattern": "(?i)sponsored"}]}
        d["sources"][0].update(max_items=3, title="The Loud One", author="Loud Author", categories=["noise"])
        d["outputs"] = [{"path": "python", "title": "Python posts", "categories": ["python"]},
                        {"path": "loud", "title": "Loud only", "sources": ["loud"]}]

    _rewrite(cfg_path, tighten)
    r = cli("publish", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "python/atom.xml" in r.stdout and "loud/rss.xml" in r.stdout
    pub = published(public)
    assert sorted(pub.titles()) == ["A real post", "loud 5", "loud 6", "loud 7"]
    assert pub.rss_titles() == pub.titles()
    entry = pub.atom_entry("loud 7")
    assert entry.findtext(f"{{{ATOM}}}source/{{{ATOM}}}title") == "The Loud One"
    assert entry.findtext(f"{{{ATOM}}}author/{{{ATOM}}}name") == "Loud Author"
    assert "noise" in [c.get("term") for c in entry.findall(f"{{{ATOM}}}category")]
    # topic feeds, beside the combined one, with their own title and self link
    py = published(public / "python")
    assert py.titles() == ["A real post"] and py.atom.feed.title == "Python posts"
    assert py.atom_xml.find(f"{{{ATOM}}}link[@rel='self']").get("href") == "http://127.0.0.1:8080/python/atom.xml"
    assert py.atom.feed.id != pub.atom.feed.id
    assert published(public / "loud").titles() == ["loud 7", "loud 6", "loud 5"]
    # every enabled format for topic feeds too, each with its own address, all on index.html
    topic_json = json.loads((public / "python" / "feed.json").read_bytes())
    assert [i["title"] for i in topic_json["items"]] == ["A real post"]
    assert topic_json["feed_url"] == "http://127.0.0.1:8080/python/feed.json"
    assert (public / "python" / "atom.xml").read_bytes().count(b'href="../feed.xsl"') == 1
    index = lxml_html.fromstring((public / "index.html").read_bytes())
    alternates = {l.get("href") for l in index.iter("link") if l.get("rel") == "alternate"}
    assert {"http://127.0.0.1:8080/python/atom.xml", "http://127.0.0.1:8080/loud/rss.xml",
            "http://127.0.0.1:8080/python/feed.json", "http://127.0.0.1:8080/atom.xml"} <= alternates
    (topics,) = [n for n in index.iter("nav") if n.get("aria-label") == "Topic feeds"]
    assert "Python posts" in topics.text_content() and "Loud only" in topics.text_content()
    assert {a.get("href") for a in topics.iter("a")} >= {"python/atom.xml", "loud/feed.json"}
    assert len(feed_server.hits) == hits                         # publish never touched the network

    # loosening the rules brings the hidden items back: they were hidden, not deleted
    _rewrite(cfg_path, lambda d: (d.pop("filters"), d["sources"][0].pop("max_items")))
    assert cli("publish", cwd=tmp_path).returncode == 0
    assert len(published(public).titles()) == 10
    assert "Sponsored: a mattress" in published(public).titles()
    # and republishing with nothing changed writes nothing
    r = cli("publish", cwd=tmp_path)
    assert r.returncode == 0 and "nothing changed" in r.stdout
    # a topic feed removed from the config is removed from the output (not left to go stale)
    _rewrite(cfg_path, lambda d: d["outputs"].pop())
    r = cli("publish", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (public / "loud").exists() and "loud/atom.xml" in r.stdout
    assert published(public / "python").titles() == ["A real post"]
    assert "Loud only" not in (public / "index.html").read_text(encoding="utf-8")


def test_a_source_removed_from_the_config_is_hidden_and_comes_back_when_re_added(tmp_path, feed_server):
    feed_server.add("/keep.xml", _feed(3, "keep"))
    feed_server.add("/gone.xml", _feed(4, "gone"))
    cfg_path = write_config(tmp_path, [{"name": "keep", "url": feed_server.url("/keep.xml")},
                                       {"name": "gone", "url": feed_server.url("/gone.xml")}])
    assert cli("refresh", cwd=tmp_path).returncode == 0
    public = tmp_path / "public"
    assert len(published(public).titles()) == 7
    original = cfg_path.read_text(encoding="utf-8")
    _rewrite(cfg_path, lambda d: d["sources"].pop(1))          # unsubscribe from "gone"
    r = cli("publish", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    pub = published(public)
    assert sorted(pub.titles()) == ["keep 0", "keep 1", "keep 2"]
    assert pub.rss_titles() == pub.titles()
    cfg_path.write_text(original, encoding="utf-8")            # re-subscribe: nothing was deleted
    assert cli("publish", cwd=tmp_path).returncode == 0
    assert len(published(public).titles()) == 7


def test_status_lists_topic_feeds(tmp_path, feed_server):
    feed_server.add("/f.xml", _feed(3, "f", categories=["release"]))
    write_config(tmp_path, [{"name": "f", "url": feed_server.url("/f.xml")}],
                 outputs=[{"path": "releases", "title": "Releases", "categories": ["release"]}])
    assert cli("refresh", cwd=tmp_path).returncode == 0
    r = cli("status", cwd=tmp_path)
    assert r.returncode == 0
    assert f"output: {tmp_path / 'public' / 'releases' / 'atom.xml'}: 3 items" in r.stdout
