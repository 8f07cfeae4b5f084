"""Canonical links and the pure ``decide`` step, on tables (no store, no I/O)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from feedsvc.items.decide import Action, Known, Snapshot, decide
from feedsvc.items.keys import canonical_link, dedup_keys

from helpers_feedsvc import T0, item

# ---- canonical links ----------------------------------------------------------------------------


@pytest.mark.parametrize("url, want", [
    # scheme and host lower-cased, path case kept
    ("HTTPS://Example.ORG/Path/Page", "https://example.org/Path/Page"),
    # default ports dropped, others kept
    ("http://example.org:80/a", "http://example.org/a"),
    ("https://example.org:443/a", "https://example.org/a"),
    ("https://example.org:8443/a", "https://example.org:8443/a"),
    ("http://example.org:443/a", "http://example.org:443/a"),
    # fragment dropped
    ("https://example.org/a#comments", "https://example.org/a"),
    # tracking parameters dropped
    ("https://example.org/a?utm_source=rss&utm_medium=feed&utm_campaign=x&UTM_Term=y&utm_content=z",
     "https://example.org/a"),
    ("https://example.org/a?fbclid=abc", "https://example.org/a"),
    ("https://example.org/a?gclid=abc&id=7", "https://example.org/a?id=7"),
    # the rest of the query sorted
    ("https://example.org/a?z=1&b=2&a=3", "https://example.org/a?a=3&b=2&z=1"),
    ("https://example.org/a?b=2&utm_source=x&a=1#f", "https://example.org/a?a=1&b=2"),
    # an empty path is "/"
    ("https://Example.org", "https://example.org/"),
    ("https://example.org?utm_source=x", "https://example.org/"),
    # not http(s): no canonical link
    ("ftp://example.org/a", None),
    ("mailto:a@example.org", None),
    ("/relative/path", None),
    ("", None),
    (None, None),
    ("http://[::1]:99999/", None),
])
def test_canonical_link(url, want):
    assert canonical_link(url) == want


def test_tracking_variants_share_one_canonical_link():
    variants = ["https://News.example.com/2024/story?utm_source=twitter",
                "https://news.example.com:443/2024/story?fbclid=IwAR0",
                "HTTPS://NEWS.EXAMPLE.COM/2024/story#comments",
                "https://news.example.com/2024/story?gclid=x&utm_medium=email"]
    assert len({canonical_link(v) for v in variants}) == 1


def test_dedup_keys():
    assert dedup_keys("https://e.org/a", None, False) == ("link:https://e.org/a",)
    # a permalink guid is a link key too
    assert dedup_keys("https://proxy.example/x", "https://E.org/a#c", True) == \
        ("link:https://proxy.example/x", "link:https://e.org/a", "id:https://E.org/a#c")
    # ids published as they are (http(s), tag:, urn:) match across sources; a local guid does not
    assert dedup_keys(None, "tag:e.org,2024:1", False) == ("id:tag:e.org,2024:1",)
    assert dedup_keys(None, "urn:uuid:0e2f", False) == ("id:urn:uuid:0e2f",)
    assert dedup_keys(None, "http://e.org/?p=1", False) == ("id:http://e.org/?p=1",)
    assert dedup_keys(None, "alpha-0007", False) == ()


def test_same_published_id_from_two_sources_is_one_story():
    # an RDF item (rdf:about, a permalink) and an RSS guid isPermaLink="false" with the same URL
    a = it(source="first", guid="http://example.com/1", guid_is_permalink=True)
    b = it(source="second", guid="http://example.com/1", guid_is_permalink=False, title="Other")
    assert a.id == b.id
    snap = Snapshot(own={}, by_dedup_key={k: known(1, "first") for k in a.dedup_keys})
    assert decide([b], snap, RANK, 2)[0].action is Action.DUPLICATE


# ---- decide ----------------------------------------------------------------------------------

RANK = {"first": 0, "second": 1, "third": 2}
EMPTY = Snapshot(own={}, by_dedup_key={})


def it(source="first", guid=None, link=None, title="T", **kw):
    return item(source=source, guid=guid, link=link, title=title, **kw)


def known(handle, source, h="h", run=1):
    # positional: the store's handle on the item is Known's first field (decide only compares it)
    return Known(handle, source, h, run)


def actions(ds):
    return [(d.action, d.item.key) for d in ds]


def test_all_new_on_an_empty_store():
    items = [it(guid="a"), it(guid="b"), it(link="https://e.org/c")]
    assert actions(decide(items, EMPTY, RANK, 1)) == [
        (Action.NEW, "g:a"), (Action.NEW, "g:b"), (Action.NEW, "l:https://e.org/c")]


def test_repeats_in_one_fetch_count_once_first_kept():
    a1 = it(guid="a", title="first copy")
    a2 = it(guid="a", title="second copy")
    ds = decide([a1, it(guid="b"), a2, it(guid="b")], EMPTY, RANK, 1)
    assert actions(ds) == [(Action.NEW, "g:a"), (Action.NEW, "g:b")]
    assert ds[0].item.title == "first copy"


def test_entries_with_distinct_guids_sharing_a_link_are_distinct_items():
    # a podcast whose every episode links to the show's home page: three episodes, not one
    eps = [it(guid=f"https://pod.example/ep{i}.mp3", link="https://pod.example/") for i in range(3)]
    ds = decide(eps, EMPTY, RANK, 1)
    assert [d.action for d in ds] == [Action.NEW] * 3
    # and the shared link is no dedup key: it names a page, not a story
    assert all("link:https://pod.example/" not in d.item.dedup_keys for d in ds)


def test_unchanged_and_updated_own_items():
    a, b = it(guid="a"), it(guid="b", content="<p>v1</p>")
    snap = Snapshot(own={"g:a": known(1, "first", a.content_hash),
                         "g:b": known(2, "first", b.content_hash)}, by_dedup_key={})
    b2 = it(guid="b", content="<p>v2</p>")
    ds = decide([a, b2], snap, RANK, 2)
    assert actions(ds) == [(Action.UNCHANGED, "g:a"), (Action.UPDATE, "g:b")]
    assert ds[1].target == known(2, "first", b.content_hash)


def test_stored_copy_wins_over_any_later_arrival():
    # "second" stored the story in an earlier run: even the first-listed source is a duplicate
    mine = it(source="first", link="https://e.org/story?utm_source=a")
    snap = Snapshot(own={}, by_dedup_key={"link:https://e.org/story": known(9, "second", run=1)})
    ds = decide([mine], snap, RANK, run=2)
    assert actions(ds) == [(Action.DUPLICATE, mine.key)] and ds[0].target == known(9, "second", run=1)


def test_same_run_earlier_listed_source_takes_over():
    mine = it(source="first", link="https://e.org/story")
    snap = Snapshot(own={}, by_dedup_key={"link:https://e.org/story": known(9, "second", run=5)})
    assert decide([mine], snap, RANK, run=5)[0].action is Action.TAKEOVER
    # a later-listed source arriving second in the same run is a duplicate
    late = it(source="third", link="https://e.org/story")
    assert decide([late], snap, RANK, run=5)[0].action is Action.DUPLICATE


def test_permalink_guid_matches_another_sources_link():
    a = it(source="second", guid="https://e.org/story", guid_is_permalink=True, link="https://proxy.example/1")
    snap = Snapshot(own={}, by_dedup_key={"link:https://e.org/story": known(3, "first")})
    assert decide([a], snap, RANK, 2)[0].action is Action.DUPLICATE


def test_a_non_permalink_local_guid_never_matches_across_sources():
    a = it(source="second", guid="alpha-0007")
    snap = Snapshot(own={}, by_dedup_key={"id:alpha-0007": known(3, "first")})
    assert decide([a], snap, RANK, 2)[0].action is Action.NEW


def test_alias_of_another_sources_item_is_unchanged():
    a = it(source="second", guid="x")
    snap = Snapshot(own={"g:x": known(4, "first")}, by_dedup_key={})
    assert decide([a], snap, RANK, 3)[0].action is Action.UNCHANGED


def test_own_item_holding_a_key_is_not_a_cross_source_duplicate():
    # this source already stored another entry with the same link: a new entry, not an update of it
    a = it(source="first", guid="new-guid", link="https://e.org/page")
    snap = Snapshot(own={}, by_dedup_key={"link:https://e.org/page": known(1, "first")})
    assert decide([a], snap, RANK, 2)[0].action is Action.NEW


# ---- properties ----------------------------------------------------------------------------------

entries = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d", "e"]),
                             st.sampled_from(["https://e.org/1", "https://e.org/2", None]),
                             st.sampled_from(["x", "y"])), max_size=12)


@settings(max_examples=200, deadline=None)
@given(entries, st.randoms())
def test_decisions_cover_each_key_once_whatever_the_order(rows, rnd):
    items = [it(guid=g, link=l, title=t) for g, l, t in rows]
    shuffled = list(items)
    rnd.shuffle(shuffled)
    a = decide(items, EMPTY, RANK, 1)
    b = decide(shuffled, EMPTY, RANK, 1)
    assert sorted(d.item.key for d in a) == sorted({i.key for i in items})
    assert sorted(d.item.key for d in a) == sorted(d.item.key for d in b)
    assert all(d.action is Action.NEW for d in a)


def test_updated_field_alone_does_not_make_an_update():
    a = it(guid="a", updated=T0)
    snap = Snapshot(own={"g:a": known(1, "first", a.content_hash)}, by_dedup_key={})
    again = it(guid="a", updated=T0 + timedelta(days=1))
    assert decide([again], snap, RANK, 2)[0].action is Action.UNCHANGED


# ---- content fingerprints (issue 7) ----------------------------------------------------------------

from feedsvc.items.keys import FP_CHARS, fingerprint, match_keys  # noqa: E402
from feedsvc.parsing.incremental import FINGERPRINT_VERSION  # noqa: E402

WORDS = ["river", "planet", "garden", "update", "release", "kernel", "python", "volunteer", "bridge",
         "market", "winter", "harbour", "signal", "library", "council", "train", "orchard", "museum"]


def fp_keys(i):
    return [k for k in match_keys(i) if k.startswith("fp:")]


def test_fingerprint_value_is_pinned():
    # a refactor must not silently re-fingerprint every stored item
    body = "<p>" + " ".join(WORDS * 3) + "</p>"
    assert fingerprint("Weekly update", body) == "14bc2606c81651bd6bc5a05f56e2ae36"


def test_fingerprint_of_digit_groups_is_pinned_with_its_version():
    # Changed deliberately with FINGERPRINT_VERSION "2", which keeps the boundary between two digit
    # groups ("1.10" is not "11.0"): under version "1" this was 5cd54a5d8795e054d8ca68d840663191.
    # Texts without two adjacent digit groups (the test above) keep their fingerprints. Whoever
    # changes this value again bumps feedsvc.parsing.incremental.FINGERPRINT_VERSION with it.
    body = "<p>Version 1.10 fixes 3 bugs. " + " ".join(WORDS * 3) + "</p>"
    assert (FINGERPRINT_VERSION, fingerprint("Release 1.10", body)) == \
        ("2", "009f40212c8ff539983dfd7da3433814")


def test_short_texts_have_no_fingerprint():
    assert fingerprint("Weekly update", "<p>Nothing much happened.</p>") is None
    assert fingerprint("", "<p>" + "word " * 100 + "</p>") is None
    assert fp_keys(it(guid="a", title="Weekly update", content="<p>short</p>")) == []


sentences = st.lists(st.sampled_from(WORDS), min_size=60, max_size=120)


def _noisy(rnd, words, title):
    """A syndicated copy: other case, spacing, punctuation and markup, a tracking link in the text,
    a trailing "originally posted" line — and a different URL."""
    out = []
    for w in words:
        w = w.upper() if rnd.random() < 0.2 else w
        w = w + rnd.choice(["", "", ",", ".", " —", "!"])
        out.append(w)
    wrap = rnd.choice(["<p>{}</p>", "<div><em>{}</em></div>", "{}", "<p>{}</p>\n\n<p></p>"])
    body = wrap.format(rnd.choice([" ", "  ", "\n"]).join(out))
    body += rnd.choice(["", "<p>Originally posted on <a href='https://alice.example/?utm_source=planet'>"
                            "Alice's blog</a>.</p>", "<p>The post appeared first on Example.</p>",
                        " https://mirror.example/x?utm_campaign=rss"])
    return rnd.choice([title, title.upper(), f"  {title}!  ", title.replace(" ", "  ")]), body


@settings(max_examples=150, deadline=None)
@given(sentences, st.sampled_from(["Weekly update", "Release 2.0 is out", "On gardens"]), st.randoms())
def test_near_identical_copies_merge(words, title, rnd):
    origin = it(source="first", link="https://alice.example/2024/05/post", title=title,
                content="<p>" + " ".join(words) + "</p>")
    t2, body = _noisy(rnd, words, title)
    mirror = it(source="second", link="https://mirror.example/alice/post?id=7", title=t2, content=body)
    assert fp_keys(origin) and fp_keys(origin) == fp_keys(mirror)
    snap = Snapshot(own={}, by_dedup_key={k: known(1, "first") for k in match_keys(origin)})
    assert decide([mirror], snap, RANK, 2)[0].action is Action.DUPLICATE


@settings(max_examples=150, deadline=None)
@given(sentences, sentences)
def test_different_posts_sharing_a_title_do_not_merge(a_words, b_words):
    assume("".join(a_words)[:FP_CHARS] != "".join(b_words)[:FP_CHARS])
    a = it(source="first", link="https://alice.example/weekly-1", title="Weekly update",
           content=" ".join(a_words))
    b = it(source="second", link="https://bob.example/weekly", title="Weekly update",
           content=" ".join(b_words))
    assert fp_keys(a) != fp_keys(b)
    snap = Snapshot(own={}, by_dedup_key={k: known(1, "first") for k in match_keys(a)})
    assert decide([b], snap, RANK, 2)[0].action is Action.NEW


def test_same_title_and_link_from_two_sources_is_not_a_fingerprint_merge_of_short_posts():
    # two short "Weekly update" posts on different sites: nothing to match them on
    a = it(source="first", link="https://alice.example/w", title="Weekly update", content="<p>Quiet week.</p>")
    b = it(source="second", link="https://bob.example/w", title="Weekly update", content="<p>Quiet week.</p>")
    snap = Snapshot(own={}, by_dedup_key={k: known(1, "first") for k in match_keys(a)})
    assert decide([b], snap, RANK, 2)[0].action is Action.NEW


# ---- priority --------------------------------------------------------------------------------------

def test_higher_priority_source_takes_a_story_over_whenever_it_arrives():
    story = it(source="second", link="https://e.org/story")
    snap = Snapshot(own={}, by_dedup_key={"link:https://e.org/story": known(9, "third", run=1)})
    ds = decide([story], snap, RANK, run=5, priority={"second": 10})
    assert ds[0].action is Action.TAKEOVER and ds[0].target == known(9, "third", run=1)
    # without a priority the copy stored first wins
    assert decide([story], snap, RANK, run=5)[0].action is Action.DUPLICATE
    # a lower priority never takes over, not even within the same run from an earlier-listed source
    snap5 = Snapshot(own={}, by_dedup_key={"link:https://e.org/story": known(9, "third", run=5)})
    first = it(source="first", link="https://e.org/story")
    assert decide([first], snap5, RANK, run=5, priority={"third": 1})[0].action is Action.DUPLICATE
    assert decide([first], snap5, RANK, run=5)[0].action is Action.TAKEOVER


# ---- guid migrations --------------------------------------------------------------------------------

def test_new_guids_for_the_same_posts_are_updates_of_the_stored_items():
    old = [it(guid=f"https://old.example/?p={n}", link=f"https://e.org/post-{n}", title=f"Post {n}")
           for n in range(3)]
    snap = Snapshot(own={}, by_dedup_key={k: known(n + 1, "first") for n, o in enumerate(old)
                                          for k in match_keys(o)})
    new = [it(guid=f"tag:e.org,2024:{n}", link=f"https://e.org/post-{n}?utm_source=rss", title=f"Post {n}")
           for n in range(3)]
    ds = decide(new, snap, RANK, 2)
    assert [(d.action, d.target) for d in ds] == [(Action.UPDATE, known(n, "first")) for n in (1, 2, 3)]


def test_a_new_episode_linking_to_the_same_page_is_not_a_migration():
    # a podcast whose items all link to its home page: a new guid with another title is a new item
    old = it(guid="ep1", link="https://pod.example/", title="Episode 1")
    snap = Snapshot(own={}, by_dedup_key={k: known(1, "first") for k in match_keys(old)})
    new = it(guid="ep2", link="https://pod.example/", title="Episode 2")
    assert decide([new], snap, RANK, 2)[0].action is Action.NEW


def test_a_stored_item_still_carried_under_its_own_guid_is_not_re_keyed():
    a = it(guid="a", link="https://e.org/p", title="Same")
    snap = Snapshot(own={"g:a": known(1, "first", a.content_hash)},
                    by_dedup_key={k: known(1, "first") for k in match_keys(a)})
    twin = it(guid="b", link="https://e.org/p?x=1", title="Same")
    ds = decide([a, twin], snap, RANK, 2)
    assert [d.action for d in ds] == [Action.UNCHANGED, Action.NEW]


def test_a_weekly_post_with_a_long_fixed_introduction_does_not_replace_last_weeks():
    intro = "<p>" + " ".join(WORDS * 3) + "</p>"
    last = it(guid="w1", link="https://e.org/weekly/1", title="Weekly update", content=intro + "<p>one</p>",
              published=T0)
    snap = Snapshot(own={}, by_dedup_key={k: known(1, "first") for k in match_keys(last)})
    this = it(guid="w2", link="https://e.org/weekly/2", title="Weekly update", content=intro + "<p>two</p>",
              published=T0 + timedelta(days=7))
    assert decide([this], snap, RANK, 2)[0].action is Action.NEW
    # the same post re-published under a new guid and a new URL (same day): an update
    moved = it(guid="tag:e.org,2024:w1", link="https://e.org/2024/05/weekly-update", title="Weekly update",
               content=intro + "<p>one</p>", published=T0)
    assert decide([moved], snap, RANK, 2)[0].action is Action.UPDATE


def test_raising_a_sources_priority_later_gives_it_the_stories_it_shares():
    # "second" was recorded as a duplicate of "first"'s story (an alias); then its priority is raised
    mine = it(source="second", guid="x", link="https://e.org/story")
    snap = Snapshot(own={"g:x": known(4, "first", run=1)}, by_dedup_key={})
    assert decide([mine], snap, RANK, 3)[0].action is Action.UNCHANGED
    assert decide([mine], snap, RANK, 3, priority={"second": 1})[0].action is Action.TAKEOVER
    assert decide([mine], snap, RANK, 3, priority={"first": 1})[0].action is Action.UNCHANGED
