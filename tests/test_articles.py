"""Local article files → raw entries (pure parsing) and the directory scan (real files)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest

from feedsvc.sources.articles import ArticleSkipped, decode_text, page_path, parse_article, scan

from conftest import REPO

SAMPLE = REPO / "articles" / "liaison-office.txt"


class _Text(HTMLParser):
    """Collects the text of each <p> of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.paras: list[str] = []
        self._cur: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "p":
            self._cur = []

    def handle_endtag(self, tag):
        if tag == "p" and self._cur is not None:
            self.paras.append(" ".join("".join(self._cur).split()))
            self._cur = None

    def handle_data(self, data):
        if self._cur is not None:
            self._cur.append(data)


def paragraphs(fragment: str) -> list[str]:
    p = _Text()
    p.feed(fragment)
    return p.paras


def source_paragraphs(text: str) -> list[str]:
    """The body paragraphs a reader of the .txt file sees: blank-line separated, minus the title
    line and the metadata lines."""
    lines = text.replace("\r\n", "\n").split("\n")
    while not lines[0].strip():
        lines.pop(0)
    lines.pop(0)  # the title
    kept = [ln for ln in lines if not ln.startswith(("Author:", "Date:", "Tags:", "Link:", "Id:"))]
    return [" ".join(p.split()) for p in "\n".join(kept).split("\n\n") if p.strip()]


# ---- the sample article ------------------------------------------------------------------------

def test_sample_article_keeps_title_author_and_every_paragraph():
    data = SAMPLE.read_bytes()
    parsed = parse_article("articles", "liaison-office.txt", data)
    e = parsed.entry
    assert e.title == "As US-North Korea talks falter, Pyongyang and Seoul strengthen lines of dialogue"
    assert [a.name for a in e.authors] == ["D. Parvaz"]
    got = paragraphs(e.content or "")
    want = source_paragraphs(data.decode("utf-8"))
    assert len(want) == 15                                     # 17 blocks minus title and Author:
    assert got == want
    assert got[-1] == "Just a figment of your imagination."     # the line after Author: is body
    assert "Author:" not in (e.content or "")
    assert e.published is None                                  # no Date: → time first seen, later
    assert parsed.warnings == ()


def test_every_sample_article_parses():
    for path in sorted((REPO / "articles").iterdir()):
        parsed = parse_article("articles", path.name, path.read_bytes())
        assert parsed.entry.title and parsed.entry.content
        assert parsed.warnings == ()


# ---- plain text -------------------------------------------------------------------------------

def test_metadata_lines_are_removed_from_body_and_read():
    text = ("\n\nCommunity garden doubles\n\nFirst paragraph\nspans two lines.\n\nSecond & <last>.\n\n"
            "Author: Priya Natarajan\nDate: 2026-11-22T16:00:00+01:00\nTags: local, gardening\n"
            "Link: https://garden.example.org/news/1\nId: garden-2026-1\n")
    e = parse_article("s", "g.txt", text.encode()).entry
    assert e.title == "Community garden doubles"
    assert [a.name for a in e.authors] == ["Priya Natarajan"]
    assert e.published == datetime(2026, 11, 22, 15, 0, tzinfo=timezone.utc)
    assert e.categories == ("local", "gardening")
    assert e.link == "https://garden.example.org/news/1"
    assert e.guid == "garden-2026-1"
    assert paragraphs(e.content or "") == ["First paragraph spans two lines.", "Second & <last>."]
    assert "&lt;last&gt;" in (e.content or "")                 # escaped, not markup
    for word in ("Author", "Date", "Tags", "Link", "Id:", "Priya", "gardening", "garden-2026-1"):
        assert word not in (e.content or "")


def test_line_right_after_author_line_is_body_even_without_a_blank_line():
    text = "Title\n\nBody.\n\nAuthor: Jane Doe\nJust a figment of your imagination.\n"
    e = parse_article("s", "a.txt", text.encode()).entry
    assert [a.name for a in e.authors] == ["Jane Doe"]
    assert paragraphs(e.content or "") == ["Body.", "Just a figment of your imagination."]


