"""Command line: argument parsing, exit codes, human output. No business logic.

Exit codes: 0 success; 1 some sources (or the publish) failed, the rest published;
2 usage or config error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from feedsvc import __version__
from feedsvc.app import memory
from feedsvc.config import Config, default_config_path, load_config
from feedsvc.errors import ConfigError, FeedsvcError, PublishError
from feedsvc.model import SourceOutcome

log = logging.getLogger("feedsvc")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors exit 2 without a traceback
        self.print_usage(sys.stderr)
        print(f"feedsvc: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)   # only a parent: the subparsers (_Parser) copy its arguments
    common.add_argument("--config", "-c", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: $FEEDSVC_CONFIG or ./config.yaml)")
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="more log output (-vv for debug)")
    common.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS,
                        help="only errors")
    p = _Parser(prog="feedsvc", parents=[common],
                description="Gather local articles and RSS/Atom feeds into combined Atom and RSS feeds.")
    from feedsvc.storage.version import SCHEMA_VERSION

    p.add_argument("--version", action="version", version=f"feedsvc {__version__} (store schema {SCHEMA_VERSION})")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    r = sub.add_parser("refresh", parents=[common], help="refresh sources now, then publish")
    r.add_argument("names", nargs="*", metavar="NAME", help="sources to refresh (default: all)")
    r.add_argument("--full", action="store_true", help="ignore ETag/Last-Modified and refetch everything")
    r.add_argument("--force-host", action="store_true",
                   help="fetch even sources whose host is paused (after a 429/503); spacing still holds")
    s = sub.add_parser("status", parents=[common], help="show per-source state and the outputs")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--long", action="store_true", help="every source in detail (the default up to 20 sources)")
    s.add_argument("--problems", action="store_true",
                   help="only the sources that need attention, most urgent first; exit 1 if any (a monitoring check)")
    pub = sub.add_parser("publish", parents=[common], help="re-render the outputs from the store (no network)")
    pub.add_argument("--archives", action="store_true",
                     help="also write every archive document again (after curation rules changed)")
    pub.add_argument("--explain", metavar="ID|URL",
                     help="write nothing: say why this item is or is not published (exit 0 if it is, 1 if not)")
    sub.add_parser("check", parents=[common], help="validate the config and exit")
    run = sub.add_parser("run", parents=[common], help="run the scheduled daemon (foreground)")
    run.add_argument("--serve", action="store_true", help="also serve output.dir over HTTP")
    run.add_argument("--host", default="127.0.0.1", help="address for --serve (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=8080, help="port for --serve (default 8080)")
    run.add_argument("--metrics", metavar="[HOST:]PORT", default=None,
                     help="serve Prometheus metrics, /healthz and /readyz there (host 127.0.0.1 unless given)")
    so = sub.add_parser("sources", parents=[common], help="manage the source list")
    so_sub = so.add_subparsers(dest="sources_command", metavar="SUBCOMMAND", parser_class=_Parser,
                               required=True)
    imp = so_sub.add_parser("import", parents=[common],
                            help="print the feeds of an OPML file as YAML entries for 'sources:'")
    imp.add_argument("opml", metavar="FILE.opml", help="an OPML subscription list")
    dis = so_sub.add_parser("discover", parents=[common],
                            help="find the feeds of a web page and print them as YAML entries for 'sources:'")
    dis.add_argument("url", metavar="URL", help="a web page (or a feed)")
    dis.add_argument("--json", action="store_true", help="machine-readable output")
    chk = so_sub.add_parser("check", parents=[common],
                            help="a dry run of one feed URL: items, what would be new or merged, dates, caching")
    chk.add_argument("url", metavar="URL", help="a feed URL")
    chk.add_argument("--json", action="store_true", help="machine-readable output")
    st = sub.add_parser("store", parents=[common], help="create, upgrade or copy the store")
    st_sub = st.add_subparsers(dest="store_command", metavar="SUBCOMMAND", parser_class=_Parser, required=True)
    st_sub.add_parser("init", parents=[common], help="create or upgrade the configured store's schema")
    cp = st_sub.add_parser("copy", parents=[common],
                           help="copy a whole store (items, source state, validators) to another")
    cp.add_argument("source_url", metavar="FROM_URL", help="sqlite:///PATH or postgresql://…")
    cp.add_argument("target_url", metavar="TO_URL", help="sqlite:///PATH or postgresql://…")
    cp.add_argument("--force", action="store_true", help="replace what the target holds")
    from feedsvc.app.items_cmd import register as register_items

    register_items(sub, common, _Parser)
    from feedsvc.app.templates_cmd import register as register_templates

    register_templates(sub, common, _Parser)
    srv = sub.add_parser("serve", parents=[common], help="serve output.dir over HTTP")
    srv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    srv.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    from feedsvc.app.help import apply

    apply(p)
    return p


class _JournalFormatter(logging.Formatter):
    """``<N>message``: journald takes the syslog priority from the prefix (journalctl -p works)."""

    PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}

    def format(self, record: logging.LogRecord) -> str:
        prio = self.PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{prio}>{line}" for line in record.getMessage().splitlines() or [""])


def setup_logging(verbose: int, quiet: int) -> None:
    level = logging.WARNING
    if verbose >= 2:
        level = logging.DEBUG
    elif verbose == 1:
        level = logging.INFO
    if quiet:
        level = logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter())   # under systemd: journald reads the <N> priority
    else:
        handler.setFormatter(logging.Formatter("feedsvc: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # a tick that outlasts TICK (a big claim) makes the scheduler drop the next one, as it should;
    # saying so at WARNING each time buried the log of a 5000-source first round
    sched = logging.getLogger("apscheduler.scheduler")
    if _skipped_tick not in sched.filters:
        sched.addFilter(_skipped_tick)


def _skipped_tick(record: logging.LogRecord) -> bool:
    return not (record.levelno == logging.WARNING and "skipped: maximum number of running instances"
                in record.msg and "tick" in str(record.args))


def main(argv: Sequence[str] | None = None) -> int:
    memory.cap_arenas()             # before any thread starts
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", 0) or 0
    setup_logging(verbose, getattr(args, "quiet", 0) or 0)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "sources" and args.sources_command == "import":   # a file, no config
            return cmd_sources_import(args)
        if args.command == "store" and args.store_command == "copy":   # two URLs, no config
            return cmd_store_copy(args)
        if args.command == "templates":                                 # a directory, no config
            from feedsvc.app.templates_cmd import cmd_templates

            return cmd_templates(args)
        config = load_config(getattr(args, "config", None) or default_config_path())
        handler = COMMANDS[args.command]
        return handler(config, args)
    except ConfigError as exc:
        print(f"feedsvc: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FeedsvcError as exc:
        print(f"feedsvc: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("feedsvc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:        # "feedsvc status | head": the reader has gone; so do we, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:  # no traceback reaches a user unless they ask for it
        if verbose:
            log.exception("internal error")
        print(f"feedsvc: internal error: {type(exc).__name__}: {exc} (run with -v for details)",
              file=sys.stderr)
        return EXIT_FAILED


# ---- commands -------------------------------------------------------------------------------

def cmd_check(config: Config, args: argparse.Namespace) -> int:
    from feedsvc.app.check import check

    for line in check(config):         # a ConfigError (exit 2, naming the key) at the first problem
        print(line)
    return EXIT_OK


def _summary_line(o: SourceOutcome, hidden: str = "") -> str:
    """One line per source, in the README's words: ok (new / updated / unchanged), unchanged (not
    modified since the last fetch), error, skipped; ``hidden``: how many of the new items curation
    hides ("1 hidden by filters")."""
    word = {"not-modified": "unchanged"}.get(o.status, o.status)
    if o.status == "error":
        detail = o.error or "failed"
    elif o.status == "not-modified":
        detail = "not modified"
    elif o.status == "skipped":
        detail = o.error if o.error else "not due"
    else:
        parts = [f"{o.new} new" + (f" ({hidden})" if hidden and o.new else ""), f"{o.updated} updated",
                 f"{o.unchanged} unchanged"]
        if o.duplicates:
            parts.append(plural(o.duplicates, "duplicate"))
        detail = ", ".join(parts)
    if o.warning and o.status != "error":
        detail += f"  (warning: {o.warning[:120]})"
    return f"{o.name:<20} {word:<10} {detail}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def cmd_refresh(config: Config, args: argparse.Namespace) -> int:
    from feedsvc.app.engine import Engine, select_sources

    try:
        sources = select_sources(config, args.names)
    except KeyError as exc:
        print(f"feedsvc: error: no source named {exc.args[0]} in {config.path} "
              f"(known: {', '.join(config.source_names)})", file=sys.stderr)
        return EXIT_USAGE
    from feedsvc.app.curation_cmd import hidden_note, new_hidden
    from feedsvc.clock import utcnow

    engine = Engine(config)
    started = utcnow()
    try:
        if sys.stderr.isatty():        # a progress bar for people; nothing (and no import) for logs
            from tqdm import tqdm

            with tqdm(total=len(sources), desc="refresh", unit="src", file=sys.stderr, leave=False) as bar:
                def done(o: SourceOutcome) -> None:
                    bar.set_postfix_str(o.name, refresh=False)
                    bar.update(1)
                report = engine.refresh(sources, full=args.full, on_done=done, force_host=args.force_host)
        else:
            report = engine.refresh(sources, full=args.full, force_host=args.force_host)
        hidden = new_hidden(engine.storage, config, started, utcnow()) if any(o.new for o in report.outcomes) else {}
    finally:
        engine.close()
    for o in report.outcomes:
        print(_summary_line(o, hidden_note(hidden.get(o.name))))
    if report.published is not None:
        files = report.published.written
        written = ", ".join(w for w in files if not w.startswith(("articles/", "archive/"))) or "nothing changed"
        # article pages and archive documents are counted, not listed (a first publish with
        # monthly archives writes one a month of history)
        for prefix, what in (("articles/", "article page"), ("archive/", "archive document")):
            n = sum(1 for w in files if w.startswith(prefix))
            if n:
                written += f", {plural(n, what)}"
        print(f"published {plural(report.published.items, 'item')} to {config.output.dir} ({written})")
    else:
        print(f"feedsvc: error: publish failed: {report.publish_error} (the previous files stay in place)",
              file=sys.stderr)
    failed = report.failed
    if failed:
        print(f"feedsvc: {len(failed)} of {len(report.outcomes)} sources failed", file=sys.stderr)
    return EXIT_FAILED if failed or report.published is None else EXIT_OK


def cmd_publish(config: Config, args: argparse.Namespace) -> int:
    if args.explain:
        from feedsvc.app.curation_cmd import cmd_explain

        return cmd_explain(config, args.explain)
    from feedsvc.clock import utcnow
    from feedsvc.output.publisher import publish
    from feedsvc.storage import open_storage

    storage = open_storage(config)
    try:
        result = publish(storage, config, utcnow, force=True, archives=args.archives)
        if config.report.dir is not None:
            from feedsvc.app.report import write_report

            write_report(config, storage, utcnow())
    except PublishError as exc:
        print(f"feedsvc: error: publish failed: {exc} (the previous files stay in place)", file=sys.stderr)
        return EXIT_FAILED
    finally:
        storage.close()
    written = ", ".join(result.written) or "nothing changed"
    print(f"published {plural(result.items, 'item')} to {config.output.dir} ({written})")
    return EXIT_OK


def cmd_status(config: Config, args: argparse.Namespace) -> int:
    from feedsvc.app.status import cmd_status as status

    return status(config, args)


def cmd_store(config: Config, args: argparse.Namespace) -> int:
    """``store init``: create or upgrade the configured store (every command that writes does so
    on first use too)."""
    from feedsvc.storage import open_storage
    from feedsvc.storage.version import SCHEMA_VERSION

    storage = open_storage(config)
    try:
        print(f"store {config.store_url}: ready (schema {SCHEMA_VERSION}, {storage.count_items()} items, "
              f"{len(storage.states())} sources)")
    finally:
        storage.close()
    return EXIT_OK


def cmd_store_copy(args: argparse.Namespace) -> int:
    """``store copy FROM TO [--force]``: a whole store, SQLite ↔ PostgreSQL."""
    from feedsvc.config.values import check_store_url, redact
    from feedsvc.storage import open_url
    from feedsvc.storage.copy import copy_store
    from feedsvc.storage.sql import SqlStorage

    urls = []
    for url in (args.source_url, args.target_url):
        try:
            urls.append(check_store_url(url, Path.cwd(), from_config=False))
        except ValueError as exc:
            print(f"feedsvc: error: {redact(url)}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    src = open_url(urls[0], readonly=True)
    try:
        dst = open_url(urls[1])
        try:
            assert isinstance(src, SqlStorage) and isinstance(dst, SqlStorage)
            counts = copy_store(src, dst, force=args.force)
        finally:
            dst.close()
    finally:
        src.close()
    print(f"copied {counts.get('item', 0)} items and {counts.get('source', 0)} sources "
          f"from {redact(urls[0])} to {redact(urls[1])}")
    return EXIT_OK


def cmd_sources(config: Config, args: argparse.Namespace) -> int:
    """``sources discover URL`` / ``sources check URL``."""
    import json

    from feedsvc.app import discover

    if args.sources_command == "discover":
        found = discover.discover(config, args.url)
        if args.json:
            print(json.dumps({"found": [{"name": f.name, "url": f.url, "title": f.title} for f in found.found],
                              "tried": [{"url": u, "result": r} for u, r in found.tried]}, indent=2))
        elif found.found:
            print(f"# {len(found.found)} feed{'s' if len(found.found) != 1 else ''} at {args.url}: paste under 'sources:'")
            sys.stdout.write(discover.to_yaml(found.found))
        else:
            print(f"feedsvc: no feed found at {args.url}; tried:", file=sys.stderr)
            for u, r in found.tried:
                print(f"  {u}: {r}", file=sys.stderr)
        return EXIT_OK if found.found else EXIT_FAILED
    report = discover.check(config, args.url)
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    print(f"{report['url']}: “{report['title'] or '(untitled)'}”, {report['items']} items, "
          f"{report['bytes']} bytes in {report['seconds']:.2f}s")
    print(f"  would be new:   {report['would_be_new']}")
    for m in report["would_merge"]:
        print(f"  would merge:    “{m['title']}” with {m['with_source']}'s {m['with_id']} (by {m['by']})")
    for p in report["date_problems"]:
        print(f"  dates:          {p}")
    print(f"  caching:        {report['conditional_get']}")
    if report["warning"]:
        print(f"  warning:        {report['warning']}")
    return EXIT_OK


def cmd_sources_import(args: argparse.Namespace) -> int:
    from feedsvc.config.opml import OpmlError, read_opml, to_yaml

    path = Path(args.opml)
    try:
        entries = read_opml(path)
    except OpmlError as exc:
        print(f"feedsvc: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"feedsvc: error: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"# {len(entries)} feed{'s' if len(entries) != 1 else ''} from {path}: paste under 'sources:'")
    sys.stdout.write(to_yaml(entries))
    return EXIT_OK


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    from feedsvc.app.daemon import Daemon

    if getattr(args, "verbose", 0) in (0, None) and not getattr(args, "quiet", 0):
        logging.getLogger().setLevel(logging.INFO)   # a daemon logs one line per event by default
    serve = (args.host, args.port) if args.serve else None
    metrics = None
    if args.metrics:
        host, _, port = args.metrics.rpartition(":")
        if not port.isdigit():
            print(f"feedsvc: error: --metrics {args.metrics}: expected HOST:PORT or PORT", file=sys.stderr)
            return EXIT_USAGE
        metrics = (host.strip("[]") or "127.0.0.1", int(port))
    try:
        daemon = Daemon(config, config.path, serve=serve, metrics=metrics)
        return daemon.run()
    except OSError as exc:
        print(f"feedsvc: error: cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILED


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    import signal

    from feedsvc.app.serve import StaticServer

    try:
        server = StaticServer(config.output.dir, args.host, args.port)
    except OSError as exc:
        print(f"feedsvc: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return EXIT_FAILED

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"serving {config.output.dir} at {server.url} (Ctrl-C to stop)", file=sys.stderr)
    from feedsvc.app.serve import self_link_warning

    warning = self_link_warning(config.site.url, server.url)
    if warning:
        print(f"feedsvc: warning: {warning}", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return EXIT_OK


def cmd_items(config: Config, args: argparse.Namespace) -> int:
    from feedsvc.app.items_cmd import cmd_items as items

    return items(config, args)


COMMANDS = {
    "run": cmd_run,
    "serve": cmd_serve,
    "check": cmd_check,
    "refresh": cmd_refresh,
    "publish": cmd_publish,
    "status": cmd_status,
    "store": cmd_store,
    "sources": cmd_sources,
    "items": cmd_items,
}
