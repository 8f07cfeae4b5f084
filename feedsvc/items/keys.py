"""Identity and match keys of an item: canonical links, dedup keys, content fingerprints. Pure.

Match keys (``match_keys``): an item's ``dedup_keys`` (canonical link, permalink guid, global
id), plus two keys computed from what a reader sees:

- ``fp:`` the content fingerprint: normalised title + the first ``FP_CHARS`` letters and digits of
  the text (tags, entities, URLs, punctuation, case and spacing ignored, except between two groups
  of digits: "1.10" is not "11.0"). Only for texts at least that long, so short posts sharing a
  title ("Weekly update") never merge on the title alone, and a trailing addition ("Originally
  posted on …") never changes it.
- ``lt:`` link + normalised title, and ``pf:`` fingerprint + publication day: only ever matched
  within one source, where they mean "the publisher changed its guids" (a CMS migration), not "a
  new post". The day keeps a weekly post with a long fixed introduction from replacing last
  week's. The link of ``lt:`` keeps its fragment (``post_link``): within a source, pages told apart
  by their fragment only (a newsletter's ``entries.php#111``, ``#112``) are different posts.

Identity within a source never goes through a rule meant for matching across sources: the entry
key's link (normalise.entry_key) and ``lt:``'s keep the fragment, ``canonical_link`` drops it.

Changing what these keys are computed from changes the keys of stored items: bump
``feedsvc.parsing.incremental.FINGERPRINT_VERSION`` with it, and the store migrates stored keys
with ``rederive_keys``.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import nh3

from feedsvc.model import Item

TRACKING_PARAMS = re.compile(r"^(utm_.*|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|yclid)$", re.I)
DEFAULT_PORTS = {"http": 80, "https": 443}
_URL = re.compile(r"^https?://", re.I)
_URL_IN_TEXT = re.compile(r"\bhttps?://\S+", re.I)
_NOT_ALNUM = re.compile(r"[\W_]+")
_DIGIT_GAP = re.compile(r" (?<=\d )(?=\d)")   # a gap between two digits (a literal first: a fast scan)
FP_CHARS = 160                   # letters and digits of text in a fingerprint (≈ 30 words)
FP_SCAN = 1024                   # HTML read for them (all of it when that gives too little text)


def canonical_link(url: str | None) -> str | None:
    """Lower-case scheme and host, drop the default port, the fragment and tracking parameters,
    sort the query. ``None`` for anything that is not an http(s) URL. For matching across
    sources (the ``link:`` key); within a source a post is identified by ``link_identity``."""
    return _canonical(url, keep_fragment=False)


def link_identity(url: str | None) -> str | None:
    """``canonical_link`` with the fragment kept: what names an entry within its source (the
    ``l:`` entry key, ``lt:``). Pages told apart only by their fragment (``entries.php#111``,
    ``#112``: one per issue) are different entries there. For a URL without a fragment (or an
    empty one) it is exactly ``canonical_link``: stored entry keys stay what they were."""
    return _canonical(url, keep_fragment=True)


def _canonical(url: str | None, keep_fragment: bool) -> str | None:
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    if parts.username or parts.password:
        userinfo = parts.username or ""
        if parts.password:
            userinfo += ":" + parts.password
        host = userinfo + "@" + host
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not TRACKING_PARAMS.match(k))
    return urlunsplit((scheme, host, parts.path or "/", urlencode(query),
                       parts.fragment if keep_fragment else ""))


def dedup_keys(canonical: str | None, guid: str | None, guid_is_permalink: bool) -> tuple[str, ...]:
    """The keys under which an item is the same story as another source's item."""
    keys: list[str] = []
    if canonical:
        keys.append("link:" + canonical)
    if guid and guid_is_permalink and _URL.match(guid):
        c = canonical_link(guid)
        if c and "link:" + c not in keys:
            keys.append("link:" + c)
    if guid and _looks_global(guid):
        # the guid is published as the item's id (see normalise.published_id): two sources with
        # the same one must be one item, or the combined feed would carry the id twice
        keys.append("id:" + guid)
    return tuple(keys)


def _looks_global(guid: str) -> bool:
    """Ids designed to be globally unique (tag:, urn:, and http(s) URLs even when the feed says
    they are not permalinks) mean the same story wherever seen."""
    g = guid.lower()
    return g.startswith(("tag:", "urn:", "http://", "https://"))


def _norm(text: str) -> str:
    """Lower-case letters and digits (NFKC): markup, spacing, punctuation and case are noise, except
    between two groups of digits, where one space stays ("release 1.10" → "release1 10", "release
    11.0" → "release11 0": different versions, chapters, dates must not merge)."""
    gaps = _NOT_ALNUM.sub(" ", unicodedata.normalize("NFKC", text).casefold())   # no \x01 left
    return _DIGIT_GAP.sub("\x01", gaps).replace(" ", "").replace("\x01", " ")


def _norm_v1(text: str) -> str:
    """``_norm`` before FINGERPRINT_VERSION 2 (every gap dropped, digit groups run together): only
    for ``rederive_keys``, to tell which derived keys a stored item could have had."""
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", text).casefold())


_TEXT = nh3.Cleaner(tags=set(), clean_content_tags={"script", "style"})   # immutable: a constant