def test_lines_that_only_look_like_metadata_stay_in_the_body():
    text = ("Title\n\nNote: unknown keys are prose.\n\nAuthor: First\n\nAuthor: Second is prose now\n\n"
            "Date: to be announced\n")
    parsed = parse_article("s", "a.txt", text.encode())
    e = parsed.entry
    assert [a.name for a in e.authors] == ["First"]
    assert paragraphs(e.content or "") == ["Note: unknown keys are prose.", "Author: Second is prose now",
                                           "Date: to be announced"]
    assert e.published is None
    assert any("to be announced" in w for w in parsed.warnings)


def test_date_in_rfc822_and_naive_iso_forms():
    e = parse_article("s", "a.txt", b"T\n\nb\n\nDate: Tue, 05 Mar 2024 10:00:00 +0100\n").entry
    assert e.published == datetime(2024, 3, 5, 9, 0, tzinfo=timezone.utc)
    e = parse_article("s", "a.txt", b"T\n\nb\n\nDate: 2024-03-05 10:00\n").entry
    assert e.published == datetime(2024, 3, 5, 10, 0, tzinfo=timezone.utc)   # naive = UTC


# ---- markdown --------------------------------------------------------------------------------

def test_markdown_front_matter():
    text = ("---\ntitle: \"Why we publish both\"\nauthor: Editorial Team\ndate: 2026-11-20\n"
            "tags: [meta, feeds]\nid: tag:example.org,2026:why\nlink: https://example.org/why\n"
            "summary: Both formats\n---\nMost readers understand **both** formats.\n\n- one\n- two\n")
    parsed = parse_article("s", "notes/why.md", text.encode())
    e = parsed.entry
    assert e.title == "Why we publish both"
    assert [a.name for a in e.authors] == ["Editorial Team"]
    assert e.published == datetime(2026, 11, 20, tzinfo=timezone.utc)
    assert e.categories == ("meta", "feeds")
    assert e.guid == "tag:example.org,2026:why"
    assert e.link == "https://example.org/why"
    assert e.summary == "Both formats"
    assert "<strong>both</strong>" in (e.content or "")
    assert "<li>one</li>" in (e.content or "")
    assert "title:" not in (e.content or "") and "---" not in (e.content or "")
    assert e.page == "articles/s/notes/why.html"


def test_markdown_without_front_matter_takes_the_heading_as_title():
    e = parse_article("s", "x.md", b"# A heading\n\nText.\n").entry
    assert e.title == "A heading"
    assert e.content == "<p>Text.</p>"


def test_markdown_bad_front_matter_is_kept_as_text_with_a_warning():
    parsed = parse_article("s", "x.md", b"---\ntitle: [unclosed\n---\nBody\n")
    assert parsed.warnings and "front matter" in parsed.warnings[0]
    assert "Body" in (parsed.entry.content or "")


# ---- decoding ---------------------------------------------------------------------------------

def test_bom_and_crlf():
    data = "\ufeffTitle here\r\n\r\nLine one\r\nline two\r\n\r\nAuthor: Zoë\r\n".encode("utf-8")
    parsed = parse_article("s", "a.txt", data)
    assert parsed.entry.title == "Title here"
    assert [a.name for a in parsed.entry.authors] == ["Zoë"]
    assert paragraphs(parsed.entry.content or "") == ["Line one line two"]
    assert "\r" not in (parsed.entry.content or "") and "\ufeff" not in parsed.entry.title
    assert parsed.warnings == ()


def test_cp1252_falls_back_with_a_warning():
    data = "Caf\u00e9 \u201cnews\u201d\n\nCr\u00e8me br\u00fbl\u00e9e \u2014 \u20ac5.\n".encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    parsed = parse_article("s", "a.txt", data)
    assert parsed.entry.title == "Caf\u00e9 \u201cnews\u201d"
    assert paragraphs(parsed.entry.content or "") == ["Cr\u00e8me br\u00fbl\u00e9e \u2014 \u20ac5."]
    assert len(parsed.warnings) == 1 and "cp1252" in parsed.warnings[0]


