"""What an operator sees, end to end on a loopback server: one source turns into a web page, one
into a bot-protection challenge, one re-dates its items on every build, one goes silent;
``status --problems`` names each (exit 1), ``problems.xml`` gains each problem once and a
"cleared" entry when it is fixed; Prometheus metrics move as rounds run and ``/healthz`` follows
the store; report.html renders in headless Chromium with no external asset."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from lxml import etree

from conftest import need, rss, run_cli, write_config
from feedcheck import check_atom

pytestmark = pytest.mark.slow
ATOM = "http://www.w3.org/2005/Atom"
CHALLENGE = (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
             b"<script src='/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1'></script></body></html>")


def _items(tag: str, n: int = 3, day: int = 2) -> list[dict]:
    return [{"title": f"{tag} {k}", "link": f"https://{tag}.example/{k}", "guid": f"https://{tag}.example/{k}",
             "date": f"Mon, 0{day} Nov 2026 1{k}:00:00 +0000"} for k in range(n)]


def _site(tmp_path, feed_server, **extra):
    build = {"n": 0}

    def redating(h) -> None:                       # a feed rebuilt with new dates every time
        build["n"] += 1
        body = rss([{**it, "date": f"Tue, {build['n'] % 27 + 1:02d} Dec 2026 10:00:00 +0000"}
                    for it in _items("redate")]).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    feed_server.add("/page.xml", rss(_items("page")))
    feed_server.add("/challenge.xml", rss(_items("challenge")))
    feed_server.add("/silent.xml", rss(_items("silent")))
    feed_server.add("/good.xml", rss(_items("good")))
    feed_server.handlers["/redate.xml"] = redating
    names = ("page", "challenge", "redate", "silent", "good")
    sources = [{"name": n, "url": feed_server.url(f"/{n}.xml")} for n in names]
    return write_config(tmp_path, sources, output={"max_items": 500}, health={"silent_after": "3s", "max_share": 0.9},
                        report={"dir": "report", "url": "http://127.0.0.1:8080/ops/"}, **extra)


def _problems(cfg) -> tuple[int, dict]:
    r = run_cli("--config", str(cfg), "status", "--problems", "--json")
    return r.returncode, {(p["source"], p["kind"]): p for p in json.loads(r.stdout)["problems"]}


def _entries(path: Path) -> list[tuple[str, str]]:
    root = etree.fromstring(path.read_bytes())
    return [(e.findtext(f"{{{ATOM}}}id"), e.findtext(f"{{{ATOM}}}title")) for e in root.iter(f"{{{ATOM}}}entry")]


def test_status_problems_and_problems_xml_follow_the_sources(tmp_path, feed_server):
    cfg = _site(tmp_path, feed_server)
    assert run_cli("--config", str(cfg), "refresh").returncode == 0
    code, found = _problems(cfg)
    assert code == 0 and found == {}                      # all well, nothing to say
    # the sources go wrong
    feed_server.add("/page.xml", b"<!DOCTYPE html><html><head><title>Page moved</title></head><body>hi</body></html>",
                    content_type="text/html")
    feed_server.add("/challenge.xml", CHALLENGE, status=403, content_type="text/html")
    for _ in range(2):
        run_cli("--config", str(cfg), "refresh")
    time.sleep(3.5)                                        # the silent source passes silent_after
    feed_server.add("/good.xml", rss(_items("good", 4)))   # while the good one posts again
    run_cli("--config", str(cfg), "refresh")
    code, found = _problems(cfg)
    assert code == 1
    assert found[("page", "erroring")]["text"].startswith("html: this is an HTML page (“Page moved”), not a feed")
    assert found[("challenge", "erroring")]["text"].startswith("challenge: HTTP 403")
    assert "re-dated its items" in found[("redate", "dates")]["text"]
    assert found[("silent", "silent")]["severity"] == "warning"
    assert not any(src == "good" for src, _ in found)
    text = run_cli("--config", str(cfg), "status", "--problems").stdout.splitlines()
    assert text[0].startswith("challenge") or text[0].startswith("page")      # errors first
    # problems.xml: one entry per problem, valid Atom, each once however many rounds pass
    xml = tmp_path / "report" / "problems.xml"
    self_url = "http://127.0.0.1:8080/ops/problems.xml"
    assert check_atom(xml.read_bytes(), self_url) == []
    first = _entries(xml)
    titles = [t for _, t in first]
    assert "page: error: erroring" in titles and "challenge: error: erroring" in titles
    assert "redate: warning: dates" in titles and "silent: warning: silent" in titles
    for _ in range(2):
        run_cli("--config", str(cfg), "refresh")
    again = _entries(xml)
    assert set(first) <= set(again)                       # the same entries, the same ids
    titles = [t for _, t in again]
    assert len(titles) == len(set(titles))                # each problem once, however many rounds
    # fixing the page adds a "cleared" entry, the rest stay
    feed_server.add("/page.xml", rss(_items("page", 4)), content_type="application/rss+xml")
    run_cli("--config", str(cfg), "refresh")
    fixed = _entries(xml)
    assert [t for _, t in fixed].count("page: cleared: erroring") == 1 and set(first) <= set(fixed)
    assert check_atom(xml.read_bytes(), self_url) == []
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert {s["name"] for s in report["sources"]} == {"page", "challenge", "redate", "silent", "good"}
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Just a moment" not in html and "challenge: HTTP 403" in html
    assert not re.search(r"""(src|href)=["']?https?://""", html)          # nothing loaded from elsewhere
    assert not (tmp_path / "public" / "report.html").exists()             # never in the public dir by default


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_metrics_move_and_healthz_follows_the_store(tmp_path, feed_server, daemons):
    from prometheus_client.parser import text_string_to_metric_families

    feed_server.add("/a.xml", rss(_items("a")))
    feed_server.add("/b.xml", b"missing", status=404)
    cfg = write_config(tmp_path, [{"name": "a", "url": feed_server.url("/a.xml"), "interval": "1s"},
                                  {"name": "b", "url": feed_server.url("/b.xml"), "interval": "1s"}],
                       schedule={"interval": "1s", "jitter": 0})
    d = daemons(cfg, args=("--metrics", "127.0.0.1:0"))
    d.wait_log("metrics at http://127.0.0.1:")
    base = re.search(r"metrics at (http://127\.0\.0\.1:\d+)/metrics", d.text()).group(1)

    def scrape() -> dict[tuple[str, tuple], float]:
        status, text = _get(base + "/metrics")
        assert status == 200
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for fam in text_string_to_metric_families(text) for s in fam.samples}

    d.wait_for(lambda: _get(base + "/readyz")[0] == 200, what="/readyz")
    d.wait_for(lambda: scrape().get(("feedsvc_items_total", (("kind", "new"),)), 0) >= 3, what="items counted")
    m1 = scrape()
    assert m1[("feedsvc_sources", (("state", "erroring"),))] == 1 and m1[("feedsvc_sources", (("state", "ok"),))] == 1
    assert m1[("feedsvc_http_responses_total", (("class", "4xx"),))] >= 1
    assert ("feedsvc_source_last_success_timestamp_seconds", (("source", "a"),)) in m1
    assert m1[("feedsvc_store_items", ())] == 3 and m1[("process_resident_memory_bytes", ())] > 0
    fetched = m1[("feedsvc_fetches_total", (("group", "127.0.0.1"), ("outcome", "not_modified")))] \
        if ("feedsvc_fetches_total", (("group", "127.0.0.1"), ("outcome", "not_modified"))) in m1 else 0
    d.wait_for(lambda: scrape().get(("feedsvc_fetches_total", (("group", "127.0.0.1"), ("outcome", "not_modified"))), 0)
               > fetched, what="more rounds counted")
    d.wait_for(lambda: scrape()[("feedsvc_round_seconds_count", ())] >= 2, what="two rounds timed")
    assert _get(base + "/healthz") == (200, "ok\n")
    db = tmp_path / "state" / "feedsvc.db"
    db.rename(tmp_path / "state" / "moved-away.db")      # the store gone from under the daemon
    try:
        d.wait_for(lambda: _get(base + "/healthz")[0] == 503, what="/healthz 503")
        assert "the store does not answer" in _get(base + "/healthz")[1]
    finally:
        (tmp_path / "state" / "moved-away.db").rename(db)
    d.wait_for(lambda: _get(base + "/healthz")[0] == 200, what="/healthz back to 200")
    assert d.stop() == 0


