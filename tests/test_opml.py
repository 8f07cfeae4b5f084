"""OPML in: ``sources_opml`` merged with the YAML sources, ``feedsvc sources import`` printing YAML
that gives the same sources, and malformed or hostile OPML as one clear error naming the file and
line (exit 2, no traceback)."""

from __future__ import annotations

import textwrap

import pytest

from feedsvc.config import NAME_RE, load_config
from feedsvc.config.opml import OpmlError, parse_opml

from conftest import rss, write_config
from helpers_feedsvc import cli, published

READER_EXPORT = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- as a feed reader exports it: folders, text and title, the same feed in two folders -->
<opml version="2.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="Tech" title="Tech">
      <outline type="rss" text="Alice's Blog" title="Alice's Blog" xmlUrl="https://alice.example/feed.xml"
               htmlUrl="https://alice.example/"/>
      <outline type="rss" text="Ünïcode Nëws — daily!" xmlUrl="https://news.example/rss"/>
    </outline>
    <outline text="Friends">
      <outline type="rss" text="Alice's Blog" xmlUrl="https://alice.example/feed.xml"/>
      <outline type="rss" text="Alice's Blog" xmlUrl="https://other-alice.example/atom"/>
      <outline type="rss" text="" xmlUrl="https://www.bob.example/index.xml"/>
      <outline type="rss" text="日本語のブログ" xmlUrl="https://jp.example/feed"/>
    </outline>
    <outline text="A folder with no feeds"/>
  </body>
