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

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem with the command line or the configuration (exit code 2)."""


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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("run", help="poll every due feed once and store what is new")
    _common(p)
    p.add_argument("--force", action="store_true", help="poll every enabled feed, even those backing off")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sql", help="run a read-only SQL query against the warehouse")
    _common(p)
    p.add_argument("query", help='e.g. "SELECT title, feed FROM articles ORDER BY first_seen DESC LIMIT 10"')
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("demo", help="run the whole pipeline offline against a bundled replay site, twice")
    _common(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("feeds", help="show each feed's health: last success, failures, last error, next poll")
    _common(p)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(func=cmd_feeds)

    p = sub.add_parser("enable-feed", help="re-enable a feed that was disabled (e.g. after 410 Gone)")
    _common(p)
    p.add_argument("name")
    p.set_defaults(func=cmd_enable_feed)

    p = sub.add_parser("serve", help="run the ingest flow on the configured schedule (Prefect deployment)")
    _common(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("report", help="write a self-contained HTML report (charts and tables)")
    _common(p)
    p.add_argument("--since", default="7d", help="period covered, e.g. 7d, 24h, 4w (default 7d)")
    p.add_argument("--out", type=Path, default=Path("report.html"))
    p.add_argument("--email", metavar="CHANNEL", help="also send the report through this email channel")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="write one Parquet or CSV file per table, for other tools")
    _common(p)
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.set_defaults(func=cmd_export)
    return parser


# ---- helpers ------------------------------------------------------------------------------------


def _settings(args, *, check_secrets: bool):
    from flows.settings import ConfigError, load_settings

    try:
        return load_settings(args.config, check_secrets=check_secrets)
    except ConfigError as e:
        raise UsageError(str(e)) from None


def _db_for_reading(args) -> Path:
    """The published warehouse: --db, else the config's path (a missing config is fine with --db)."""
    if args.db:
        return args.db
    from flows.settings import resolve_db_path

    return resolve_db_path(_settings(args, check_secrets=False), None)


# ---- commands -----------------------------------------------------------------------------------


def cmd_run(args) -> int:
    settings = _settings(args, check_secrets=True)
    from flows.runner import run_ingest

    result = run_ingest(settings, args.config, args.db, force=args.force)
    from flows.summary import print_run

    print_run(result)
    if result.status == "no_feed_polled":
        print("newswatch run: no feed at all could be polled (see above)", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_sql(args) -> int:
    from warehouse.readonly import QueryRefused, format_rows, query

    db = _db_for_reading(args)
    try:
        columns, rows = query(db, args.query)
    except QueryRefused as e:
        print(f"newswatch sql: {e}", file=sys.stderr)
        return EXIT_FAILED
    sys.stdout.write(format_rows(columns, rows, args.format))
    return EXIT_OK


def cmd_feeds(args) -> int:
    from warehouse.readonly import QueryRefused, format_rows, query

    db = _db_for_reading(args)
    try:
        columns, rows = query(
            db,
            "SELECT name, CASE WHEN enabled THEN 'yes' ELSE 'no' END AS enabled, last_outcome, last_status, "
            "strftime(last_success_at, '%Y-%m-%d %H:%M') AS last_success, error_streak AS failures, "
            "round(items_per_day, 1) AS items_per_day, "
            "coalesce(strftime(next_poll_at, '%Y-%m-%d %H:%M'), 'next run') AS next_poll, "
            "coalesce(disabled_reason, last_error) AS last_error FROM feed_health ORDER BY name",
        )
    except QueryRefused as e:
        print(f"newswatch feeds: {e}", file=sys.stderr)
        return EXIT_FAILED
    sys.stdout.write(format_rows(columns, rows, args.format))
    return EXIT_OK


def cmd_enable_feed(args) -> int:
    settings = _settings(args, check_secrets=False)
    from flows.settings import resolve_db_path
    from warehouse.store import Warehouse

    db = resolve_db_path(settings, args.db)
    if not db.exists():  # opening would create an empty warehouse for a mistyped path
        print(f"newswatch enable-feed: no warehouse at {db}: run `newswatch run` first", file=sys.stderr)
        return EXIT_FAILED
    with Warehouse.open(db) as wh:
        if not wh.enable_feed(args.name):
            raise UsageError(f"no feed named {args.name!r} in the warehouse")
    print(f"feed {args.name} enabled; it is polled on the next run")
    return EXIT_OK


def cmd_demo(args) -> int:
    from flows.demo import run_demo

    return run_demo(args)


def cmd_serve(args) -> int:
    settings = _settings(args, check_secrets=True)
    from flows.serve import serve

    return serve(settings, args.config, args.db)


def cmd_report(args) -> int:
    from flows.report import write_report

    return write_report(args)


def cmd_export(args) -> int:
    from warehouse.export import export_tables
    from warehouse.readonly import QueryRefused

    db = _db_for_reading(args)
    try:
        written = export_tables(db, args.out, args.format)
    except QueryRefused as e:
        print(f"newswatch export: {e}", file=sys.stderr)
        return EXIT_FAILED
    for path in written:
        print(path)
    return EXIT_OK


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
        return 130
    except Exception as e:  # a clear one-line error instead of a traceback; details with NEWSWATCH_DEBUG=1
        from warehouse.errors import WarehouseError

        if os.environ.get("NEWSWATCH_DEBUG") or not isinstance(e, WarehouseError | OSError):
            raise
        print(f"newswatch {args.command}: {e}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
