"""The front page with full posts, faces and the sources list, in headless Chromium at 1200 and
400 px, light and dark (issue 20): the articles come first and above the fold on a phone, the
sources sit beside them on a wide screen, nothing overflows sideways, post images load lazily
and fit, one h1, and the text meets WCAG AA contrast.

The page itself has no script: the measuring script lives in a probe page the test writes next to
it (the same origin), which loads index.html in two iframes, one per width."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import lxml.html
from test_planet_pages import png
from test_subscribers_browser import headless
from test_subscribers_outputs import contrast

from feedsvc.app.serve import StaticServer

from conftest import need, rss, write_config
from helpers_feedsvc import cli

WIDTHS = {"wide": (1200, 900), "narrow": (400, 800)}

PROBE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<iframe id="wide" src="index.html" width="1200" height="900"></iframe>
<iframe id="narrow" src="index.html" width="400" height="800"></iframe>
<pre id="out"></pre>
<script>
function measure(id) {
  const frame = document.getElementById(id), d = frame.contentDocument, w = frame.contentWindow;
  const box = e => { const r = e.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top,
                                                                   bottom: r.bottom, width: r.width}; };
  const arts = [...d.querySelectorAll("main article")];
  const style = e => w.getComputedStyle(e);
  const pairs = [];
  const bodyBg = style(d.body).backgroundColor;
  for (const sel of ["main article .content p", "main .meta", "main h3 a", "main .content a",
                     "main .content blockquote", "aside.sources .name a", "aside.sources .links",
                     "aside.sources .links a", "aside.sources h2", "main h2"]) {
    for (const e of d.querySelectorAll(sel)) pairs.push([sel, style(e).color, bodyBg]);
  }
  for (const e of d.querySelectorAll("main .content pre")) pairs.push(["pre", style(e).color, style(e).backgroundColor]);
  return {
    viewport: d.documentElement.clientWidth, scroll: d.documentElement.scrollWidth,
    first: box(arts[0].querySelector("h3")), last: box(arts[arts.length - 1]),
    main: box(d.querySelector("main")), aside: box(d.querySelector("aside.sources")),
    images: [...d.querySelectorAll("main .content img")].map(i => ({loading: i.loading, width: box(i).width,
                                                                    article: box(i.closest("article")).width})),
    pres: [...d.querySelectorAll("main .content pre")].map(p => box(p).right),
    faces: [...d.querySelectorAll("img.face")].map(i => i.complete && i.naturalWidth > 0),
    h1: d.querySelectorAll("h1").length, scripts: d.querySelectorAll("script").length,
    dark: w.matchMedia("(prefers-color-scheme: dark)").matches, pairs: pairs,
  };
}
window.addEventListener("load", () => {
  document.getElementById("out").textContent = JSON.stringify({wide: measure("wide"), narrow: measure("narrow")});
});
</script></body></html>
"""


