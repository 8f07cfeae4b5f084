"""A store written by the last release (tests/data/prev_release, made by commit d3b7cb5: schema 1,
publish bookkeeping in ``meta``, fingerprints without digit-group boundaries) opens with this
version and refreshes without posting anything again: the same items under the same ids, dates
and titles, nothing new, and the feeds' next fetches still conditional."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from lxml import etree

from feedsvc.storage.version import SCHEMA_VERSION

from helpers_feedsvc import ATOM, cli, published

PREV = Path(__file__).parent / "data" / "prev_release"


def _entries(atom: bytes) -> dict[str, tuple[str, str, str]]:
    root = etree.fromstring(atom)
    return {e.findtext(f"{{{ATOM}}}id"): (e.findtext(f"{{{ATOM}}}title"), e.findtext(f"{{{ATOM}}}published") or "",
                                          e.findtext(f"{{{ATOM}}}updated"))
            for e in root.iter(f"{{{ATOM}}}entry")}


def _schema(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()[0]
    finally:
        conn.close()


def test_a_store_of_the_previous_release_refreshes_without_reposting(tmp_path):
    work = tmp_path / "prev"
    shutil.copytree(PREV, work)
    before = _entries((PREV / "published-by-d3b7cb5.atom.xml").read_bytes())
    assert len(before) == 12 and _schema(work / "state" / "feedsvc.db") == "1"

    for args in (("refresh",), ("refresh", "--full")):          # --full: every entry decided again
        r = cli("--config", str(work / "config.yaml"), *args, cwd=work)
        assert r.returncode == 0, r.stdout + r.stderr
        for line in r.stdout.splitlines()[:4]:
            assert " 0 new" in line or "not modified" in line, r.stdout
        after = _entries((work / "public" / "atom.xml").read_bytes())
        assert after == before                 # same ids, titles, published and updated dates
    assert _schema(work / "state" / "feedsvc.db") == str(SCHEMA_VERSION)
    assert len(published(work / "public").titles()) == 12
    # status reads the upgraded store: every source ok, the items where they were
    status = cli("--config", str(work / "config.yaml"), "status", cwd=work)
    assert status.returncode == 0 and "store: 12 items" in status.stdout, status.stdout


def test_stored_fingerprints_are_computed_again_by_the_current_rule(tmp_path):
    """The previous release fingerprinted "Release 1.10" and "Release 11.0" by the same letters
    and digits; on upgrade every stored fingerprint is computed again with the digit-group
    boundaries, so a copy from another source matches the right post."""
    from feedsvc.items.keys import fingerprint
    from feedsvc.storage.codec import item_from_json

    work = tmp_path / "prev"
    shutil.copytree(PREV, work)
    db = work / "state" / "feedsvc.db"
    conn = sqlite3.connect(db)
    old = {k for (k,) in conn.execute("SELECT dkey FROM dkey WHERE dkey LIKE 'fp:%'")}
    conn.close()
    r = cli("--config", str(work / "config.yaml"), "refresh", cwd=work)
    assert r.returncode == 0, r.stderr
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT pk, data FROM item").fetchall()
        releases = 0
        for pk, data in rows:
            it = item_from_json(data)
            fp = fingerprint(it.title, it.content or it.summary)
            keys = {k for (k,) in conn.execute("SELECT dkey FROM dkey WHERE item_pk = ? AND dkey LIKE 'fp:%'", (pk,))}
            if fp is not None and it.source == "alpha":
                assert "fp:" + fp in keys, it.title
            if it.title.startswith("Release "):
                releases += 1
                assert "fp:" + fp not in old         # the old rule gave these another fingerprint
    finally:
        conn.close()
    assert releases == 2
