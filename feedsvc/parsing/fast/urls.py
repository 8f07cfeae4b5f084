"""URI joining as feedparser does it (feedparser/urls.py: ``_urljoin``,
``make_safe_absolute_uri``, ``ACCEPTABLE_URI_SCHEMES``), with shortcuts for the URLs urljoin
would return unchanged."""

from __future__ import annotations

import re
import urllib.parse

# urls.ACCEPTABLE_URI_SCHEMES
_ACCEPTABLE_URI_SCHEMES = (
    "file", "ftp", "gopher", "h323", "hdl", "http", "https", "imap", "magnet", "mailto", "mms", "news",
    "nntp", "prospero", "rsync", "rtsp", "rtspu", "sftp", "shttp", "sip", "sips", "snews", "svn",
    "svn+ssh", "telnet", "wais", "aim", "callto", "cvs", "facetime", "feed", "git", "gtalk", "irc",
    "ircs", "irc6", "itms", "mms", "msnim", "skype", "ssh", "smb", "svn", "ymsg",
)

_URIFIXER = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")


def _urljoin(base: str, uri: str) -> str:
    """feedparser.urls._urljoin."""
    if ":///" in uri:   # (the fixer only removes slashes right after "scheme://")
        uri = _URIFIXER.sub(r"\1\3", uri)
    if not base:
        return uri
    if uri and uri.isascii() and "[" not in uri and "]" not in uri:   # (urlsplit cannot raise)
        m = _SCHEME.match(uri)
        bscheme = _scheme_of(base)
        if m is not None and bscheme is not None:
            scheme = m.group(1).lower()
            if scheme != bscheme:
                return uri   # urljoin returns a URL with another scheme as it is
            if scheme in ("http", "https") and _PLAIN_URL.match(uri):
                return uri   # urljoin returns urlunparse(urlparse(uri)): the same string
    try:
        return urllib.parse.urljoin(base, uri)
    except ValueError:
        return ""


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
# an absolute URL that urlunparse(urlparse()) gives back unchanged: lower-case scheme, a host,
# printable ASCII, no ';' params, no empty '?' or '#', no brackets in the host
_PLAIN_URL = re.compile(r"[a-z][a-z0-9+.\-]*://[!-\"$-.0-:<->@A-Z\\^-z|~]+"
                        r"(?:/[!-\"$-:<->@-~]*)?(?:\?[!-\"$-~]+)?(?:#[!-~]+)?\Z")


def _scheme_of(base: str) -> str | None:
    try:
        return urllib.parse.urlsplit(base)[0]    # (lru_cache'd by urllib)
    except ValueError:
        return None


def _make_safe_absolute_uri(base: str, rel: str | None = None) -> str:
    if not base:
        return rel or ""
    if not rel:
        try:
            scheme = urllib.parse.urlparse(base)[0]
        except ValueError:
            return ""
        if not scheme or scheme in _ACCEPTABLE_URI_SCHEMES:
            return base
        return ""
    uri = _urljoin(base, rel)
    if uri.strip().split(":", 1)[0] not in _ACCEPTABLE_URI_SCHEMES:
        return ""
    return uri
