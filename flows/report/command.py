"""`newswatch report`: one self-contained HTML file (inline CSS and SVG, no script, no external
resource) over a period, and optionally the same report as a digest email.

Everything read from the warehouse is hostile web text: it is escaped on the way out, and only
http(s) URLs become links. A Content-Security-Policy forbids scripts and remote loads, in case
something ever slips through. The SQL lives in `warehouse.report_queries`.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts.email_channel import send_email
from alerts.errors import DeliveryError
from flows.channels import SecretUnavailable, build_channel
from flows.errors import EXIT_FAILED, EXIT_OK, UsageError
from flows.report.bins import choose_bin
from flows.report.digest import build_digest
from flows.report.html import render_html

SINCE = re.compile(r"^\s*(\d{1,9})\s*(m|h|d|w|mo|y)\s*$", re.IGNORECASE)
# A month is 30 days and a year 365: a period counts back from now, not to a calendar boundary.
UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # nothing newswatch stored is older: longer periods stop here
LONGEST = 200 * 365 * 86400  # seconds: any longer period is all of it too (and fits a timedelta)


# ---- the command --------------------------------------------------------------------------------


def parse_since(value: str, option: str = "--since", *, allow_all: bool = True) -> timedelta | None:
    """'7d', '24h', '4w', '90m', '6mo', '10y' -> a timedelta; 'all' -> None (everything on record,
    where `allow_all`); anything else raises UsageError naming the option and the value."""
    if allow_all and (value or "").strip().lower() == "all":
        return None
    m = SINCE.match(value or "")
    if not m:
        raise UsageError(
            f"{option} {value!r}: expected a number and a unit m, h, d, w, mo or y (e.g. 90m, 24h, 7d, "
            f"4w, 6mo, 10y){', or all' if allow_all else ''}"
        )
    amount = int(m.group(1))
    if amount == 0:
        raise UsageError(f"{option} {value!r}: expected a period longer than zero")
    return timedelta(seconds=min(amount * UNITS[m.group(2).lower()], LONGEST))


def period_start(period: timedelta | None, end: datetime) -> datetime | None:
    """The start of a period ending at `end`: never before 1970 (a longer period means all of it)."""
    if period is None:
        return None
    return EPOCH if period >= end - EPOCH else end - period


def write_report(args) -> int:
    """Write the report to args.out (and email it with args.email); return the exit code."""
    from flows.settings import ConfigError, EmailChannelConfig, load_settings, resolve_db_path
    from warehouse.readonly import QueryRefused
    from warehouse.report_queries import load_report

    period = parse_since(args.since)
    settings = None
    if args.email or not args.db:  # --db alone needs no config file
        try:
            settings = load_settings(args.config, check_secrets=False)
        except ConfigError as e:
            raise UsageError(str(e)) from None
    channel = None
    if args.email:
        channel = settings.channels.get(args.email)
        if channel is None:
            raise UsageError(
                f"--email {args.email!r}: no such channel in {args.config}; known: {sorted(settings.channels)}"
            )
        if not isinstance(channel, EmailChannelConfig):
            raise UsageError(f"--email {args.email!r}: channel is of type {channel.type!r}, not email")
        for key, var in (("username_env", channel.username_env), ("password_env", channel.password_env)):
            if var and not os.environ.get(var):
                raise UsageError(
                    f"--email {args.email!r}: channels.{args.email}.{key}: environment variable {var} is not set"
                )
    db = Path(args.db) if args.db else resolve_db_path(settings, None)

    end = datetime.now(UTC)  # not truncated: a run that started this very second is in the period
    try:
        data = load_report(db, period_start(period, end), end, choose_bin)
    except QueryRefused as e:
        print(f"newswatch report: {e}", file=sys.stderr)
        return EXIT_FAILED
    start = data.start
    page = render_html(data, start=start, end=end, since=args.since, db=db)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)  # a reader (or a mail job) never sees half a report
    print(out)

    if channel is not None:
        message = build_digest(
            data, page, start=start, end=end, since=args.since, sender=channel.sender, to=channel.recipients
        )
        try:
            send_email(build_channel(args.email, channel), message)
        except (DeliveryError, SecretUnavailable) as e:  # its message never holds the password
            print(f"newswatch report: email via channel {args.email!r} failed: {e}", file=sys.stderr)
            return EXIT_FAILED
        print(f"emailed to {', '.join(channel.recipients)} (channel {args.email})")
    return EXIT_OK
