"""Themes (issue 20): ``output.templates: DIR`` replaces packaged templates by file name, the rest
stay packaged; ``feedsvc templates export DIR`` starts one; ``feedsvc check`` verifies one. All
through the CLI as subprocesses, the pages parsed back."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import lxml.html

from conftest import rss, write_config
from helpers_feedsvc import cli

THEME_INDEX = """<!DOCTYPE html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ site.title }} (our theme)</title>
<style>{% include "_style.css" %}</style></head>
<body><main id="content"><h1 class="themed">{{ site.title }}</h1>
<ul>{% for it in items %}<li class="themed-item"><a href="{{ it.link }}">{{ it.title }}</a> ({{ it.source }})</li>{% endfor %}</ul>
<ul>{% for s in sources %}<li class="themed-source">{{ s.title }}</li>{% endfor %}</ul>
</main></body></html>
"""


def site(tmp: Path, feed_server, **output) -> None:
    feed_server.add("/a.xml", rss([{"title": "Hello", "link": "https://a.example/1", "guid": "https://a.example/1",
                                    "permalink": True, "date": "Mon, 20 May 2024 08:00:00 +0000"}], title="Alpha"))
    (tmp / "articles").mkdir(exist_ok=True)
    (tmp / "articles" / "note.txt").write_text("A local note\n\nSome text.\n", encoding="utf-8")
    write_config(tmp, [{"name": "alpha", "url": feed_server.url("/a.xml")}, {"name": "local", "path": "articles"}],
                 output={"dir": "public", **output})


def ok(r):
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    return r


def packaged(name: str) -> bytes:
    return resources.files("feedsvc.output").joinpath("templates", name).read_bytes()


def test_a_theme_replaces_index_html_and_the_article_pages_stay_packaged(tmp_path, feed_server):
    theme = tmp_path / "theme"
    theme.mkdir()
    (theme / "index.html").write_text(THEME_INDEX, encoding="utf-8")
    site(tmp_path, feed_server, templates="theme")
    ok(cli("refresh", cwd=tmp_path))
    public = tmp_path / "public"
    doc = lxml.html.fromstring((public / "index.html").read_bytes())
    assert doc.xpath("string(//title)") == "Test Planet (our theme)"
    assert "Hello (Alpha)" in [li.text_content() for li in doc.xpath("//li[@class='themed-item']")]
    assert "Alpha" in {li.text_content() for li in doc.xpath("//li[@class='themed-source']")}
    assert "--fg:#1d1d1f" in doc.xpath("string(//style)")        # the packaged _style.css, included
    (article,) = (public / "articles").rglob("*.html")
    page = lxml.html.fromstring(article.read_bytes())
    assert page.xpath("string(//article[@class='page']/h1)") == "A local note"   # packaged article.html
    assert (public / "feed.xsl").read_bytes() == packaged("feed.xsl")

    # the style sheet and the feed stylesheet are replaced the same way, for every page
    (theme / "_style.css").write_text("body{color:#000;background:#ffe}", encoding="utf-8")
    (theme / "feed.xsl").write_bytes(packaged("feed.xsl").replace(b"This is a web feed", b"A feed of our planet"))
    ok(cli("publish", cwd=tmp_path))
    assert lxml.html.fromstring((public / "index.html").read_bytes()).xpath("string(//style)") == \
        "body{color:#000;background:#ffe}"
    assert "body{color:#000;background:#ffe}" in article.read_text(encoding="utf-8")
    assert b"A feed of our planet" in (public / "feed.xsl").read_bytes()

    # taking the theme out of the config brings the packaged pages back
    site(tmp_path, feed_server)
    ok(cli("publish", cwd=tmp_path))
    assert not lxml.html.fromstring((public / "index.html").read_bytes()).xpath("//li[@class='themed-item']")
    assert (public / "feed.xsl").read_bytes() == packaged("feed.xsl")


def test_an_edited_theme_is_published_by_the_next_refresh(tmp_path, feed_server):
    theme = tmp_path / "theme"
    theme.mkdir()
    (theme / "index.html").write_text(THEME_INDEX, encoding="utf-8")
    site(tmp_path, feed_server, templates="theme")
    ok(cli("refresh", cwd=tmp_path))
    (theme / "index.html").write_text(THEME_INDEX.replace("(our theme)", "(edited)"), encoding="utf-8")
    r = ok(cli("refresh", cwd=tmp_path))                 # nothing new in the feed
    assert "index.html" in r.stdout
    doc = lxml.html.fromstring((tmp_path / "public" / "index.html").read_bytes())
    assert doc.xpath("string(//title)") == "Test Planet (edited)"


def test_exported_templates_are_a_theme_that_changes_nothing(tmp_path, feed_server):
    site(tmp_path, feed_server)
    ok(cli("refresh", cwd=tmp_path))
    before = {p.relative_to(tmp_path / "public").as_posix(): p.read_bytes()
              for p in (tmp_path / "public").rglob("*") if p.is_file()}
    r = ok(cli("templates", "export", "mytheme", cwd=tmp_path))
    assert sorted(p.name for p in (tmp_path / "mytheme").iterdir()) == ["_style.css", "article.html", "feed.xsl",
                                                                         "index.html"]
    assert "output.templates: mytheme" in r.stdout
    site(tmp_path, feed_server, templates="mytheme")
    ok(cli("publish", cwd=tmp_path))
    after = {p.relative_to(tmp_path / "public").as_posix(): p.read_bytes()
             for p in (tmp_path / "public").rglob("*") if p.is_file()}
    assert after == before

    # an existing theme is never overwritten without --force
    (tmp_path / "mytheme" / "index.html").write_text("mine", encoding="utf-8")
    r = cli("templates", "export", "mytheme", cwd=tmp_path)
    assert r.returncode == 1 and "already holds index.html" in r.stderr and "--force" in r.stderr
    assert (tmp_path / "mytheme" / "index.html").read_text(encoding="utf-8") == "mine"
    ok(cli("templates", "export", "mytheme", "--force", cwd=tmp_path))
    assert (tmp_path / "mytheme" / "index.html").read_bytes() == packaged("index.html")


def test_check_verifies_the_theme_directory(tmp_path, feed_server):
    site(tmp_path, feed_server, templates="theme")
    r = cli("check", cwd=tmp_path)
    assert r.returncode == 2
    assert "output.templates: template directory" in r.stderr and "does not exist" in r.stderr
    theme = tmp_path / "theme"
    theme.mkdir()
    (theme / "index.html").write_text(THEME_INDEX, encoding="utf-8")
    (theme / "indx.html").write_text("a typo", encoding="utf-8")
    r = ok(cli("check", cwd=tmp_path))
    assert "replaces index.html" in r.stdout and "ignored" in r.stdout and "indx.html" in r.stdout
    (theme / "index.html").write_text("<p>\n{% for it in items %}\n{{ it.title }\n", encoding="utf-8")
    r = cli("check", cwd=tmp_path)
    assert r.returncode == 2 and "output.templates" in r.stderr and "index.html:3:" in r.stderr


def test_a_broken_theme_fails_the_publish_and_keeps_the_pages(tmp_path, feed_server):
    theme = tmp_path / "theme"
    theme.mkdir()
    site(tmp_path, feed_server)
    ok(cli("refresh", cwd=tmp_path))
    before = (tmp_path / "public" / "index.html").read_bytes()
    (theme / "index.html").write_text("<p>{{ no_such_variable }}</p>", encoding="utf-8")
    site(tmp_path, feed_server, templates="theme")
    r = cli("publish", cwd=tmp_path)
    assert r.returncode == 1
    assert "output.templates: index.html: 'no_such_variable' is undefined" in r.stderr
    assert "the previous files stay in place" in r.stderr
    assert (tmp_path / "public" / "index.html").read_bytes() == before
