"""What ``feedsvc COMMAND --help`` says besides the options: a description, the exit codes, and
where in the README to read more. Applied to the parser ``cli.build_parser`` makes."""

from __future__ import annotations

import argparse
import textwrap

EXIT = ("exit codes: 0 {ok}; 1 {failed}; 2 a usage or configuration error (the message names the key "
        "and line)")
README = "more: README.md, section “{section}”"

HELP: dict[str, tuple[str, str, str, str]] = {
    # command: (description, exit 0, exit 1, README section)
    "refresh": ("Refresh all (or the named) sources now, whatever their schedule and back-off, then "
                "publish. One line per source: ok (new / updated / unchanged), unchanged (not modified), "
                "error, skipped. Works the same with or without the daemon running.",
                "every named source refreshed", "some sources (or the publish) failed; the rest were "
                "published", "Commands"),
    "run": ("The daemon, for systemd (Type=notify, READY/STATUS/WATCHDOG/STOPPING): every source on its "
            "own interval, publishing after changes. SIGHUP re-reads the config (kept if invalid); "
            "SIGTERM or SIGINT stop it within 10 s, the store and outputs consistent.",
            "stopped by SIGTERM/SIGINT", "it could not start (a port, the store)", "Run as a service"),
    "serve": ("Serve output.dir over HTTP: feed media types, ETag/Last-Modified and 304, HEAD, gzip. "
              "For a laptop or a small box; nginx for more (docs/nginx.conf).",
              "stopped by Ctrl-C or SIGTERM", "it could not listen", "Run as a service"),
    "status": ("Each source's state, last attempt and success, errors, items, interval and problems; "
               "the store, its workers, the output files. --problems: only the sources that need "
               "attention, most urgent first. Reads the store only.",
               "printed (with --problems: no problem)", "with --problems: some source needs attention",
               "For operators: source health, the report, metrics"),
    "publish": ("Render every output from the store again, without the network (after a change of "
                "curation rules or templates). Unchanged bytes are not rewritten. --explain ID|URL writes "
                "nothing and says why that item is or is not published: which keep/drop rule (with its "
                "pattern), which limit, moderation, backlog, or whose duplicate it is.",
                "published (with --explain: the item is published)",
                "a file could not be written, the previous ones stay (with --explain: the item is not "
                "published, or no stored item has that id or link)", "Curation"),
    "check": ("Validate the config and what can be verified without the network: directories exist and "
              "can be read or written by this user, the store opens, the templates are found; lists "
              "each source with its effective interval.",
              "all good", "—", "Configuration"),
    "sources": ("Manage the source list: import an OPML file, discover the feeds of a web page, or "
                "try one feed URL against the store.", "done", "nothing found / the URL failed",
                "Fetching politely, and private feeds"),
    "store": ("Create or upgrade the store's schema, or copy a whole store between SQLite and "
              "PostgreSQL.", "done", "the store could not be opened or written", "Many workers"),
    "templates": ("Copy the packaged templates (index.html, article.html, _style.css, feed.xsl) into a "
                  "directory to start a theme; point output.templates at it and keep only the files you "
                  "change. Existing files are not overwritten without --force. Needs no config.",
                  "written", "the directory already holds templates, or cannot be written", "Themes"),
    "items": ("The published items: list them, hide one (with a reason, kept on record), show it again, "
              "pin one at the top until a date.", "done", "the store could not be written", "Moderation"),
}


def apply(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand its description and epilog (what it does, exit codes, README)."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():  # noqa: SLF001
        for name, sub in getattr(action, "choices", {}).items():
            if name not in HELP:
                continue
            description, ok, failed, section = HELP[name]
            sub.description = textwrap.fill(sub.description or description, 78)
            sub.epilog = (textwrap.fill(EXIT.format(ok=ok, failed=failed), 78) + "\n"
                          + README.format(section=section))
            sub.formatter_class = argparse.RawDescriptionHelpFormatter