</opml>
"""


def test_reader_export_gives_valid_unique_names():
    entries = parse_opml(READER_EXPORT.encode(), "subs.opml")
    assert [(e.name, e.url, e.title) for e in entries] == [
        ("alice-s-blog", "https://alice.example/feed.xml", "Alice's Blog"),
        ("unicode-news-daily", "https://news.example/rss", "Ünïcode Nëws — daily!"),
        ("alice-s-blog-2", "https://other-alice.example/atom", "Alice's Blog"),
        ("bob-example", "https://www.bob.example/index.xml", None),
        ("jp-example", "https://jp.example/feed", "日本語のブログ"),
    ]
    assert all(NAME_RE.match(e.name) for e in entries)
    assert entries[0].home == "https://alice.example/" and entries[0].line == 7


MALFORMED = {
    "unclosed element": ("<opml version='2.0'><body>\n<outline text='a' xmlUrl='https://a.example/f'>\n</body></opml>",
                         3, "mismatched tag"),
    "not xml at all": ("this is not OPML\n", 1, "malformed OPML"),
    "empty file": ("", 1, "malformed OPML"),
    "another root": ("<?xml version='1.0'?>\n<rss version='2.0'><channel/></rss>", 2, "not an OPML file"),
    "feed url not http": ("<opml><body>\n\n<outline text='x' xmlUrl='javascript:alert(1)'/></body></opml>", 3,
                          "xmlUrl must be an http(s) URL"),
    "billion laughs": ("<?xml version='1.0'?>\n<!DOCTYPE opml [\n<!ENTITY a 'aaaaaaaaaa'>\n"
                       + "".join(f"<!ENTITY {chr(98 + i)} '&{chr(97 + i)};&{chr(97 + i)};&{chr(97 + i)};'>\n"
                                 for i in range(10))
                       + "]>\n<opml><body><outline text='&k;' xmlUrl='https://a.example/f'/></body></opml>",
                       3, "entity declarations are not allowed"),
    "external entity": ("<?xml version='1.0'?>\n<!DOCTYPE opml [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>\n"
                        "<opml><body><outline text='&x;' xmlUrl='https://a.example/f'/></body></opml>",
                        2, "entity declarations are not allowed"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_opml_names_file_and_line(case):
    text, line, words = MALFORMED[case]
    with pytest.raises(OpmlError) as ei:
        parse_opml(text.encode(), "subs.opml")
    assert ei.value.line == line and words in str(ei.value)
    assert str(ei.value).startswith(f"subs.opml:{line}: ")


@pytest.mark.parametrize("case", ["unclosed element", "billion laughs", "feed url not http"])
def test_malformed_opml_is_exit_2_from_import_and_from_the_config(tmp_path, case):
    text, line, words = MALFORMED[case]
    (tmp_path / "subs.opml").write_text(text, encoding="utf-8")
    r = cli("sources", "import", "subs.opml", cwd=tmp_path)
    assert r.returncode == 2 and f"subs.opml:{line}: " in r.stderr and words in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    write_config(tmp_path, [{"name": "local", "path": "articles"}], sources_opml="subs.opml")
    for command in ("check", "refresh"):
        r = cli(command, cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert f"subs.opml:{line}: " in r.stderr and words in r.stderr
        assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0
    assert not (tmp_path / "state").exists()


def test_missing_opml_file_names_the_key(tmp_path):
    write_config(tmp_path, [], sources_opml="nowhere.opml")
    r = cli("check", cwd=tmp_path)
    assert r.returncode == 2 and "sources_opml" in r.stderr and "nowhere.opml" in r.stderr
    r = cli("sources", "import", "nowhere.opml", cwd=tmp_path)
    assert r.returncode == 2 and "nowhere.opml" in r.stderr and "Traceback" not in r.stderr


def test_opml_sources_merge_with_yaml_which_wins_on_a_clash(tmp_path):
    (tmp_path / "subs.opml").write_text(READER_EXPORT, encoding="utf-8")
    path = write_config(tmp_path, [
        {"name": "alice-s-blog", "url": "https://alice.example/other.xml", "title": "Alice (YAML)"},
        {"name": "bob", "url": "https://www.bob.example/index.xml", "interval": "1h"},
    ], sources_opml="subs.opml")
    cfg = load_config(path)
    got = [(s.name, s.url, s.title, s.from_opml) for s in cfg.sources]
    assert got == [
        ("alice-s-blog", "https://alice.example/other.xml", "Alice (YAML)", False),   # name clash: YAML
        ("bob", "https://www.bob.example/index.xml", None, False),                    # URL clash: YAML
        ("unicode-news-daily", "https://news.example/rss", "Ünïcode Nëws — daily!", True),
        ("alice-s-blog-2", "https://other-alice.example/atom", "Alice's Blog", True),
        ("jp-example", "https://jp.example/feed", "日本語のブログ", True),
    ]
    assert cfg.sources_opml == (tmp_path / "subs.opml").resolve()
    assert all(s.interval == cfg.interval for s in cfg.sources if s.from_opml)


def test_sources_import_prints_yaml_giving_the_same_sources(tmp_path):
    (tmp_path / "subs.opml").write_text(READER_EXPORT, encoding="utf-8")
    via_opml = load_config(write_config(tmp_path, [], sources_opml="subs.opml"))
    r = cli("sources", "import", "subs.opml", cwd=tmp_path)     # no config needed
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# 5 feeds from subs.opml")
    pasted = tmp_path / "pasted"
    pasted.mkdir()
    (pasted / "config.yaml").write_text(textwrap.dedent("""\
        site: {title: T, url: "http://127.0.0.1:8080/"}
        sources:
        """) + r.stdout, encoding="utf-8")
    via_yaml = load_config(pasted / "config.yaml")
    key = lambda c: [(s.name, s.url, s.title, s.kind, s.interval) for s in c.sources]  # noqa: E731
    assert key(via_yaml) == key(via_opml) and len(via_yaml.sources) == 5


def test_a_published_style_opml_round_trips(tmp_path):
    # what a feedsvc sources.opml lists (one outline per remote source, title and xmlUrl):
    # importing it gives the same sources back
    cfg = load_config(write_config(tmp_path, [
        {"name": "python-blog", "url": "https://blog.python.org/feeds/posts/default", "title": "Python Blog"},
        {"name": "lwn", "url": "https://lwn.net/headlines/rss", "title": "LWN.net"},
    ]))
    outlines = "".join(f'<outline type="rss" text="{s.title}" title="{s.title}" xmlUrl="{s.url}"/>'
                       for s in cfg.sources)
    entries = parse_opml(f'<opml version="2.0"><head/><body>{outlines}</body></opml>'.encode(), "sources.opml")
    assert [(e.name, e.url, e.title) for e in entries] == \
        [("python-blog", "https://blog.python.org/feeds/posts/default", "Python Blog"),
         ("lwn-net", "https://lwn.net/headlines/rss", "LWN.net")]


def test_opml_sources_are_refreshed_and_published(tmp_path, feed_server):
    a = feed_server.add("/a.xml", rss([{"title": "From OPML A", "guid": "a1", "link": "https://a.example/1"}],
                                      title="Feed A"))
    b = feed_server.add("/b.xml", rss([{"title": "From OPML B", "guid": "b1", "link": "https://b.example/1"}],
                                      title="Feed B"))
    (tmp_path / "subs.opml").write_text(
        f'<opml version="1.0"><body><outline text="Feed A" xmlUrl="{a}"/>'
        f'<outline text="Feed B" xmlUrl="{b}"/></body></opml>', encoding="utf-8")
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "hello.txt").write_text("Local hello\n\nBody.\n", encoding="utf-8")
    write_config(tmp_path, [{"name": "local", "path": "articles"}], sources_opml="subs.opml")
    r = cli("refresh", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "feed-a" in r.stdout and "feed-b" in r.stdout
    assert sorted(published(tmp_path / "public").titles()) == ["From OPML A", "From OPML B", "Local hello"]
    # the OPML title is the display name in atom:source
    src = published(tmp_path / "public").atom_entry("From OPML A").find("{http://www.w3.org/2005/Atom}source")
    assert src.findtext("{http://www.w3.org/2005/Atom}title") == "Feed A"
