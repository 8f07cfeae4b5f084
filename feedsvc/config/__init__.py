"""The config file: YAML → frozen, validated ``Config``; every config error names the key and line.

    schema   the dataclasses (Config, Site, Output…); each field declares its YAML key, kind,
             default and comment once, and the loader reads by them
    values   durations, sizes, URLs and paths, parsed and checked one by one
    loader   YAML with line numbers, the schema-driven reader, the rules across fields
    opml     OPML subscription lists → sources

Paths in the file are relative to the config file's directory. Durations are ``90s``, ``15m``,
``1h``, ``1d`` (or combinations such as ``1h30m``), or a number of seconds.
"""

from __future__ import annotations

from feedsvc.config.loader import default_config_path, load_config, parse_config
from feedsvc.config.schema import (
                                   DEFAULT_MAX_BYTES,
                                   FORMAT_FILES,
                                   FORMATS,
                                   RULE_FIELDS,
                                   Config,
                                   Fetch,
                                   Filters,
                                   Output,
                                   Retention,
                                   Rule,
                                   Site,
                                   Source,
                                   Topic,
)
from feedsvc.config.values import NAME_RE, file_url_path, parse_duration, parse_size

__all__ = ["Config", "Site", "Output", "Retention", "Fetch", "Rule", "Filters", "Source", "Topic",
           "FORMATS", "FORMAT_FILES", "RULE_FIELDS", "NAME_RE", "DEFAULT_MAX_BYTES", "load_config",
           "parse_config", "parse_duration", "parse_size", "file_url_path", "default_config_path"]
