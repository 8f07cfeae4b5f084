"""index.html and the article pages as a reader sees them (issue 20): no "Alice's blog · by Alice's
blog", topic feeds listed without their title twice, full posts on the front page
(``output.front_page: full``), the sources list (blogroll) and the sources' faces.

Everything end to end: a real feed on 127.0.0.1, ``feedsvc refresh``/``publish`` as subprocesses,
the pages parsed back with lxml."""

from __future__ import annotations

import struct
import zlib
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import lxml.html

from conftest import rss, write_config
from feedcheck import ATOM, parse_xml
from helpers_feedsvc import cli

NEWEST = datetime(2024, 5, 28, 9, 0, tzinfo=timezone.utc)


def png(width: int = 4, height: int = 4, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A real PNG image (browsers decode it)."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def entry(i: int, **kw) -> dict:
    link = f"https://alice.example/p/{i}"
    return {"title": f"Post {i}", "link": link, "guid": link, "permalink": True,
            "date": format_datetime(NEWEST - timedelta(days=i)), "description": f"<p>Post number {i}.</p>", **kw}


def ok(r):
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    return r


def page(tmp: Path, name: str = "index.html") -> lxml.html.HtmlElement:
    return lxml.html.fromstring((tmp / "public" / name).read_bytes())


def articles(doc) -> dict[str, lxml.html.HtmlElement]:
    return {a.xpath("string(.//h3)"): a for a in doc.xpath("//main//article")}


def test_an_author_who_is_the_source_itself_is_not_printed_twice(tmp_path, feed_server):
    feed_server.add("/alice.xml", rss([entry(0), entry(1, author="  alice's   BLOG "), entry(2, author="Bob Example")],
                                      title="Alice's blog", link="https://alice.example/"))
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "note.txt").write_text("A note\n\nBody text.\n\nAuthor: Our Articles\n", encoding="utf-8")
    write_config(tmp_path, [{"name": "alice", "url": feed_server.url("/alice.xml")},
                            {"name": "local", "path": "articles", "title": "Our articles"}])
    ok(cli("refresh", cwd=tmp_path))
    arts = articles(page(tmp_path))
    meta = {t: " ".join(a.xpath("string(.//p[@class='meta'])").split()) for t, a in arts.items()}
    assert meta["Post 0"] == "Alice's blog · 28 May 2024"            # no author: the source, once
    assert meta["Post 1"] == "Alice's blog · 27 May 2024"            # the author is the source's name
    assert meta["Post 2"] == "Alice's blog · by Bob Example · 26 May 2024"
    assert not arts["Post 0"].xpath(".//*[@class='author']")
    assert "by Our Articles" not in meta["A note"] and meta["A note"].startswith("Our articles · ")
    # the feeds keep their author fallback: every Atom entry still names one
    atom = parse_xml((tmp_path / "public" / "atom.xml").read_bytes())
    names = {e.findtext(f"{{{ATOM}}}title"): e.findtext(f"{{{ATOM}}}author/{{{ATOM}}}name")
             for e in atom.findall(f"{{{ATOM}}}entry")}
    assert names["Post 0"] == "Alice's blog" and names["Post 2"] == "Bob Example"
    # the article page of the local article says its source once too
    (article_page,) = (tmp_path / "public" / "articles").rglob("*.html")
    doc = lxml.html.fromstring(article_page.read_bytes())
    assert " ".join(doc.xpath("string(//p[@class='meta'])").split()).count("Our articles") == 1


def test_a_topic_feed_is_listed_with_its_description_only_when_it_has_one(tmp_path, feed_server):
    feed_server.add("/alice.xml", rss([entry(0)], title="Alice's blog"))
    write_config(tmp_path, [{"name": "alice", "url": feed_server.url("/alice.xml")}],
                 site={"title": "Community Planet", "url": "http://127.0.0.1:8080/"},
                 outputs=[{"path": "security", "title": "Community Planet: security"},
                          {"path": "releases", "title": "Community Planet: releases",
                           "description": "New versions, as they ship"}])
    ok(cli("refresh", cwd=tmp_path))
    items = [" ".join(li.text_content().split()) for li in page(tmp_path).xpath("//nav[@aria-label='Topic feeds']//li")]
    assert items[0] == "Community Planet: security — Atom RSS JSON Feed"
    assert items[1] == "Community Planet: releases: New versions, as they ship — Atom RSS JSON Feed"
    # the feeds themselves still carry a description (the title, by default)
    sec = parse_xml((tmp_path / "public" / "security" / "rss.xml").read_bytes())
    assert sec.findtext("channel/description") == "Community Planet: security"


