"""The report as one self-contained HTML page: inline CSS and SVG charts, tables, no script.

Everything read from the warehouse is hostile web text: it is escaped on the way out, and only
http(s) URLs become links. A Content-Security-Policy forbids scripts and remote loads, in case
something ever slips through.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path
from urllib.parse import urlsplit

from flows.report.figures import charts
from warehouse.report_queries import ReportData

_CONTROL = dict.fromkeys([*range(0, 32), 127], " ")


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


def period_note(since: str) -> str:
    """'last 7d', or 'everything on record' for --since all."""
    return "everything on record" if since.strip().lower() == "all" else f"last {plain(since)}"


def _names(values) -> str:
    return ", ".join(esc(v) for v in (values or []))


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
<dt>Period</dt><dd id="period">{esc(_when(start))} to {esc(_when(end))} UTC ({esc(period_note(since))})</dd>
<dt>Generated</dt><dd id="generated">{esc(_when(generated, "%Y-%m-%d %H:%M:%S"))} UTC</dd>
<dt>Warehouse</dt><dd id="warehouse"><code>{esc(db.resolve())}</code></dd>
</dl>
<ul class="counts">{count_items}</ul>
<p class="note">Stories and copies are counted by when newswatch first saw them (publication dates are
shown beside each story, and charted too); seed documents count only as originals of copies.</p>
</header>
<main>
<section id="charts"><h2>Charts</h2>
{charts(data)}
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
