"""The commands of `newswatch`: each takes the parsed arguments and returns an exit code.

Prefect is imported only inside the commands that run flows.
"""

from __future__ import annotations

import sys
from pathlib import Path

from flows.errors import EXIT_FAILED, EXIT_OK, UsageError

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
    from warehouse.lookups import FEEDS_QUERY
    from warehouse.readonly import QueryRefused, format_rows, query

    db = _db_for_reading(args)
    try:
        columns, rows = query(db, FEEDS_QUERY)
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
    from flows.demo.command import run_demo

    return run_demo(args)


def cmd_serve(args) -> int:
    settings = _settings(args, check_secrets=True)
    from flows.serve.service import serve

    return serve(settings, args.config, args.db)


def cmd_report(args) -> int:
    from flows.report.command import write_report

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