POST = ('<h1>A heading inside the post</h1><p>See <a href="https://alice.example/more">more</a>.</p>'
        '<img src="https://img.alice.example/photo.jpg" alt="a photo"><script>alert(1)</script>'
        '<h2>Part two</h2><p>End.</p>')


def test_the_front_page_shows_full_posts_when_asked(tmp_path, feed_server):
    feed_server.add("/alice.xml", rss([entry(0, content=POST), entry(1)], title="Alice's blog"))
    write_config(tmp_path, [{"name": "alice", "url": feed_server.url("/alice.xml")}])
    ok(cli("refresh", cwd=tmp_path))
    summary = articles(page(tmp_path))
    assert not page(tmp_path).xpath("//main//img") and not page(tmp_path).xpath("//*[@class='content']")
    assert summary["Post 0"].xpath("string(.//p[@class='summary'])") == "Post number 0."   # plain text

    write_config(tmp_path, [{"name": "alice", "url": feed_server.url("/alice.xml")}],
                 output={"dir": "public", "front_page": "full"})
    ok(cli("publish", cwd=tmp_path))
    doc = page(tmp_path)
    full = articles(doc)["Post 0"]
    (content,) = full.xpath(".//div[@class='content']")
    assert content.xpath(".//a/@href") == ["https://alice.example/more"]
    (img,) = content.xpath(".//img")
    assert (img.get("src"), img.get("alt"), img.get("loading"), img.get("referrerpolicy")) == \
        ("https://img.alice.example/photo.jpg", "a photo", "lazy", "no-referrer")
    # the post's headings sit below its title: one h1 on the page, the outline kept
    assert [h.text_content() for h in doc.xpath("//h1")] == ["Test Planet"]
    assert [h.tag for h in content.xpath(".//h4|.//h5")] == ["h4", "h5"]
    assert not doc.xpath("//script") and "alert(1)" not in lxml.html.tostring(doc, encoding="unicode")
    # an item with only a summary shows it as HTML
    assert articles(doc)["Post 1"].xpath("string(.//div[@class='content'])").strip() == "Post number 1."
    assert doc.xpath("//header") and doc.xpath("//main") and doc.xpath("//footer") and doc.xpath("//a[@class='skip']")


def test_front_page_takes_summary_or_full_only(tmp_path):
    write_config(tmp_path, [], output={"dir": "public", "front_page": "everything"})
    r = cli("check", cwd=tmp_path)
    assert r.returncode == 2
    assert "output.front_page: 'everything' is not a front page style (use one of: summary, full)" in r.stderr


def _blogroll(doc) -> dict[str, dict]:
    (aside,) = doc.xpath("//aside[@aria-labelledby]")
    heading = doc.get_element_by_id(aside.get("aria-labelledby"))
    assert heading.text_content() == "Sources" and heading.getparent() is aside
    out = {}
    for li in aside.xpath(".//li"):
        out[li.xpath("string(.//*[@class='name'])").strip()] = {
            "home": li.xpath(".//*[@class='name']/a/@href"),
            "feed": li.xpath(".//*[@class='links']/a/@href"),
            "last": li.xpath(".//time/@datetime"),
            "face": li.xpath(".//img/@src"),
            "alt": li.xpath(".//img/@alt"),
        }
    return out


def test_the_sources_list_names_each_source_with_its_site_feed_and_last_post(tmp_path, feed_server):
    feed_server.add("/alice.xml", rss([entry(3), entry(5)], title="Alice's blog", link="https://alice.example/"))
    feed_server.add("/bob.xml", rss([], title="Bob's notes", link="https://bob.example/"))
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "a.txt").write_text("Hello\n\nText.\n\nDate: 2024-05-01T10:00:00Z\n", encoding="utf-8")
    write_config(tmp_path, [{"name": "alice", "url": feed_server.url("/alice.xml")},
                            {"name": "bob", "url": feed_server.url("/bob.xml")},
                            {"name": "local", "path": "articles", "title": "Our articles"}])
    ok(cli("refresh", cwd=tmp_path))
    doc = page(tmp_path)
    roll = _blogroll(doc)
    assert list(roll) == ["Alice's blog", "Bob's notes", "Our articles"]      # alphabetical
    assert roll["Alice's blog"] == {"home": ["https://alice.example/"], "feed": [feed_server.url("/alice.xml")],
                                    "last": ["2024-05-25T09:00:00+00:00"], "face": [], "alt": []}
    assert roll["Bob's notes"]["last"] == [] and roll["Bob's notes"]["feed"] == [feed_server.url("/bob.xml")]
    assert roll["Our articles"]["feed"] == [] and roll["Our articles"]["last"] == ["2024-05-01T10:00:00+00:00"]
    # after the articles in the document (a small screen reads them first), outside main
    body = list(doc.body.iter())
    assert body.index(doc.xpath("//aside")[0]) > body.index(doc.xpath("//main//article")[-1])
    assert not doc.xpath("//main//aside")


