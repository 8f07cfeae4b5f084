"""The one exception of the fast path (feedparser's own live in its exceptions.py)."""


class _NotClean(Exception):
    """Raised anywhere in the fast path: the document needs feedparser."""
