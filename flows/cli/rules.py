"""`newswatch rules`: try a query on the archive before it goes live, mute and unmute a rule.

`rules test` reads the published warehouse read-only and needs no Prefect (nor a lock: an ingest
may be running). `mute`/`unmute` write the warehouse (a running ingest is waited for).
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from flows.errors import EXIT_FAILED, EXIT_OK, UsageError


def add_rules_parser(sub, common) -> None:
    """Register `rules test|mute|unmute` on the top-level subparsers (`common` adds --config, --db)."""
    parser = sub.add_parser("rules", help="try a rule query on the stored stories; mute or unmute a rule")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = actions.add_parser("test", help="list the stored stories a query, or a configured rule, matches")
    common(p)
    p.add_argument("query", nargs="?", help="a query, e.g. 'Rogozin NEAR/5 Romania AND NOT title:Mars'")
    p.add_argument("--rule", metavar="NAME", help="test this configured rule instead of a QUERY")
    p.add_argument(
        "--since", default="30d", help="stories first seen in this period: 90m, 24h, 30d, 4w (default 30d)"
    )
    p.add_argument("--limit", type=int, default=20, help="show at most this many, newest first (default 20)")
    p.set_defaults(func=cmd_rules_test)

    p = actions.add_parser("mute", help="hold a rule's alerts for a while (they wait, they are not lost)")
    common(p)
    p.add_argument("name", help="the rule's name in the configuration")
    p.add_argument("--for", dest="period", required=True, metavar="PERIOD", help="how long: 90m, 2h, 3d, 1w")
    p.set_defaults(func=cmd_rules_mute)

    p = actions.add_parser("unmute", help="end a rule's mute now: its waiting alerts go out on the next run")
    common(p)
    p.add_argument("name", help="the rule's name in the configuration")
    p.set_defaults(func=cmd_rules_unmute)


def _settings(args, *, required: bool):
    """The configuration (a bad one is a usage error); None when it is absent and not `required`."""
    from flows.settings import ConfigError, load_settings

    if not required and args.db and not Path(args.config).exists():
        return None
    try:
        return load_settings(args.config, check_secrets=False)
    except ConfigError as e:
        raise UsageError(str(e)) from None


def _rule(settings, name: str):
    rules = {rule.name: rule for rule in settings.alert_rules()} if settings else {}
    if name not in rules:
        known = ", ".join(rules) or "none"
        raise UsageError(
            f"no rule named {name!r} in {getattr(settings, 'source', None) or 'the configuration'} (rules: {known})"
        )
    return rules[name]


def cmd_rules_test(args) -> int:
    from alerts.config import Rule, Watchlist
    from alerts.matching import RuleMatcher
    from alerts.preview import preview, render_preview
    from alerts.query import QueryError
    from flows.report.command import parse_since
    from flows.settings import resolve_db_path
    from warehouse.readonly import QueryRefused, connect
    from warehouse.rules_state import stored_stories

    if (args.query is None) == (args.rule is None):
        raise UsageError("give either a QUERY or --rule NAME")
    if args.limit < 1:
        raise UsageError(f"--limit {args.limit}: expected at least 1")
    period = parse_since(args.since)
    settings = _settings(args, required=args.rule is not None)
    watchlist = settings.alert_watchlist() if settings else Watchlist()
    if args.rule is not None:
        rule, what = _rule(settings, args.rule), f"rule {args.rule}"
    else:
        rule, what = Rule("(query)", query=args.query), args.query
    try:
        matcher = RuleMatcher(watchlist, (rule,))
    except QueryError as e:
        raise UsageError(e.report("query")) from None
    db = args.db or resolve_db_path(settings, None)
    try:
        con = connect(db)
    except QueryRefused as e:
        print(f"newswatch rules test: {e}", file=sys.stderr)
        return EXIT_FAILED
    try:
        since = None if period is None else datetime.now(UTC) - period  # --since all
        result = preview(matcher, rule.name, stored_stories(con, since=since, newest_first=True), args.limit)
    finally:
        con.close()
    sys.stdout.write(render_preview(result, what, f"in the last {args.since.strip()}"))
    return EXIT_OK


@contextmanager
def _writer(settings, args):
    """The rule statements of the warehouse, for a short write; a running ingest is waited for."""
    from flows.settings import resolve_db_path
    from warehouse.errors import WarehouseBusy
    from warehouse.rules_state import RulesStore
    from warehouse.store import Warehouse

    db = resolve_db_path(settings, args.db)
    if not db.exists():  # opening would create an empty warehouse for a mistyped path
        raise UsageError(f"no warehouse at {db}: run `newswatch run` first")
    with ExitStack() as stack:
        waiting = False
        while True:
            try:
                wh = stack.enter_context(Warehouse.open(db))
                break
            except WarehouseBusy:  # a run is writing: the change applies from the next run anyway
                if not waiting:
                    print(
                        f"newswatch rules {args.action}: waiting for the running ingest to finish…",
                        file=sys.stderr,
                    )
                    waiting = True
                time.sleep(0.5)
        yield RulesStore(wh)


def cmd_rules_mute(args) -> int:
    from flows.report.command import parse_since

    settings = _settings(args, required=True)
    name = _rule(settings, args.name).name
    until = datetime.now(UTC) + parse_since(args.period, "--for", allow_all=False)
    with _writer(settings, args) as store:
        store.mute(name, until)
    print(
        f"rule {name} muted until {until:%Y-%m-%d %H:%M} UTC: its alerts wait in the outbox and go out "
        f"after that (`newswatch rules unmute {name}` ends the mute now)"
    )
    return EXIT_OK


def cmd_rules_unmute(args) -> int:
    settings = _settings(args, required=True)
    name = _rule(settings, args.name).name
    with _writer(settings, args) as store:
        lifted = store.unmute(name)
    if lifted:
        print(f"rule {name} unmuted: its waiting alerts go out on the next run")
    else:
        print(f"rule {name} was not muted")
    return EXIT_OK