def text_of(html_text: str) -> str:
    """Sanitised HTML → plain text with URLs removed (tracking parameters are noise too)."""
    if not html_text:
        return ""
    plain = html.unescape(_TEXT.clean(html_text))
    return _URL_IN_TEXT.sub(" ", plain)


def _norm_head(text: str, n: int, norm: Callable[[str], str] = _norm) -> tuple[str, bool]:
    """``norm(text)[:n]`` and whether ``norm(text)`` has at least ``n`` characters, normalising
    only as much of ``text`` as that needs (a cut can change the last character or two: NFKC
    composes across it, and a cut after a digit drops the gap to the next, so a prefix must give
    a margin beyond ``n``)."""
    k = 2 * n
    while k < len(text):
        head = norm(text[:k])
        if len(head) >= n + 8:
            return head[:n], True
        k *= 4
    full = norm(text)
    return full[:n], len(full) >= n


def fingerprint(title: str, body_html: str) -> str | None:
    """The content fingerprint of a story, or None when its text is too short to tell stories
    apart (then only links and ids match it). Pinned by a test: never change it lightly."""
    t = _norm(title)
    if not t:
        return None
    return _fingerprint(t, body_html)


def _fingerprint(t: str, body_html: str, norm: Callable[[str], str] = _norm) -> str | None:
    """``fingerprint`` of a title already normalised (with ``norm``, as the text is)."""
    text, long_enough = _norm_head(text_of(body_html[:FP_SCAN]), 2 * FP_CHARS, norm)   # a long post:
    if not long_enough and len(body_html) > FP_SCAN:                                  # its beginning is enough
        text, _ = _norm_head(text_of(body_html), FP_CHARS, norm)
    if len(text) < FP_CHARS:
        return None
    return hashlib.sha256(f"{t}\n{text[:FP_CHARS]}".encode()).hexdigest()[:32]


DERIVED_KEYS = ("fp:", "lt:", "pf:")   # the match keys computed from the content, not given


def match_keys(item: Item) -> tuple[str, ...]:
    """Every key under which ``item`` can match a stored item: its dedup keys, its content
    fingerprint (``fp:``), and its link + title and fingerprint + day (``lt:``, ``pf:``, same
    source only). Idempotent and cheap on an item normalise already gave its match keys (the
    fingerprint costs an HTML-to-text pass: it is computed once, in normalise, on the parse
    workers)."""
    if any(k.startswith(DERIVED_KEYS) for k in item.dedup_keys):
        return item.dedup_keys
    return with_derived_keys(item.dedup_keys, item.title, item.content or item.summary,
                             item.published, item.canonical_link, item.link)


def post_link(link: str | None, canonical: str | None) -> str | None:
    """The link part of ``lt:``: the canonical link, with the fragment of ``link`` kept when the
    canonical link is ``link``'s own (not a local page's declared link, which an Item does not
    keep). For a link without a fragment it is the canonical link, as it always was."""
    if link and canonical and canonical_link(link) == canonical:
        return link_identity(link)
    return canonical


def with_derived_keys(dedup_keys: tuple[str, ...], title: str, body_html: str,
                      published: datetime | None, canonical: str | None,
                      link: str | None = None) -> tuple[str, ...]:
    """``match_keys`` of an item with these fields (normalise calls it before the Item exists):
    ``canonical`` is its canonical link, ``link`` its own link (for ``lt:``, see ``post_link``)."""
    keys = list(dedup_keys)
    t = _norm(title)
    fp = _fingerprint(t, body_html) if t else None
    if fp:
        keys.append("fp:" + fp)
        if published is not None:
            day = published.date().isoformat()
            keys.append("pf:" + hashlib.sha256(f"{fp}\n{day}".encode()).hexdigest()[:32])
    where = post_link(link, canonical)
    if where and t:
        h = hashlib.sha256(f"{where}\n{t}".encode()).hexdigest()[:32]
        keys.append("lt:" + h)
    return tuple(dict.fromkeys(keys))


def rederive_keys(item: Item) -> tuple[str, ...]:
    """``item``'s dedup keys with its derived keys (``fp:``, ``pf:``, ``lt:``) recomputed by the
    current rules, the others kept in order: for the store to migrate the keys of items written
    by FINGERPRINT_VERSION "1" (the keys of an item normalised now come back unchanged). Pure.

    A derived key ``item`` does not hold stays absent when the previous rules could have given it:
    decide dropped it (a key several entries of one batch shared names a page, not a story), and
    recomputing it would let it match what it was dropped for. One the previous rules could not
    give (a text just short of ``FP_CHARS`` letters and digits before digit groups kept their
    boundary) is added."""
    given = tuple(k for k in item.dedup_keys if not k.startswith(DERIVED_KEYS))
    body = item.content or item.summary
    fresh = {k[:3]: k for k in with_derived_keys((), item.title, body, item.published,
                                                 item.canonical_link, item.link)}
    held = {k[:3] for k in item.dedup_keys if k.startswith(DERIVED_KEYS)}
    t1 = _norm_v1(item.title)
    if not (t1 and _fingerprint(t1, body, _norm_v1)):
        held |= {"fp:", "pf:"}             # no fingerprint before: not dropped, never computed
    return tuple(dict.fromkeys(given + tuple(k for kind, k in fresh.items() if kind in held)))


SAME_SOURCE_KEYS = ("lt:", "pf:")  # match keys that mean "the same post" within one source only
