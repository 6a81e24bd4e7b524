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
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import escape
from pathlib import Path
from urllib.parse import urlsplit

from alerts.email_channel import send_email
from alerts.errors import DeliveryError
from flows import svg
from flows.channels import build_channel
from warehouse.report_queries import ReportData

SINCE = re.compile(r"^\s*(\d{1,6})\s*([mhdw])\s*$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_PERIOD = timedelta(days=3660)
_CONTROL = dict.fromkeys([*range(0, 32), 127], " ")


# ---- the command --------------------------------------------------------------------------------


def parse_since(value: str) -> timedelta:
    """'7d', '24h', '4w', '90m' -> a timedelta; anything else raises UsageError naming the value."""
    from flows.cli import UsageError

    m = SINCE.match(value or "")
    if not m:
        raise UsageError(
            f"--since {value!r}: expected a number and a unit m, h, d or w (e.g. 90m, 24h, 7d, 4w)"
        )
    period = timedelta(**{UNITS[m.group(2)]: int(m.group(1))})
    if not timedelta(0) < period <= MAX_PERIOD:
        raise UsageError(f"--since {value!r}: expected a period longer than zero and at most 10 years")
    return period


def write_report(args) -> int:
    """Write the report to args.out (and email it with args.email); return the exit code."""
    from flows.cli import EXIT_FAILED, EXIT_OK, UsageError
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
    start = end - period
    try:
        data = load_report(db, start, end)
    except QueryRefused as e:
        print(f"newswatch report: {e}", file=sys.stderr)
        return EXIT_FAILED
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
        except DeliveryError as e:  # its message never holds the password
            print(f"newswatch report: email via channel {args.email!r} failed: {e}", file=sys.stderr)
            return EXIT_FAILED
        print(f"emailed to {', '.join(channel.recipients)} (channel {args.email})")
    return EXIT_OK


# ---- helpers for hostile text -------------------------------------------------------------------


def esc(value: object) -> str:
    return "" if value is None else escape(str(value), quote=True)


def safe_href(url: object) -> str | None:
    """The URL, escaped for an attribute, when it is an absolute http(s) URL; else None (no link)."""
    if not isinstance(url, str) or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return escape(url, quote=True)


def link(text: object, url: object) -> str:
    label = esc(text) or esc(url) or "(untitled)"
    href = safe_href(url)
    if href is None:
        return label
    return f'<a href="{href}" rel="noopener noreferrer nofollow">{label}</a>'


def plain(value: object) -> str:
    """One line of plain text: control characters (newlines, terminal escapes) become spaces."""
    return "" if value is None else " ".join(str(value).translate(_CONTROL).split())


def _when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(UTC).strftime(fmt) if isinstance(value, datetime) else ""


def _names(values) -> str:
    return ", ".join(esc(v) for v in (values or []))


# ---- charts -------------------------------------------------------------------------------------


def period_days(start: datetime, end: datetime) -> list[date]:
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _series(rows: list[dict], key: str, days: list[date], top: int = 10) -> dict[str, list[float]]:
    """rows of (day, <key>, articles) -> {name: one value per day}, biggest total first, at most `top`."""
    index = {d: i for i, d in enumerate(days)}
    out: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(days))
    for r in rows:
        if r["day"] in index:
            out[r[key]][index[r["day"]]] += r["articles"]
    ranked = sorted(out.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    if len(ranked) > top:  # a legend of 40 feeds helps nobody: the smallest are summed
        rest = ranked[top - 1 :]
        other = [sum(values[i] for _, values in rest) for i in range(len(days))]
        ranked = [*ranked[: top - 1], (f"{len(rest)} other feeds", other)]
    return dict(ranked)


def _figure(fig_id: str, title: str, chart: str | None) -> str:
    body = chart if chart else f'<p class="empty">{esc(title)}: no data in this period.</p>'
    return f'<figure id="{fig_id}">{body}</figure>'


def charts(data: ReportData, days: list[date]) -> str:
    labels = [d.strftime("%m-%d") for d in days]
    parts = []
    for kind, fig_id, what in (
        ("actor", "chart-actors", "actors"),
        ("keyword", "chart-keywords", "keywords"),
    ):
        rows = [r for r in data.mentions_daily if r["kind"] == kind]
        title = f"Stories mentioning the top {what}, per day first seen"
        chart = (
            svg.line_chart(title, labels, _series(rows, "name", days), x_label="day (UTC)", y_label="stories")
            if rows
            else None
        )
        parts.append(_figure(fig_id, title, chart))
    title = "Stories per feed per day first seen"
    series = _series(data.articles_daily, "feed", days)
    chart = (
        svg.stacked_bars(title, labels, series, x_label="day (UTC)", y_label="stories") if series else None
    )
    parts.append(_figure("chart-feeds", title, chart))
    title = "Most republished stories"
    chart = (
        svg.horizontal_bars(
            title,
            [r["title"] or r["url"] for r in data.republished],
            [r["copies"] for r in data.republished],
            x_label="copies seen in the period",
            y_label="story",
            legend="copies seen in the period",
        )
        if data.republished
        else None
    )
    parts.append(_figure("chart-republished", title, chart))
    return "\n".join(parts)


# ---- tables -------------------------------------------------------------------------------------


def table(
    table_id: str, headers: list[str], rows: list[list[str]], empty: str, css: list[str] | None = None
) -> str:
    """Cells must already be escaped HTML. `css`: an optional class per row."""
    if not rows:
        return f'<p class="empty" id="{table_id}">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, r in enumerate(rows):
        cls = f' class="{css[i]}"' if css and css[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def new_stories_table(data: ReportData) -> str:
    rows = [
        [
            esc(_when(r["first_seen"])),
            esc(_when(r["published_at"])),
            link(r["title"], r["url"]),
            esc(r["feed"]),
            _names(r["actors"]),
            _names(r["keywords"]),
            esc(r["copies"]),
        ]
        for r in data.new_stories
    ]
    note = ""
    if data.counts["stories"] > len(rows):
        note = f'<p class="note">Showing the newest {len(rows)} of {data.counts["stories"]} stories.</p>'
    return note + table(
        "new-stories",
        ["First seen (UTC)", "Published (UTC)", "Story", "Outlet", "Actors", "Keywords", "Copies"],
        rows,
        "No new stories in this period.",
    )


def republished_table(data: ReportData) -> str:
    rows = [
        [
            link(r["title"], r["url"]),
            esc(r["feed"]),
            esc(r["copies"]),
            esc(r["copies_total"]),
            _names(r["republished_by"]),
        ]
        for r in data.republished
    ]
    return table(
        "republished",
        ["Story", "Original outlet", "Copies in period", "Copies in all", "Also published by"],
        rows,
        "No copies seen in this period.",
    )


def feed_health_table(data: ReportData) -> str:
    rows, css = [], []
    for r in data.feed_health:
        state = "yes" if r["enabled"] else "disabled"
        rows.append(
            [
                esc(r["name"]),
                esc(state),
                esc(r["last_outcome"]),
                esc(r["last_status"]),
                esc(_when(r["last_success_at"])) or "never",
                esc(r["error_streak"]),
                esc(r["disabled_reason"] or r["last_error"]),
                esc(f"{float(r['items_per_day'] or 0):.1f}"),
            ]
        )
        css.append("bad" if not r["enabled"] or r["error_streak"] else "")
    return table(
        "feed-health",
        [
            "Feed",
            "Enabled",
            "Last outcome",
            "HTTP",
            "Last success (UTC)",
            "Consecutive failures",
            "Last error",
            "Items/day (7 days)",
        ],
        rows,
        "No feeds in the warehouse.",
        css,
    )


def alerts_table(data: ReportData) -> str:
    rows = [
        [esc(r["status"]), esc(r["rule"]), esc(r["channel"]), esc(r["alerts"]), esc(_when(r["latest"]))]
        for r in data.alerts_by_status
    ]
    return table(
        "alerts",
        ["Status", "Rule", "Channel", "Alerts", "Latest (UTC)"],
        rows,
        "No alerts created in this period.",
    )


def runs_table(data: ReportData) -> str:
    rows = []
    for r in data.runs:
        took = ""
        if r["finished_at"] and r["started_at"]:
            took = f"{(r['finished_at'] - r['started_at']).total_seconds():.0f} s"
        rows.append(
            [
                esc(r["run_id"]),
                esc(_when(r["started_at"])),
                esc(took),
                esc(r["status"]) + (" (outage)" if r["outage"] else ""),
                esc(f"{r['feeds_polled']}/{r['feeds_due']}"),
                esc(r["feeds_failed"]),
                esc(r["entries_new"]),
                esc(r["articles_stored"]),
                esc(r["copies"]),
                esc(r["off_topic"]),
                esc((r["fetch_failed"] or 0) + (r["extract_empty"] or 0) + (r["no_link"] or 0)),
                esc(r["mentions"]),
                esc(f"{r['alerts_created']}/{r['alerts_sent']}"),
                esc(r["note"]),
            ]
        )
    return table(
        "runs",
        [
            "Run",
            "Started (UTC)",
            "Took",
            "Status",
            "Feeds polled",
            "Failed",
            "New entries",
            "Stored",
            "Copies",
            "Off topic",
            "Not stored (fetch, empty, no link)",
            "Mentions",
            "Alerts created/sent",
            "Note",
        ],
        rows,
        "No runs in this period.",
    )


# ---- the page -----------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:14px}
dl.meta dt{color:#666}dl.meta dd{margin:0}
ul.counts{display:flex;gap:12px;list-style:none;padding:0;flex-wrap:wrap}
ul.counts li{background:#f3f5f8;border-radius:6px;padding:8px 14px}ul.counts b{font-size:20px;display:block}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f7f7f7}tr.bad td{background:#fff3f0}
figure{margin:16px 0}svg.chart{max-width:100%;height:auto}
p.empty{color:#777;font-style:italic}p.note{color:#555;font-size:13px}
a{color:#0b5cad}
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def render_html(data: ReportData, *, start: datetime, end: datetime, since: str, db: Path) -> str:
    c = data.counts
    generated = datetime.now(UTC)
    counts = [
        ("stories", c["stories"], "new stories"),
        ("copies", c["copies"], "copies seen"),
        ("feeds", c["feeds"], f"feeds ({c['feeds_failing']} failing, {c['feeds_disabled']} disabled)"),
        ("alerts", c["alerts"], "alerts created"),
    ]
    count_items = "".join(f'<li id="count-{k}"><b>{v}</b>{esc(label)}</li>' for k, v, label in counts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>newswatch report: {esc(_when(start))} to {esc(_when(end))} UTC</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>newswatch report</h1>
<dl class="meta">
<dt>Period</dt><dd id="period">{esc(_when(start))} to {esc(_when(end))} UTC (last {esc(since)})</dd>
<dt>Generated</dt><dd id="generated">{esc(_when(generated, "%Y-%m-%d %H:%M:%S"))} UTC</dd>
<dt>Warehouse</dt><dd id="warehouse"><code>{esc(db.resolve())}</code></dd>
</dl>
<ul class="counts">{count_items}</ul>
<p class="note">Stories and copies are counted by when newswatch first saw them (publication dates are
shown beside each story); seed documents count only as originals of copies.</p>
</header>
<main>
<section id="charts"><h2>Charts</h2>
{charts(data, period_days(start, end))}
</section>
<section><h2>New stories</h2>
{new_stories_table(data)}
</section>
<section><h2>Most republished stories</h2>
{republished_table(data)}
</section>
<section><h2>Feed health</h2>
{feed_health_table(data)}
</section>
<section><h2>Alerts by status</h2>
{alerts_table(data)}
</section>
<section><h2>Runs</h2>
{runs_table(data)}
</section>
</main>
</body>
</html>
"""


# ---- the digest email ---------------------------------------------------------------------------


def render_text(data: ReportData, *, start: datetime, end: datetime, since: str, limit: int = 15) -> str:
    """The plain-text part: counts, the newest stories, the most republished, feeds needing attention."""
    c = data.counts
    lines = [
        f"newswatch digest: {_when(start)} to {_when(end)} UTC (last {plain(since)})",
        f"{c['stories']} new stories, {c['copies']} copies seen, {c['alerts']} alerts; "
        f"{c['feeds']} feeds ({c['feeds_failing']} failing, {c['feeds_disabled']} disabled)",
        "",
    ]
    if data.new_stories:
        lines.append("New stories")
        for r in data.new_stories[:limit]:
            tags = ", ".join([*(r["actors"] or []), *(r["keywords"] or [])])
            lines.append(f"- {_when(r['first_seen'], '%m-%d')}  [{plain(r['feed'])}] {plain(r['title'])}")
            lines.append(f"  {plain(r['url'])}" + (f"  ({plain(tags)})" if tags else ""))
        if len(data.new_stories) > limit:
            lines.append(f"  ... and {c['stories'] - limit} more in the HTML report")
        lines.append("")
    if data.republished:
        lines.append("Most republished")
        for r in data.republished[:5]:
            by = ", ".join(plain(f) for f in r["republished_by"] or [])
            lines.append(
                f"- {plain(r['title'])} [{plain(r['feed'])}]: {r['copies']} copies, also published by {by}"
            )
        lines.append("")
    troubled = [r for r in data.feed_health if not r["enabled"] or r["error_streak"]]
    if troubled:
        lines.append("Feeds needing attention")
        for r in troubled:
            state = "disabled" if not r["enabled"] else f"{r['error_streak']} consecutive failures"
            lines.append(f"- {plain(r['name'])}: {state}: {plain(r['disabled_reason'] or r['last_error'])}")
        lines.append("")
    lines.append("The full report, with charts and tables, is the HTML part of this message.")
    return "\n".join(lines) + "\n"


def build_digest(
    data: ReportData,
    page: str,
    *,
    start: datetime,
    end: datetime,
    since: str,
    sender: str,
    to: tuple[str, ...] | list[str],
) -> EmailMessage:
    c = data.counts
    msg = EmailMessage()
    # The subject holds only numbers and our own words: no warehouse text reaches a header.
    msg["Subject"] = (
        f"newswatch digest {_when(start, '%Y-%m-%d')} to {_when(end, '%Y-%m-%d')}: "
        f"{c['stories']} new stories, {c['copies']} copies, {c['alerts']} alerts"
    )
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or None)
    msg.set_content(render_text(data, start=start, end=end, since=since))
    msg.add_alternative(page, subtype="html")
    return msg
