"""The report's charts from its data: stories by first seen (per actor, keyword and feed) and by
publication date (per feed), over bins as wide as each span needs (flows/report/bins.py)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from html import escape

from flows.report import charts as svg
from flows.report.bins import AXIS, bin_starts, label
from warehouse.report_queries import ReportData


def series(rows: list[dict], key: str, bins: list[date], top: int = 10) -> dict[str, list[float]]:
    """rows of (bin, <key>, articles) -> {name: one value per bin}, biggest total first, at most `top`."""
    index = {d: i for i, d in enumerate(bins)}
    out: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(bins))
    for r in rows:
        if r["bin"] in index:
            out[r[key]][index[r["bin"]]] += r["articles"]
    ranked = sorted(out.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    if len(ranked) > top:  # a legend of 40 feeds helps nobody: the smallest are summed
        rest = ranked[top - 1 :]
        other = [sum(values[i] for _, values in rest) for i in range(len(bins))]
        ranked = [*ranked[: top - 1], (f"{len(rest)} other feeds", other)]
    return dict(ranked)


def _figure(fig_id: str, title: str, chart: str | None, note: str = "") -> str:
    body = chart if chart else f'<p class="empty">{escape(title)}: no data in this period.</p>'
    if note:
        body += f'<p class="note">{escape(note)}</p>'
    return f'<figure id="{fig_id}">{body}</figure>'


def charts(data: ReportData) -> str:
    bins = bin_starts(data.chart_start, data.end, data.unit)
    labels = [label(b, data.unit) for b in bins]
    axis = f"{AXIS[data.unit]} first seen (UTC)"
    parts = [
        f'<p class="note" id="bins">One point or bar per {data.unit} (UTC); the first and last '
        f"{data.unit}s may cover only part of one.</p>"
    ]
    for kind, fig_id, what in (
        ("actor", "chart-actors", "actors"),
        ("keyword", "chart-keywords", "keywords"),
    ):
        rows = [r for r in data.mentions_binned if r["kind"] == kind]
        title = f"Stories mentioning the top {what}, per {data.unit} first seen"
        chart = (
            svg.line_chart(title, labels, series(rows, "name", bins), x_label=axis, y_label="stories")
            if rows
            else None
        )
        parts.append(_figure(fig_id, title, chart))
    title = f"Stories per feed per {data.unit} first seen"
    per_feed = series(data.articles_binned, "feed", bins)
    chart = svg.stacked_bars(title, labels, per_feed, x_label=axis, y_label="stories") if per_feed else None
    parts.append(_figure("chart-feeds", title, chart))
    parts.append(published_chart(data))
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


def published_chart(data: ReportData) -> str:
    """The period's stories per feed by publication date, over the span of their dates (a feed's
    backlog on its first poll can reach years back)."""
    p = data.published
    title = f"Stories of the period per feed, by {p.unit} of publication"
    missing = []
    if p.undated:
        missing.append(f"{p.undated} without a publication date")
    if p.future:
        missing.append(f"{p.future} dated after the period")
    note = f"Not shown: {' and '.join(missing)}." if missing else ""
    if not (p.first and p.last and p.rows):
        return _figure("chart-published", title, None, note)
    bins = bin_starts(p.first, p.last, p.unit)
    chart = svg.stacked_bars(
        title,
        [label(b, p.unit) for b in bins],
        series(p.rows, "feed", bins),
        x_label=f"{AXIS[p.unit]} published (UTC)",
        y_label="stories",
    )
    return _figure("chart-published", title, chart, note)
