"""``feedsvc templates export DIR [--force]``: copy the packaged templates into DIR, the start of
a theme (``output.templates: DIR``). Needs no config. Files already in DIR are left alone unless
``--force``; a theme may hold only the files it changes (the packaged ones are the fallback)."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED = 0, 1


def register(sub: Any, common: argparse.ArgumentParser, parser_class: type) -> None:
    """Add ``templates`` and its subcommand to the CLI's subparsers."""
    t = sub.add_parser("templates", parents=[common], help="start a theme from the packaged templates")
    t_sub = t.add_subparsers(dest="templates_command", metavar="SUBCOMMAND", parser_class=parser_class,
                             required=True)
    ex = t_sub.add_parser("export", parents=[common],
                          help="copy the packaged templates into DIR (then set output.templates: DIR)")
    ex.add_argument("dir", metavar="DIR", help="the theme directory (created if missing)")
    ex.add_argument("--force", action="store_true", help="overwrite files already there")


def cmd_templates(args: argparse.Namespace) -> int:
    from feedsvc.output.render.html import THEME_FILES

    target = Path(args.dir)
    if target.exists() and not target.is_dir():
        print(f"feedsvc: error: {target} exists and is not a directory", file=sys.stderr)
        return EXIT_FAILED
    there = [name for name in THEME_FILES if (target / name).exists()]
    if there and not args.force:
        print(f"feedsvc: error: {target} already holds {', '.join(there)}: nothing written "
              "(--force overwrites them)", file=sys.stderr)
        return EXIT_FAILED
    packaged = resources.files("feedsvc.output").joinpath("templates")
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name in THEME_FILES:
            (target / name).write_bytes(packaged.joinpath(name).read_bytes())
    except OSError as exc:
        print(f"feedsvc: error: cannot write in {target}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"wrote {', '.join(THEME_FILES)} to {target}")
    print(f"next: set 'output.templates: {target}' in the config, edit (keep only the files you change), "
          "then 'feedsvc publish'; README.md, section “Themes”, lists each template's variables")
    return EXIT_OK
