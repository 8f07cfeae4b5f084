"""Golden configs → golden outputs: each directory of tests/golden/ holds a config.yaml, the feeds
and articles it reads (file: URLs and paths, no network), a README.md saying what it shows, and
expected.yaml: for each output file, the entries a reader must see, in order.

The outputs are parsed back and compared entry by entry (not byte for byte: feed-level dates and
the generator move), in Atom and in RSS."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from helpers_feedsvc import ATOM, DC, cli, from_bytes

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "config.yaml").is_file())


def _want(entry) -> dict:
    if isinstance(entry, list):
        return {"title": entry[0], "id": entry[1]}
    return dict(entry)


def _atom_entries(pub) -> list[dict]:
    out = []
    for e in pub.atom_entries:
        out.append({"title": e.findtext(f"{{{ATOM}}}title"), "id": e.findtext(f"{{{ATOM}}}id"),
                    "authors": [a.findtext(f"{{{ATOM}}}name") for a in e.findall(f"{{{ATOM}}}author")],
                    "categories": [c.get("term") for c in e.findall(f"{{{ATOM}}}category")]})
    return out


def _rss_entries(pub) -> list[dict]:
    return [{"title": i.findtext("title"), "id": i.findtext("guid"),
             "authors": [c.text for c in i.findall(f"{{{DC}}}creator")],
             "categories": [c.text for c in i.findall("category")]} for i in pub.rss_items]


@pytest.mark.parametrize("case", CASES)
def test_golden(tmp_path, case):
    work = tmp_path / case
    shutil.copytree(GOLDEN / case, work, ignore=shutil.ignore_patterns("expected.yaml", "public", "state"))
    expected = yaml.safe_load((GOLDEN / case / "expected.yaml").read_text(encoding="utf-8"))
    r = cli("refresh", cwd=work)
    assert r.returncode == 0, r.stdout + r.stderr
    public = work / "public"
    for atom_rel, entries in expected.items():
        rss_rel = atom_rel.replace("atom.xml", "rss.xml")
        pub = from_bytes((public / atom_rel).read_bytes(), (public / rss_rel).read_bytes())
        want = [_want(e) for e in entries]
        for got in (_atom_entries(pub), _rss_entries(pub)):
            assert [(g["title"], g["id"]) for g in got] == [(w["title"], w["id"]) for w in want], atom_rel
        for w, g in zip(want, _atom_entries(pub)):
            for k in ("authors", "categories"):
                if k in w:
                    assert g[k] == w[k], (atom_rel, w["title"], k)
    # every output file the config produces is accounted for
    produced = {p.relative_to(public).as_posix() for p in public.rglob("atom.xml")}
    assert produced == set(expected)
    # publishing again from the store changes nothing
    r = cli("publish", cwd=work)
    assert r.returncode == 0 and "nothing changed" in r.stdout