def _hex(css: str) -> str:
    r, g, b = (int(float(x)) for x in css[css.index("(") + 1:css.index(")")].split(",")[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def _posts(img: str) -> list[dict]:
    body = (f'<p>A long post with a <a href="https://alice.example/x">link</a> and a wide photo.</p>'
            f'<img src="{img}" alt="the harbour at dawn"><h1>Its own heading</h1>'
            '<blockquote><p>A quoted line from someone else.</p></blockquote>'
            '<pre>' + "x" * 400 + '</pre><p>' + "Averyveryverylongwordwithoutanyspaces" * 6 + '</p>')
    return [{"title": f"Full post {i}", "link": f"https://alice.example/{i}", "guid": f"https://alice.example/{i}",
             "permalink": True, "date": f"Mon, {20 - i} May 2024 08:00:00 +0000", "content": body,
             "author": "Alice"} for i in range(6)]


def test_full_posts_faces_and_sources_in_chromium_at_1200_and_400_px(tmp_path, feed_server):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    need(chromium is not None, "chromium is not installed (Debian package chromium)")
    feed_server.add("/img/wide.png", png(1800, 60, (30, 120, 60)), content_type="image/png")
    feed_server.add("/alice.xml", rss(_posts(feed_server.url("/img/wide.png")), title="Alice's blog",
                                      link="https://alice.example/"))
    feed_server.add("/bob.xml", rss([{"title": "Short note", "link": "https://bob.example/1",
                                      "guid": "https://bob.example/1", "permalink": True,
                                      "date": "Tue, 21 May 2024 08:00:00 +0000", "description": "Hi."}],
                                    title="Bob", link="https://bob.example/"))
    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "alice.png").write_bytes(png(48, 48))
    server = StaticServer(tmp_path / "public", "127.0.0.1", 0)
    server.start()
    try:
        write_config(tmp_path, [{"name": "alice", "url": feed_server.url("/alice.xml"), "face": "faces/alice.png"},
                                {"name": "bob", "url": feed_server.url("/bob.xml")}],
                     site={"title": "Harbour Planet", "url": server.url, "language": "en"},
                     output={"dir": "public", "front_page": "full"})
        r = cli("refresh", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        (tmp_path / "public" / "probe.html").write_text(PROBE, encoding="utf-8")
        results = {}
        for scheme, flags in (("light", ()), ("dark", ("--force-dark-mode",))):
            run = headless(chromium, tmp_path / f"profile-{scheme}", *flags, "--virtual-time-budget=5000",
                           "--window-size=1700,1000", "--dump-dom", server.url + "probe.html")
            assert run.returncode == 0, run.stderr[-2000:]
            results[scheme] = json.loads(lxml.html.fromstring(run.stdout).get_element_by_id("out").text_content())
        for w, h in WIDTHS.values():
            png_path = tmp_path / f"index-{w}.png"
            shot = headless(chromium, tmp_path / "profile-shot", f"--screenshot={png_path}",
                            f"--window-size={w},{h}", server.url)
            assert shot.returncode == 0 and png_path.read_bytes().startswith(b"\x89PNG")
    finally:
        server.stop()

    for scheme, both in results.items():
        for width, m in both.items():
            where = (scheme, width)
            assert m["dark"] == (scheme == "dark"), where
            assert WIDTHS[width][0] - 20 <= m["viewport"] <= WIDTHS[width][0], where   # (less a scroll bar)
            assert m["scroll"] <= m["viewport"], where                                   # no sideways scroll
            assert m["h1"] == 1 and m["scripts"] == 0, where
            assert m["images"] and all(i["loading"] == "lazy" and 0 < i["width"] <= i["article"] for i in m["images"])
            assert all(right <= m["main"]["right"] + 1 for right in m["pres"]), where    # long lines scroll inside
            assert m["faces"] and all(m["faces"]), where                                 # faces load, from the planet
            for sel, fg, bg in m["pairs"]:
                assert contrast(_hex(fg), _hex(bg)) >= 4.5, (where, sel, fg, bg)
        wide, narrow = both["wide"], both["narrow"]
        # 400 px: the first article is above the fold; the sources come after the last article
        assert narrow["first"]["bottom"] < WIDTHS["narrow"][1], scheme
        assert narrow["aside"]["top"] >= narrow["last"]["bottom"], scheme
        # 1200 px: the sources beside the articles, at the top
        assert wide["aside"]["left"] >= wide["main"]["right"] and wide["aside"]["top"] < wide["first"]["bottom"] + 200
        assert wide["first"]["bottom"] < WIDTHS["wide"][1]
    # what the browser fetched from elsewhere: only the images the posts reference
    assert {h.path for h in feed_server.hits} <= {"/alice.xml", "/bob.xml", "/img/wide.png"}
    assert feed_server.hits_for("/img/wide.png"), "the post's own image loads"
    assert all(h.headers.get("Referer") is None for h in feed_server.hits_for("/img/wide.png"))
    assert Path(tmp_path / "public" / "faces" / "alice.png").is_file()
