"""Which handler each element key gets: the start / end dispatch tables (built once, at import),
the handlers of elements feedparser has no method for, and the keys it has methods for.

feedparser finds ``_start_<key>`` / ``_end_<key>`` by getattr per element; here the key → function
tables are built once, and strict.py caches the function per element name and document.
"""

from __future__ import annotations

from typing import Any

from feedsvc.parsing.fast.exceptions import _NotClean
from feedsvc.parsing.fast.mixin import FeedParserMixin, _EndHandler, _Handler
from feedsvc.parsing.fast.namespaces import _base, cc, dc, georss, itunes, mediarss
from feedsvc.parsing.fast.namespaces.itunes import _flag_end
from feedsvc.parsing.fast.namespaces.mediarss import _context_setdefault, _pusher

# Every element key (prefix_local) feedparser 6.0 has a _start_ or _end_ method for. A key listed
# here and not handled in _Emulator makes the document "not clean"; a key not listed is an unknown
# element that feedparser only stores under its own name. (A test compares this with feedparser.)
FP_HANDLER_KEYS = frozenset("""
abstract author body category cc_license channel cloud content content_encoded contributor copyright
created creativeCommons_license creativecommons_license dc_author dc_contributor dc_creator dc_date
dc_description dc_language dc_publisher dc_rights dc_subject dc_title dcterms_created dcterms_issued
dcterms_modified dcterms_valid description email enclosure entry expirationdate feed
feedburner_browserfriendly fullitem generator geom georss_box georss_line georss_point georss_polygon
georss_where georssgeom gml_exterior gml_linearring gml_linestring gml_point gml_polygon gml_pos
gml_poslist guid height homepage id image info issued item itunes_author itunes_block itunes_category
itunes_email itunes_explicit itunes_image itunes_keywords itunes_link itunes_name itunes_owner
itunes_subtitle itunes_summary keywords language lastbuilddate link managingeditor media_category
media_content media_credit media_description media_group media_keywords media_license media_player
media_rating media_restriction media_thumbnail media_title modified name newlocation psc_chapter
psc_chapters pubdate published rights rss source subtitle summary tagline tags textInput textinput
title updated uri url webmaster where width xhtml_body
""".split())

# Keys of unknown elements that would overwrite what convert.py or a handler reads from a context
# (including FeedParserDict's key aliases such as date_parsed -> updated_parsed).
_GENERIC_COLLIDES = frozenset({
    "title", "title_detail", "summary", "summary_detail", "description", "description_detail",
    "content", "link", "links", "id", "guid", "guidislink", "author", "authors", "author_detail",
    "publisher", "publisher_detail", "contributors", "tags", "category", "published_parsed",
    "issued_parsed", "updated_parsed", "modified_parsed", "date_parsed", "enclosures", "license",
    "image", "textinput", "where", "source", "generator_detail", "media_content", "media_thumbnail",
    "media_credit", "media_rating", "media_restriction", "media_license", "media_player",
    "psc_chapters",
})
# Unknown feed-level elements whose text convert.py reads (convert._ttl)
_GENERIC_FEED_KEYS = frozenset({"ttl", "sy_updateperiod", "sy_updatefrequency"})


