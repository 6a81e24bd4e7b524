"""The `newswatch` command line.

Prefect is imported only inside the commands that run flows, so `sql`, `feeds`, `export` and
`--help` start in well under a second. Exit codes: 0 done; 1 the run could not do its job (no feed
could be polled, a query failed, no warehouse yet); 2 bad command line or configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from flows.cli.check_feed import cmd_check_feed
from flows.cli.commands import (
    cmd_demo,
    cmd_enable_feed,
    cmd_export,
    cmd_feeds,
    cmd_report,
    cmd_serve,
    cmd_sql,
)
from flows.cli.feeds import add_feed_subcommands
from flows.cli.rules import add_rules_parser
from flows.cli.run import cmd_run
from flows.cli.why import cmd_why
from flows.errors import EXIT_FAILED, EXIT_SIGINT, EXIT_USAGE, UsageError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        default=Path("newswatch.toml"),
        metavar="FILE",
        help="configuration file (default: ./newswatch.toml)",
    )
    p.add_argument(
        "--db",
        type=Path,
        default=None,
        metavar="PATH",
        help="warehouse file; overrides [warehouse] path of the config",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newswatch",
        description="Watch the news on one subject: poll RSS/Atom feeds, keep new on-topic stories in a "
        "DuckDB warehouse, recognise copies, and alert on tracked actors and keywords.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("run", help="poll every due feed once and store what is new")
    _common(p)
    p.add_argument("--force", action="store_true", help="poll every enabled feed, even those backing off")
    p.add_argument("--verbose", action="store_true", help="list every new story (else at most 30)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sql", help="run a read-only SQL query against the warehouse")
    _common(p)
    p.add_argument("query", help='e.g. "SELECT title, feed FROM articles ORDER BY first_seen DESC LIMIT 10"')
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("demo", help="run the whole pipeline offline against a bundled replay site, twice")
    _common(p)
    p.add_argument(
        "--serve",
        action="store_true",
        help="instead, keep the replay site, a local SMTP server and a Slack endpoint running, and print "
        "a config for `run` and `serve` (until Ctrl-C)",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "feeds", help="show each feed's health and polling: last success, failures, interval, next poll, gaps"
    )
    _common(p)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(func=cmd_feeds)
    add_feed_subcommands(p)

    p = sub.add_parser("check-feed", help="fetch and parse a feed and its first item; writes nothing")
    p.add_argument("url")
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="[fetch] and [topic] settings to use "
        "(default: ./newswatch.toml if present); a feed on 127.0.0.1 needs allow_private_hosts = true",
    )
    p.add_argument("--limit", type=int, default=10, metavar="N", help="entries shown (default 10)")
    p.set_defaults(func=cmd_check_feed)

    p = sub.add_parser("why", help="why a story is, or is not, in the warehouse (from the ledger)")
    _common(p)
    p.add_argument("url", help="the story's URL")
    p.add_argument(
        "--days",
        type=int,
        default=30,
        help="for a URL never seen: gaps of its site's feeds over this many days",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_why)

    p = sub.add_parser("enable-feed", help="re-enable a feed that was disabled (e.g. after 410 Gone)")
    _common(p)
    p.add_argument("name")
    p.set_defaults(func=cmd_enable_feed)

    p = sub.add_parser("serve", help="run the ingest flow on the configured schedule (Prefect deployment)")
    _common(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("report", help="write a self-contained HTML report (charts and tables)")
    _common(p)
    p.add_argument(
        "--since", default="7d", help="period covered: 90m, 24h, 7d, 4w, 6mo, 10y or all (default 7d)"
    )
    p.add_argument("--out", type=Path, default=Path("report.html"))
    p.add_argument("--email", metavar="CHANNEL", help="also send the report through this email channel")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="write one Parquet or CSV file per table, for other tools")
    _common(p)
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.set_defaults(func=cmd_export)

    add_rules_parser(sub, _common)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("newswatch")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "(not installed)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        print(f"newswatch {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_SIGINT
    except Exception as e:  # a clear one-line error instead of a traceback; details with NEWSWATCH_DEBUG=1
        from warehouse.errors import WarehouseError

        if os.environ.get("NEWSWATCH_DEBUG") or not isinstance(e, WarehouseError | OSError):
            raise
        print(f"newswatch {args.command}: {e}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