def test_report_html_in_headless_chromium(tmp_path, feed_server):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    need(chromium is not None, "chromium is not installed (Debian package chromium)")
    cfg = _site(tmp_path, feed_server)
    feed_server.add("/challenge.xml", CHALLENGE, status=403, content_type="text/html")
    run_cli("--config", str(cfg), "refresh")
    page = tmp_path / "report" / "report.html"
    html = page.read_text()
    from test_subscribers_outputs import contrast

    palettes = [dict(re.findall(r"--(\w+):(#[0-9a-fA-F]{3,6})", block))
                for block in re.findall(r":root\{([^}]*)\}", html)]
    light = {**palettes[0], **palettes[2]} if len(palettes) > 2 else palettes[0]
    for fg in ("fg", "muted", "link", "error", "warn"):
        for pal in (light, {**palettes[1], **(palettes[3] if len(palettes) > 3 else {})}):
            if fg in pal:
                assert contrast(pal[fg], pal["bg"] if "bg" in pal else light["bg"]) >= 4.5, (fg, pal)
    for width in (1200, 400):
        png = tmp_path / f"report-{width}.png"
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                            f"--screenshot={png}", f"--window-size={width},900", page.as_uri()],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and png.stat().st_size > 5000, r.stderr[-2000:]
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert "challenge: HTTP 403" in dom and "<table>" in dom