# the handlers are the mixins' plain functions (the emulator inherits them unchanged)
B, DC, IT, MR = _base.Namespace, dc.Namespace, itunes.Namespace, mediarss.Namespace
GEO, CC = georss.Namespace, cc.Namespace
_PAIRS: dict[str, tuple[Any, Any]] = {
    # key: (start, end); None = feedparser has no such method (generic start / no-op end)
    "rss": (B._s_rss, None),
    "channel": (B._s_channel, B._e_channel),
    "feed": (B._s_feed, B._e_channel),
    "image": (B._s_image, B._e_image),
    "textinput": (B._s_textinput, B._e_textinput),
    "author": (B._s_author, B._e_author),
    "managingeditor": (B._s_author, B._e_author),
    "dc_author": (B._s_author, B._e_author),
    "dc_creator": (B._s_author, B._e_author),
    "itunes_author": (B._s_author, B._e_author),
    "contributor": (B._s_contributor, B._e_contributor),
    "dc_contributor": (DC._s_dc_contributor, DC._e_dc_contributor),
    "name": (B._s_name, B._e_name),
    "itunes_name": (B._s_name, B._e_name),
    "url": (B._s_url, B._e_url),
    "homepage": (B._s_url, B._e_url),
    "uri": (B._s_url, B._e_url),
    "email": (B._s_email, B._e_email),
    "itunes_email": (B._s_email, B._e_email),
    "subtitle": (B._s_subtitle, B._e_subtitle),
    "tagline": (B._s_subtitle, B._e_subtitle),
    "itunes_subtitle": (B._s_subtitle, B._e_subtitle),
    "rights": (B._s_rights, B._e_rights),
    "copyright": (B._s_rights, B._e_rights),
    "dc_rights": (B._s_rights, B._e_rights),
    "info": (B._s_info, B._e_info),
    "feedburner_browserfriendly": (B._s_info, B._e_info),
    "item": (B._s_item, B._e_item),
    "entry": (B._s_item, B._e_item),
    "language": (B._s_language, B._e_language),
    "dc_language": (B._s_language, B._e_language),
    "webmaster": (B._s_webmaster, B._e_webmaster),
    "dc_publisher": (B._s_webmaster, B._e_webmaster),
    "published": (B._s_published, B._e_published),
    "issued": (B._s_published, B._e_published),
    "pubdate": (B._s_published, B._e_published),
    "dcterms_issued": (B._s_published, B._e_published),
    "updated": (B._s_updated, B._e_updated),
    "modified": (B._s_updated, B._e_updated),
    "lastbuilddate": (B._s_updated, B._e_updated),
    "dc_date": (B._s_updated, B._e_updated),
    "dcterms_modified": (B._s_updated, B._e_updated),
    "created": (B._s_created, B._e_created),
    "dcterms_created": (B._s_created, B._e_created),
    "expirationdate": (B._s_expirationdate, B._e_expirationdate),
    "category": (B._s_category, B._e_category),
    "keywords": (B._s_category, B._e_category),
    "dc_subject": (B._s_category, B._e_category),
    "cloud": (B._s_cloud, None),
    "link": (B._s_link, B._e_link),
    "guid": (B._s_guid, B._e_guid),
    "id": (B._s_guid, B._e_guid),
    "title": (B._s_title, B._e_title),
    "dc_title": (B._s_title, B._e_title),
    "media_title": (B._s_title, MR._e_media_title),
    "description": (B._s_description, B._e_description),
    "dc_description": (B._s_description, B._e_description),
    "media_description": (B._s_description, B._e_description),
    "generator": (B._s_generator, B._e_generator),
    "summary": (B._s_summary, B._e_summary),
    "itunes_summary": (B._s_summary, B._e_summary),
    "enclosure": (B._s_enclosure, None),
    "source": (B._s_source, B._e_source),
    "content": (B._s_content, B._e_content),
    "content_encoded": (B._s_content_encoded, B._e_content),
    "newlocation": (B._s_newlocation, B._e_newlocation),
    "width": (B._s_width, B._e_width),
    "height": (B._s_height, B._e_height),
    "dcterms_valid": (DC._s_dcterms_valid, DC._e_dcterms_valid),
    "itunes_owner": (IT._s_itunes_owner, IT._e_itunes_owner),
    "itunes_category": (IT._s_itunes_category, B._e_category),
    "itunes_keywords": (None, IT._e_itunes_keywords),
    "itunes_image": (IT._s_itunes_image, IT._e_itunes_image),
    "itunes_link": (IT._s_itunes_image, None),     # (no _end_itunes_link: its push stays)
    "itunes_block": (None, _flag_end("itunes_block")),
    "itunes_explicit": (None, _flag_end("itunes_explicit")),
    "media_category": (MR._s_media_category, B._e_category),
    "media_keywords": (None, MR._e_media_keywords),
    "media_group": (MR._s_noop, None),
    "media_content": (MR._s_media_content, None),
    "media_thumbnail": (MR._s_media_thumbnail, MR._e_media_thumbnail),
    "media_player": _pusher("media_player", 0),
    "media_rating": _context_setdefault("media_rating", "rating", 1),
    "media_credit": _context_setdefault("media_credit", "credit", 1),
    "media_restriction": _context_setdefault("media_restriction", "restriction", 1),
    "media_license": _context_setdefault("media_license", "license", 1),
    "georss_point": (GEO._s_georssgeom, GEO._e_georssgeom),
    "georss_line": (GEO._s_georssgeom, GEO._e_georssgeom),
    "georss_polygon": (GEO._s_georssgeom, GEO._e_georssgeom),
    "georss_box": (GEO._s_georssgeom, GEO._e_georssgeom),
    "cc_license": (CC._s_cc_license, None),
    "creativecommons_license": (CC._s_creativecommons_license, CC._e_creativecommons_license),
}


def _generic_end(key: str) -> _EndHandler:
    def end(self: FeedParserMixin) -> None:
        self.pop(key)          # feedparser: no _end_ method → pop(key), a no-op unless pushed
    return end


def _generic_start(key: str) -> _Handler:
    """An element feedparser has no handler for: pushed, or its attributes stored, under its
    own name (prefix_local), which nothing reads (unless the name collides: not clean)."""
    if key in _GENERIC_COLLIDES:
        return _not_ported(key)

    def start(self: FeedParserMixin, attrs_d: dict[str, str]) -> None:
        if not attrs_d:
            self.push(key, 1)
        elif key in _GENERIC_FEED_KEYS:
            self._get_context()[key] = attrs_d
    return start


def _raw_generic_start(key: str) -> _Handler:
    def start(self: FeedParserMixin, attrs_d: dict[str, str]) -> None:
        if not attrs_d:
            self.push(key, 1)
        else:
            self._get_context()[key] = attrs_d
    return start


def _generic_end_light(key: str) -> _EndHandler:
    if key in _GENERIC_FEED_KEYS:
        return _generic_end(key)

    def end(self: FeedParserMixin) -> None:
        # pop(key): what it would store goes under the element's own name, which nothing reads
        if self.elementstack and self.elementstack[-1][0] == key:
            self.elementstack.pop()
    return end


def _not_ported(key: str) -> _Handler:
    def start(self: FeedParserMixin, attrs_d: dict[str, str]) -> None:
        raise _NotClean(f"<{key}>: feedparser handler not ported, or the name collides")
    return start


def _not_ported_end(key: str) -> _EndHandler:
    def end(self: FeedParserMixin) -> None:
        raise _NotClean(f"</{key}>: feedparser handler not ported")
    return end


_START: dict[str, _Handler] = {}
_END: dict[str, _EndHandler] = {}
for _key, (_s, _e) in _PAIRS.items():
    if _s is not None:
        _START[_key] = _s
    _END[_key] = _e if _e is not None else _generic_end(_key)
del _key, _s, _e, B, DC, IT, MR, GEO, CC
