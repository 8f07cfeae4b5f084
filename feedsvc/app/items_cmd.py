"""``feedsvc items``: the stored items, and moderation with a record.

    items list [--source S] [--hidden] [--json]   the items with their published ids, sources, dates
    items hide ID|URL [--reason TEXT]              leave the story out of every output, then publish
    items unhide ID|URL                            bring it back, then publish
    items pin ID|URL --until DATE                  keep it at the top of the feeds until DATE
    items unpin ID|URL

An item is named by its published id, or by a link: its own, a copy's, or any URL with the same
canonical form. The decision is kept on the stored story (``Storage.moderate``), with who (the OS
user), when and why: it holds through refreshes, updates, a new guid from the source,
another source's copy or takeover, and it is the same from every machine of a shared store.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from feedsvc.config import Config
from feedsvc.errors import PublishError

if TYPE_CHECKING:
    from feedsvc.storage import Listed, Storage

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(sub: Any, common: argparse.ArgumentParser, parser_class: type) -> None:
    """Add ``items`` and its subcommands to the CLI's subparsers."""
    it = sub.add_parser("items", parents=[common], help="list stored items; hide, unhide or pin one")
    it_sub = it.add_subparsers(dest="items_command", metavar="SUBCOMMAND", parser_class=parser_class, required=True)
    ls = it_sub.add_parser("list", parents=[common], help="the stored items: published id, title, source, date")
    ls.add_argument("--source", metavar="S", help="only this source's items")
    ls.add_argument("--hidden", action="store_true", help="the hidden items instead, with who hid them, when and why")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    hide = it_sub.add_parser("hide", parents=[common], help="leave a story out of every output (then publish)")
    hide.add_argument("item", metavar="ID|URL", help="its published id, or a link to it")
    hide.add_argument("--reason", metavar="TEXT", help="why (kept with who and when)")
    unhide = it_sub.add_parser("unhide", parents=[common], help="bring a hidden story back (then publish)")
    unhide.add_argument("item", metavar="ID|URL")
    unhide.add_argument("--reason", metavar="TEXT", help="why (kept with who and when)")
    pin = it_sub.add_parser("pin", parents=[common], help="keep a story at the top of the feeds until a date")
    pin.add_argument("item", metavar="ID|URL")
    pin.add_argument("--until", required=True, metavar="DATE",
                     help="2024-06-01, 2024-06-01T18:00 (UTC unless an offset is given) or a duration (7d)")
    unpin = it_sub.add_parser("unpin", parents=[common], help="end a pin now")
    unpin.add_argument("item", metavar="ID|URL")