def test_a_face_is_copied_into_the_output_and_shown_beside_the_sources_posts(tmp_path, feed_server):
    feed_server.add("/alice.xml", rss([entry(0), entry(1)], title="Alice's blog"))
    feed_server.add("/bob.xml", rss([entry(9) | {"link": "https://bob.example/9", "guid": "https://bob.example/9"}],
                                    title="Bob"))
    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "alice.png").write_bytes(png())
    (tmp_path / "faces" / "desk.gif").write_bytes(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    (tmp_path / "articles" / "2024").mkdir(parents=True)
    (tmp_path / "articles" / "2024" / "note.txt").write_text("A note\n\nText.\n", encoding="utf-8")
    sources = [{"name": "alice", "url": feed_server.url("/alice.xml"), "face": "faces/alice.png"},
               {"name": "bob", "url": feed_server.url("/bob.xml")},
               {"name": "desk", "path": "articles", "face": "faces/desk.gif"}]
    write_config(tmp_path, sources)
    ok(cli("refresh", cwd=tmp_path))
    public = tmp_path / "public"
    assert (public / "faces" / "alice.png").read_bytes() == png()
    assert (public / "faces" / "desk.gif").is_file()
    (note,) = (public / "articles").rglob("note.html")
    (img,) = lxml.html.fromstring(note.read_bytes()).xpath("//article//img[@class='face']")
    assert (note.parent / img.get("src")).resolve() == (public / "faces" / "desk.gif").resolve()
    doc = page(tmp_path)
    arts = articles(doc)
    for title in ("Post 0", "Post 1"):
        (img,) = arts[title].xpath(".//img")
        assert img.get("src") == "faces/alice.png" and img.get("alt") == ""   # the name is right beside it
    assert not arts["Post 9"].xpath(".//img")
    assert articles(doc)["A note"].xpath(".//img/@src") == ["faces/desk.gif"]
    assert _blogroll(doc)["Alice's blog"]["face"] == ["faces/alice.png"]
    # every image on the page comes from the planet itself
    assert all(not src.startswith(("http:", "https:", "//")) for src in doc.xpath("//img/@src"))

    # a new picture under the same name is published; a face taken out of the config is removed
    (tmp_path / "faces" / "alice.png").write_bytes(png(rgb=(10, 90, 200)))
    ok(cli("refresh", cwd=tmp_path))
    assert (public / "faces" / "alice.png").read_bytes() == png(rgb=(10, 90, 200))
    write_config(tmp_path, [{k: v for k, v in s.items() if k != "face"} for s in sources])
    ok(cli("publish", cwd=tmp_path))
    assert not (public / "faces").exists() and not page(tmp_path).xpath("//img")
    assert not lxml.html.fromstring(note.read_bytes()).xpath("//img")


def test_a_face_must_be_an_image_file_or_an_http_url(tmp_path):
    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "notes.png").write_text("not an image", encoding="utf-8")
    (tmp_path / "faces" / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>", encoding="utf-8")
    for face, message in [
        ("ftp://alice.example/me.png", "sources[0].face: 'ftp://alice.example/me.png': a face is a "
                                       "local image file or an http(s) URL"),       # http(s): tests/test_faces_remote.py
        ("faces/missing.png", "sources[0].face: image file"),
        ("faces/notes.png", "is not a PNG, JPEG, GIF, WebP or AVIF image"),
        ("faces/logo.svg", "SVG is not accepted"),
    ]:
        write_config(tmp_path, [{"name": "alice", "url": "https://alice.example/feed", "face": face}])
        r = cli("check", cwd=tmp_path)
        assert r.returncode == 2, face
        assert message in r.stderr and "config.yaml:" in r.stderr, (face, r.stderr)