def test_bytes_undefined_in_cp1252_still_decode():
    text, warning = decode_text(b"T\n\nbad \x81 byte \xe9\n")
    assert warning and "UTF-8" in warning
    assert "é" in text


@pytest.mark.parametrize("data, why", [
    (b"", "empty"),
    (b"   \n\r\n\t\n", "empty"),
    (b"\xef\xbb\xbf", "empty"),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "binary"),
    (bytes(range(256)) * 4, "binary"),
    (b"\x01\x02\x03\x04\x05\x06\x07\x08" * 40, "binary"),
])
def test_empty_and_binary_files_are_skipped(data, why):
    with pytest.raises(ArticleSkipped) as ei:
        parse_article("s", "x.txt", data)
    assert why in str(ei.value)


def test_stray_control_characters_are_dropped_not_a_reason_to_skip():
    parsed = parse_article("s", "a.txt", b"Ti\x07tle\n\nA bell\x07 and an escape\x1b here.\x0c\n")
    assert parsed.entry.title == "Title"
    assert paragraphs(parsed.entry.content or "") == ["A bell and an escape here."]


# ---- identity, pages ----------------------------------------------------------------------------

def test_id_line_becomes_guid_else_none_and_page_from_path():
    e = parse_article("blog", "2024/My Post!.txt", b"T\n\nb\n\nId: post-42\n").entry
    assert e.guid == "post-42"
    assert e.local_path == "2024/My Post!.txt"
    assert e.page == page_path("blog", "2024/My Post!.txt") == "articles/blog/2024/My-Post.html"
    e = parse_article("blog", "x.txt", b"T\n\nb\n").entry
    assert e.guid is None and e.local_path == "x.txt"


def test_page_path_never_escapes_the_output_dir():
    assert page_path("s", "../../etc/passwd.txt") == "articles/s/etc/passwd.html"
    assert ".." not in page_path("s", "a/../../b.md")


# ---- scanning a directory ---------------------------------------------------------------------------

def test_scan_recurses_and_ignores_hidden_files_backups_and_other_types(tmp_path):
    root = tmp_path / "arts"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".git").mkdir()
    for rel in ["a.txt", "b.md", "sub/c.txt", "sub/deeper/d.markdown", "e.html",
                ".hidden.txt", ".git/x.txt", "a.txt~", "b.md.swp", "#a.txt#", "c.txt.bak",
                "image.png", "notes.rst"]:
        (root / rel).write_text("Title\n\nBody\n", encoding="utf-8")
    result = scan(root)
    assert [f.relpath for f in result.files] == ["a.txt", "b.md", "e.html", "sub/c.txt",
                                                 "sub/deeper/d.markdown"]
    assert result.problems == ()


def test_scan_does_not_follow_symlinks_out_of_the_directory(tmp_path):
    root = tmp_path / "arts"
    root.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("Secret\n\nnot for publishing\n")
    (root / "ok.txt").write_text("Ok\n\nbody\n")
    os.symlink(secret, root / "leak.txt")
    result = scan(root)
    assert [f.relpath for f in result.files] == ["ok.txt"]
    assert any("leak.txt" in p for p in result.problems)


def test_scan_of_missing_directory_raises(tmp_path):
    with pytest.raises(OSError):
        scan(tmp_path / "nope")


def test_scan_reports_size_and_mtime_so_touch_is_seen(tmp_path):
    root = tmp_path / "arts"
    root.mkdir()
    f = root / "a.txt"
    f.write_text("T\n\nb\n")
    os.utime(f, ns=(1_000_000_000, 1_000_000_000))
    before = scan(root).files[0]
    os.utime(f, ns=(2_000_000_000, 2_000_000_000))
    after = scan(root).files[0]
    assert before.size == after.size and before.mtime_ns != after.mtime_ns