def actor() -> str:
    """Who is acting: the OS user (a uid when it has no name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def parse_until(text: str, now: datetime) -> datetime:
    """``--until``: an ISO 8601 date or date and time (UTC unless it says otherwise; a bare date
    is the start of that day), or a duration from now. Raises ValueError."""
    from feedsvc.config.values import parse_duration

    try:
        until = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            return now + timedelta(seconds=parse_duration(text.strip()))
        except ValueError:
            raise ValueError(f"--until {text!r}: expected a date (2024-06-01), a date and time "
                             "(2024-06-01T18:00) or a duration (7d)") from None
    until = until.replace(tzinfo=timezone.utc) if until.tzinfo is None else until.astimezone(timezone.utc)
    if until <= now:
        raise ValueError(f"--until {text!r} is not in the future")
    return until


def cmd_items(config: Config, args: argparse.Namespace) -> int:
    from feedsvc.clock import utcnow
    from feedsvc.storage import open_storage

    now = utcnow()
    until = None
    if args.items_command == "pin":
        try:
            until = parse_until(args.until, now)
        except ValueError as exc:
            print(f"feedsvc: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    storage = open_storage(config, readonly=args.items_command == "list")
    try:
        if args.items_command == "list":
            return _list(config, storage, args, now)
        return _moderate(config, storage, args, now, until)
    finally:
        storage.close()


def _find(storage: Storage, ref: str) -> list[Listed]:
    from feedsvc.items.keys import canonical_link

    canonical = canonical_link(ref)
    keys = ["id:" + ref] + (["link:" + canonical] if canonical else [])
    return storage.find([ref], [ref], keys)


def _moderate(config: Config, storage: Storage, args: argparse.Namespace, now: datetime,
              until: datetime | None) -> int:
    from feedsvc.output.publisher import publish

    found = _find(storage, args.item)
    if not found:
        print(f"feedsvc: error: no stored item has the id or link {args.item!r} "
              "(see 'feedsvc items list')", file=sys.stderr)
        return EXIT_FAILED
    if len(found) > 1:
        print(f"feedsvc: error: {args.item!r} names {len(found)} stored items; give one's published id:",
              file=sys.stderr)
        for x in found:
            print(f"  {x.stored.item.id}  {x.stored.item.title} ({x.stored.item.source})", file=sys.stderr)
        return EXIT_FAILED
    (x,) = found
    action = args.items_command
    storage.moderate(x.ref, action, actor(), now, getattr(args, "reason", None), until)
    what = {"hide": "hidden", "unhide": "unhidden", "pin": f"pinned until {_iso(until)}", "unpin": "unpinned"}[action]
    print(f"{what}: {x.stored.item.id} “{x.stored.item.title}” ({x.stored.item.source})")
    try:
        from feedsvc.clock import utcnow

        result = publish(storage, config, utcnow)
    except PublishError as exc:
        print(f"feedsvc: error: publish failed: {exc} (recorded; the next publish applies it)", file=sys.stderr)
        return EXIT_FAILED
    items = f"{result.items} item{'' if result.items == 1 else 's'}"
    print(f"published {items} to {config.output.dir} ({', '.join(result.written) or 'nothing changed'})")
    return EXIT_OK


def _iso(dt: datetime | None) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds") if dt else "-"


def _list(config: Config, storage: Storage, args: argparse.Namespace, now: datetime) -> int:
    from feedsvc.config import Filters
    from feedsvc.output.curate import passes, with_overrides

    if args.source and args.source not in config.source_names and args.source not in storage.states():
        print(f"feedsvc: error: no source named {args.source!r} (known: {', '.join(config.source_names)})",
              file=sys.stderr)
        return EXIT_USAGE
    sources = {s.name: s for s in config.sources}
    rows: list[dict[str, Any]] = []
    for x in storage.listing(args.source, hidden=args.hidden):
        s, mod = x.stored, x.moderation
        src = sources.get(s.item.source)
        notes = []
        if src is None and not any(n in sources for n in s.also_in):
            notes.append("not published: its source is not in the config")
        elif not passes(with_overrides(s, src), config.filters, src.filters if src else Filters()):
            notes.append("not published: filtered out")
        if x.backlog:
            notes.append("backlog: archived, not on the front page")
        if mod and mod.pinned_until and mod.pinned_until > now:
            notes.append(f"pinned until {_iso(mod.pinned_until)} by {mod.pinned_by}")
        if mod and mod.hidden:
            notes.append(f"hidden by {mod.actor} at {_iso(mod.at)}" + (f": {mod.reason}" if mod.reason else ""))
        elif mod and mod.actor:
            notes.append(f"unhidden by {mod.actor} at {_iso(mod.at)}" + (f": {mod.reason}" if mod.reason else ""))
        rows.append({"id": s.item.id, "title": s.item.title, "source": s.item.source, "also_in": list(s.also_in),
                     "link": s.item.link, "date": _iso(s.date), "backlog": x.backlog,
                     "hidden": bool(mod and mod.hidden), "hidden_by": mod.actor if mod and mod.hidden else None,
                     "hidden_at": _iso(mod.at) if mod and mod.hidden else None,
                     "reason": mod.reason if mod and mod.hidden else None,
                     "pinned_until": _iso(mod.pinned_until) if mod and mod.pinned_until and mod.pinned_until > now
                     else None, "notes": notes})
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return EXIT_OK
    for r in rows:
        print(f"{r['date'][:16].replace('T', ' ')}  {r['source']:<16} {r['id']}")
        print(f"    {r['title']}" + "".join(f"\n    [{n}]" for n in r["notes"]))
    what = "hidden items" if args.hidden else "items"
    print(f"{len(rows)} {what}" + (f" of {args.source}" if args.source else ""))
    return EXIT_OK
