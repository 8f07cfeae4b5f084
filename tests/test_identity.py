"""Identity rules: digit boundaries in fingerprints, fragments in link identity, deterministic keys.

Pure (normalise, keys, decide on tables), except one test that runs normalise in subprocesses
with different PYTHONHASHSEED values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.items.decide import Action, Known, Snapshot, decide
from feedsvc.items.keys import DERIVED_KEYS, canonical_link, fingerprint, link_identity, match_keys, rederive_keys
from feedsvc.items.normalise import SourceContext, normalise, normalise_all
from feedsvc.model import Origin

from helpers_feedsvc import T0, ctx, item, raw_entry

RANK = {"first": 0, "second": 1}
EMPTY = Snapshot(own={}, by_dedup_key={})
WORDS = ["river", "planet", "garden", "update", "release", "kernel", "python", "volunteer", "bridge",
         "market", "winter", "harbour", "signal", "library", "council", "train", "orchard", "museum"]
BOILERPLATE = "<p>" + " ".join(WORDS * 3) + "</p>"      # well over FP_CHARS letters


def known(handle, source, h="h", run=1):
    return Known(handle, source, h, run)     # positional: the store's handle is the first field


def derived(keys, prefix):
    return [k for k in keys if k.startswith(prefix)]


# ---- 1. digit boundaries in the fingerprint ---------------------------------------------------------

@pytest.mark.parametrize("a, b", [("Release 1.10", "Release 11.0"), ("c1-10", "c11-0"),
                                  ("v2.0.1", "v20.1"), ("1 000 items", "10 00 items")])
def test_digit_groups_keep_their_boundary(a, b):
    assert fingerprint(a, BOILERPLATE) != fingerprint(b, BOILERPLATE)
    # in the text too, not only in the title
    assert fingerprint("Notes", f"<p>{a}</p>" + BOILERPLATE) != fingerprint("Notes", f"<p>{b}</p>" + BOILERPLATE)


@pytest.mark.parametrize("a, b", [("Release 1.10", "RELEASE  1.10!"), ("Release 1.10", "release 1 . 10"),
                                  ("c1-10", "C1 – 10"), ("Release 1.10", "Release\u00a01.10")])
def test_noise_around_digit_groups_is_still_noise(a, b):
    assert fingerprint(a, BOILERPLATE) == fingerprint(b, BOILERPLATE)
    assert fingerprint("Notes", f"<p>{a}</p>" + BOILERPLATE) == fingerprint("Notes", f"<p>{b}</p>" + BOILERPLATE)


def test_two_releases_with_the_same_boilerplate_do_not_merge_across_sources():
    a = item(source="first", link="https://a.example/r/1-10", title="Release 1.10", content=BOILERPLATE,
             published=T0)
    b = item(source="second", link="https://b.example/r/11-0", title="Release 11.0", content=BOILERPLATE,
             published=T0)
    assert derived(a.dedup_keys, "fp:") != derived(b.dedup_keys, "fp:")
    snap = Snapshot(own={}, by_dedup_key={k: known(1, "first") for k in match_keys(a)})
    assert decide([b], snap, RANK, 2)[0].action is Action.NEW


def test_two_releases_from_one_source_are_not_a_guid_migration():
    # same link (a release page updated in place is a different post here: the title differs) and
    # same day: lt:/pf: must not make "11.0" an update of "1.10"
    a = item(source="first", guid="r1", link="https://e.org/releases", title="Release 1.10",
             content=BOILERPLATE, published=T0)
    b = item(source="first", guid="r2", link="https://e.org/releases", title="Release 11.0",
             content=BOILERPLATE, published=T0 + timedelta(hours=1))
    snap = Snapshot(own={}, by_dedup_key={k: known(1, "first") for k in match_keys(a)
                                          if not k.startswith("link:")})
    assert decide([b], snap, RANK, 2)[0].action is Action.NEW


# ---- rederive_keys: migrating derived keys written by the previous version ---------------------------

BODY = "<p>Version 1.10 fixes 3 bugs. " + " ".join(WORDS * 3) + "</p>"
# what feedsvc before the digit-boundary fix stored for item(link=..., title="Release 1.10",
# content=BODY, published=T0) (computed with that code: the old rule joined "1" and "10")
OLD_KEYS = ("link:https://e.org/releases/1.10", "fp:5cd54a5d8795e054d8ca68d840663191",
            "pf:bbc4cf46811e284c1ca312f3cd2c2ca8", "lt:ff046f29430851da3b983621f6a06fa8")


def test_rederive_keys_replaces_old_style_derived_keys():
    now = item(link="https://e.org/releases/1.10", title="Release 1.10", content=BODY, published=T0)
    assert now.dedup_keys[0] == OLD_KEYS[0]
    assert [k[:3] for k in now.dedup_keys] == [k[:3] for k in OLD_KEYS]
    assert set(now.dedup_keys[1:]).isdisjoint(OLD_KEYS)          # every derived key changed
    stored = replace(now, dedup_keys=OLD_KEYS)
    assert rederive_keys(stored) == now.dedup_keys
    assert rederive_keys(now) == now.dedup_keys                 # idempotent on current keys


def test_rederive_keys_keeps_the_other_keys_in_order_and_the_keys_decide_dropped_dropped():
    now = item(guid="tag:e.org,2024:1", link="https://e.org/releases/1.10", title="Release 1.10",
               content=BODY, published=T0)
    ids = tuple(k for k in now.dedup_keys if not k.startswith(DERIVED_KEYS))
    assert ids == ("link:https://e.org/releases/1.10", "id:tag:e.org,2024:1")
    old = OLD_KEYS[:1] + ("id:tag:e.org,2024:1",) + OLD_KEYS[1:]
    assert rederive_keys(replace(now, dedup_keys=old)) == now.dedup_keys
    # a derived key decide dropped (shared by several entries of the batch it was stored from)
    # stays dropped: recomputing it would let it match what it was dropped for not matching
    no_fp = tuple(k for k in old if not k.startswith("fp:"))
    assert rederive_keys(replace(now, dedup_keys=no_fp)) == tuple(k for k in now.dedup_keys
                                                                  if not k.startswith("fp:"))
    assert rederive_keys(replace(now, dedup_keys=ids)) == ids


def test_rederive_keys_of_a_text_too_short_before_gains_its_fingerprint():
    # 158 letters and digits, 160 with the two digit-group separators: no fingerprint before, one now
    text = "1.2.3 " + "abcdefghij" * 15 + "abcde"
    it = item(link="https://e.org/p", title="Short", content=f"<p>{text}</p>", published=T0)
    assert derived(it.dedup_keys, "fp:") and derived(it.dedup_keys, "pf:")
    old = tuple(k for k in it.dedup_keys if not k.startswith(("fp:", "pf:")))
    assert rederive_keys(replace(it, dedup_keys=old)) == it.dedup_keys


# ---- 2. fragments in link identity ---------------------------------------------------------------

@pytest.mark.parametrize("url, want", [
    ("https://x.example/entries.php#111", "https://x.example/entries.php#111"),
    ("HTTPS://X.example:443/entries.php?utm_source=rss&b=2&a=1#111", "https://x.example/entries.php?a=1&b=2#111"),
    ("https://x.example/a#", "https://x.example/a"),
    # without a fragment: exactly the canonical link (stored entry keys must not change)
    ("HTTPS://Example.ORG/Path/Page", "https://example.org/Path/Page"),
    ("https://example.org:8443/a?z=1&b=2&gclid=x", "https://example.org:8443/a?b=2&z=1"),
    ("https://Example.org", "https://example.org/"),
    ("ftp://example.org/a", None),
    (None, None),
])
def test_link_identity_is_the_canonical_link_with_its_fragment(url, want):
    assert link_identity(url) == want
    if url and "#" not in url:
        assert link_identity(url) == canonical_link(url)


_url = st.builds(lambda scheme, host, port, path, query: f"{scheme}://{host}{port}{path}{query}",
                 st.sampled_from(["http", "https", "HTTPS"]), st.sampled_from(["e.org", "E.Example.ORG", "[::1]"]),
                 st.sampled_from(["", ":80", ":443", ":8080"]),
                 st.sampled_from(["", "/", "/a/B", "/entries.php", "/a%20b/"]),
                 st.sampled_from(["", "?", "?b=2&a=1", "?utm_source=x", "?id=7&fbclid=y", "?q=a+b"]))


@settings(max_examples=300, deadline=None)
@given(_url, st.sampled_from(["", "#", "#111", "#Top", "#a/b?c"]))
def test_only_the_fragment_tells_link_identity_from_the_canonical_link(url, fragment):
    assert link_identity(url) == canonical_link(url)                # stored keys unchanged
    if len(fragment) > 1:
        assert link_identity(url + fragment) == canonical_link(url) + fragment
    else:
        assert link_identity(url + fragment) == canonical_link(url)
    assert canonical_link(url + fragment) == canonical_link(url)     # across sources: no fragment


def test_entry_keys_keep_the_fragment_and_nothing_else_changes():
    assert item(link="https://x.example/entries.php#111").key == "l:https://x.example/entries.php#111"
    assert item(link="https://x.example/entries.php#110").key == "l:https://x.example/entries.php#110"
    # pinned: keys of links without a fragment are what they always were
    assert item(link="HTTPS://EX.org:443/1?utm_source=x&b=2&a=1").key == "l:https://ex.org/1?a=1&b=2"
    assert item(link="https://ex.org/1#").key == "l:https://ex.org/1"
    # across sources the fragment still does not count
    a = item(link="https://x.example/entries.php#111")
    assert a.canonical_link == "https://x.example/entries.php"
    assert "link:https://x.example/entries.php" in a.dedup_keys


def newsletter(numbers, **kw):
    return [raw_entry(title="Newsletter", link=f"https://x.example/entries.php#{n}",
                      content=BOILERPLATE + f"<p>Issue {n}</p>", **kw) for n in numbers]


def test_a_newsletter_with_one_fragment_per_issue_keeps_every_issue():
    items = normalise_all(newsletter(range(111, 0, -1)), ctx("news"), T0)
    assert len({i.key for i in items}) == 111
    assert len({i.id for i in items}) == 111
    ds = decide(items, EMPTY, {"news": 0}, 1)
    assert [d.action for d in ds] == [Action.NEW] * 111
    # the shared page link and fingerprint name the page, not an issue: no issue holds them
    assert all(not derived(d.item.dedup_keys, "link:") and not derived(d.item.dedup_keys, "fp:")
               for d in ds)


def test_the_next_issue_alone_is_not_a_migration_of_the_last_one():
    # a feed that carries only its latest issue: issue 112 must not replace issue 111 through the
    # same-source link + title key (the page's link without the fragment is the same for both)
    (last,) = normalise_all(newsletter([111]), ctx("news"), T0)
    snap = Snapshot(own={}, by_dedup_key={k: known(1, "news") for k in match_keys(last)})
    (nxt,) = normalise_all(newsletter([112]), ctx("news"), T0)
    assert decide([nxt], snap, {"news": 0}, 2)[0].action is Action.NEW
    # the same issue under a new guid is still the same post
    (moved,) = normalise_all(newsletter([111], guid="tag:x.example,2024:111"), ctx("news"), T0)
    assert decide([moved], snap, {"news": 0}, 2)[0].action is Action.UPDATE


def test_link_and_title_key_of_a_link_without_fragment_is_unchanged():
    # pinned: lt: keys of ordinary links (no fragment, no digit groups in the title) did not move
    it = item(link="https://e.org/post?utm_source=rss", title="On gardens")
    assert derived(it.dedup_keys, "lt:") == ["lt:437d5da26ee261c70230904a5468adf9"]
    assert rederive_keys(it) == it.dedup_keys


# ---- 3. key order independent of PYTHONHASHSEED -------------------------------------------------------

SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from datetime import datetime, timezone
from feedsvc.items.normalise import SourceContext, normalise
from feedsvc.model import Origin, RawEntry
c = SourceContext("articles", Origin("Site"), "http://127.0.0.1:8080/", "http://127.0.0.1:8080/")
raw = RawEntry(guid="https://mirror.example/story", guid_is_permalink=True,
               link="https://Original.example/story?utm_medium=x", title="A local article",
               title_is_html=False, authors=(), published=None, updated=None, summary=None,
               content=None, categories=(), enclosures=(), base=None, page="articles/a.html",
               local_path="a.txt")
print(json.dumps(normalise(raw, c, datetime(2024, 5, 1, 12, tzinfo=timezone.utc)).dedup_keys))
"""


def test_dedup_keys_of_a_local_page_do_not_depend_on_the_hash_seed():
    repo = str(Path(__file__).resolve().parent.parent)
    runs = []
    for seed in ("0", "1", "2", "3", "4", "5", "6", "7"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", SCRIPT, repo], env=env, capture_output=True,
                             text=True, check=True, timeout=60)
        runs.append(tuple(json.loads(out.stdout)))
    assert len(set(runs)) == 1, runs
    keys = runs[0]
    assert keys[:2] == ("link:https://original.example/story", "link:https://mirror.example/story")
    # and in this process too
    c = SourceContext("articles", Origin("Site"), "http://127.0.0.1:8080/", "http://127.0.0.1:8080/")
    raw = raw_entry(page="articles/a.html", local_path="a.txt", base=None, title="A local article",
                    link="https://Original.example/story?utm_medium=x",
                    guid="https://mirror.example/story", guid_is_permalink=True)
    assert normalise(raw, c, T0).dedup_keys == keys
