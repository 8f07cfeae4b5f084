"""Private feeds against a server that demands credentials: HTTP Basic, a bearer token, a header, a
token in the query string, secrets from the environment and from a systemd credential file; the
credentials go to the feed's own origin only (a redirect elsewhere gets none of them); and no
secret shows in the log at -vv, in ``status``/``status --json`` or in any published file."""

from __future__ import annotations

import base64
import json

from conftest import rss, run_cli, write_config

SECRETS = {"FEED_PASS": "pa55-Word-xyz", "FEED_TOKEN": "tok-123456789", "API_KEY": "key-abcdef123",
           "Q_TOKEN": "query-secret-987"}


def _item(n: int, tag: str) -> dict:
    return {"title": f"{tag} {n}", "link": f"https://private.example/{tag}/{n}",
            "guid": f"https://private.example/{tag}/{n}", "date": "Mon, 02 Nov 2026 10:00:00 +0000"}


def _guarded(check, body: bytes, seen: list):
    def handler(h) -> None:
        seen.append(dict(h.headers))
        ok = check(h)
        h.send_response(200 if ok else 401)
        payload = body if ok else b"no"
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)
    return handler


def _redirect(location: str):
    def handler(h) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return handler


def _setup(tmp_path, feed_server):
    seen: dict[str, list] = {k: [] for k in ("basic", "bearer", "header", "query", "landed", "file")}
    basic = "Basic " + base64.b64encode(f"reader:{SECRETS['FEED_PASS']}".encode()).decode()
    h = feed_server.handlers
    h["/basic.xml"] = _guarded(lambda r: r.headers.get("Authorization") == basic, rss([_item(1, "basic")]).encode(), seen["basic"])
    h["/bearer.xml"] = _guarded(lambda r: r.headers.get("Authorization") == f"Bearer {SECRETS['FEED_TOKEN']}",
                                rss([_item(1, "bearer")]).encode(), seen["bearer"])
    h["/header.xml"] = _guarded(lambda r: r.headers.get("X-Api-Key") == SECRETS["API_KEY"],
                                rss([_item(1, "header")]).encode(), seen["header"])
    h["/query.xml"] = _guarded(lambda r: f"token={SECRETS['Q_TOKEN']}" in r.path, rss([_item(1, "query")]).encode(), seen["query"])
    h["/file.xml"] = _guarded(lambda r: r.headers.get("X-Api-Key") == "from-a-credential-file",
                              rss([_item(1, "file")]).encode(), seen["file"])
    # a redirect to another origin (another host name for the same server) and to the same origin
    h["/away.xml"] = _redirect(f"http://localhost:{feed_server.port}/landed.xml")
    h["/landed.xml"] = _guarded(lambda r: True, rss([_item(1, "landed")]).encode(), seen["landed"])
    h["/same.xml"] = _redirect("/basic.xml")
    base = f"http://127.0.0.1:{feed_server.port}"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "api-key").write_text("from-a-credential-file\n")
    sources = [
        {"name": "basic", "url": f"{base}/basic.xml", "auth": {"username": "reader", "password": "${FEED_PASS}"}},
        {"name": "bearer", "url": f"{base}/bearer.xml", "auth": {"bearer": "${FEED_TOKEN}"}},
        {"name": "header", "url": f"{base}/header.xml", "headers": {"X-Api-Key": "${API_KEY}"}},
        {"name": "query", "url": f"{base}/query.xml?token=${{Q_TOKEN}}&lang=en"},
        {"name": "file", "url": f"{base}/file.xml", "headers": {"X-Api-Key": "${file:api-key}"}},
        {"name": "away", "url": f"{base}/away.xml", "auth": {"bearer": "${FEED_TOKEN}"}, "headers": {"X-Api-Key": "${API_KEY}"}},
        {"name": "same", "url": f"{base}/same.xml", "auth": {"username": "reader", "password": "${FEED_PASS}"}},
    ]
    env = {**SECRETS, "CREDENTIALS_DIRECTORY": str(creds)}
    return write_config(tmp_path, sources), env, seen


def test_private_feeds_are_fetched_and_their_secrets_never_show(tmp_path, feed_server):
    cfg, env, seen = _setup(tmp_path, feed_server)
    r = run_cli("-vv", "--config", str(cfg), "refresh", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = {ln.split()[0]: ln for ln in r.stdout.splitlines() if ln and not ln.startswith("published")}
    for name in ("basic", "bearer", "header", "query", "file", "away"):
        assert " ok " in lines[name] and "1 new" in lines[name], r.stdout
    # the same origin after a redirect: still authorised (its item is basic's, so a duplicate)
    assert " ok " in lines["same"] and "1 duplicate" in lines["same"], r.stdout
    # the redirect to another origin carried no credential and no configured header
    (landed,) = seen["landed"]
    assert "Authorization" not in landed and "X-Api-Key" not in landed
    # everything a user or a subscriber can see
    shown = [r.stdout, r.stderr]
    for args in (("status", "--json"), ("status",), ("check",)):
        out = run_cli("--config", str(cfg), *args, env=env)
        assert out.returncode == 0, out.stderr
        shown += [out.stdout, out.stderr]
    status = json.loads(run_cli("--config", str(cfg), "status", "--json", env=env).stdout)
    query = next(s for s in status["sources"] if s["name"] == "query")
    assert query["location"].endswith("/query.xml?lang=en")         # published without its token
    for path in (tmp_path / "public").rglob("*"):
        if path.is_file():
            shown.append(path.read_text(errors="replace"))
    for text in shown:
        for secret in (*SECRETS.values(), "from-a-credential-file"):
            assert secret not in text
    opml = (tmp_path / "public" / "sources.opml").read_text()
    assert "query.xml?lang=en" in opml


def test_a_wrong_password_fails_that_source_alone_and_says_nothing_of_it(tmp_path, feed_server):
    cfg, env, _ = _setup(tmp_path, feed_server)
    env["FEED_PASS"] = "wrong-password-here"
    r = run_cli("-vv", "--config", str(cfg), "refresh", "basic", "header", env=env)
    assert r.returncode == 1
    assert "HTTP 401" in r.stdout and "header" in r.stdout
    assert "wrong-password-here" not in r.stdout + r.stderr


def test_a_missing_secret_is_a_config_error_naming_the_key_not_a_value(tmp_path, feed_server):
    cfg, env, _ = _setup(tmp_path, feed_server)
    del env["API_KEY"]
    r = run_cli("--config", str(cfg), "check", env=env)
    assert r.returncode == 2
    assert "sources[2].headers.X-Api-Key" in r.stderr and "${API_KEY}" in r.stderr and "not set" in r.stderr
    assert all(v not in r.stderr for v in SECRETS.values())
    del env["CREDENTIALS_DIRECTORY"]
    env["API_KEY"] = SECRETS["API_KEY"]
    r = run_cli("--config", str(cfg), "check", env=env)
    assert r.returncode == 2 and "CREDENTIALS_DIRECTORY" in r.stderr and "sources[4]" in r.stderr
