"""feedsvc: gathers local articles and remote RSS/Atom feeds, deduplicates them into a persistent
store, and publishes combined Atom and RSS feeds as static files."""

# the one place the version is written (pyproject.toml reads it from here): a literal, not
# importlib.metadata, which costs every start ~30 ms and ~2 MB
__version__ = "0.1.0"

from feedsvc.errors import ConfigError, FeedsvcError, FetchError, ParseError, PublishError, SourceError, StoreError
from feedsvc.model import Item


def __getattr__(name: str) -> object:
    # the config reader (and YAML) only when asked for: a parse worker process never needs it
    if name in ("Config", "load_config"):
        from feedsvc import config
        return getattr(config, name)
    raise AttributeError(f"module 'feedsvc' has no attribute {name!r}")


__all__ = ["__version__", "Config", "load_config", "Item", "FeedsvcError", "ConfigError",
           "SourceError", "FetchError", "ParseError", "StoreError", "PublishError"]
