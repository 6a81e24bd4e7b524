"""Tiny chart helpers: each returns one inline `<svg>` string (no script, no external resource).

Every text that reaches the SVG is escaped here, so callers may pass hostile names and titles.
Each chart has a title, axis labels, ticks and a legend (`<g class="legend">`, one `<text>` per
series); every mark carries a `<title>` tooltip with its exact value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

# Okabe-Ito, then a few more distinct hues: readable for colour-blind readers.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
    "#8C564B",
    "#7F7F7F",
)
FONT = "font-family:system-ui,sans-serif;font-size:11px"
WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 52, 190, 34, 46  # margins; the legend sits in the right margin
CHAR_PX = 6.2  # rough width of one 11px character, for truncating labels


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _t(text: object) -> str:
    return escape(str(text), quote=True)


def _short(text: str, chars: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """0 .. a round number >= top, in steps of 1, 2 or 5 times a power of ten (integers for counts)."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(step, 1)
    n = math.ceil(top / step)
    return [i * step for i in range(n + 1)]


def _open(title: str, width: int, height: int, kind: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_t(title)}" style="{FONT}">',
        f"<title>{_t(title)}</title>",
        f'<text class="chart-title" x="{width / 2:.0f}" y="16" text-anchor="middle" '
        f'style="font-size:13px;font-weight:600">{_t(title)}</text>',
    ]


def _legend(names: Sequence[str], x: float, y: float, max_chars: int = 26) -> list[str]:
    out = ['<g class="legend">']
    for i, name in enumerate(names):
        yy = y + i * 17
        out.append(f'<rect x="{x:.0f}" y="{yy - 9:.0f}" width="11" height="11" fill="{color(i)}"/>')
        out.append(
            f'<text x="{x + 16:.0f}" y="{yy:.0f}"><title>{_t(name)}</title>{_t(_short(name, max_chars))}</text>'
        )
    out.append("</g>")
    return out


def _y_axis(ticks: list[float], x0: float, y_of, plot_right: float, label: str, mid_y: float) -> list[str]:
    out = ['<g class="y-axis">']
    for v in ticks:
        y = y_of(v)
        out.append(f'<line x1="{x0:.1f}" x2="{plot_right:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{x0 - 5:.1f}" y="{y + 4:.1f}" text-anchor="end">{_num(v)}</text>')
    out.append(
        f'<text class="axis-label" transform="translate(13 {mid_y:.0f}) rotate(-90)" '
        f'text-anchor="middle">{_t(label)}</text>'
    )
    out.append("</g>")
    return out


def _x_axis(labels: Sequence[str], x_of, y0: float, label: str, mid_x: float) -> list[str]:
    every = max(1, math.ceil(len(labels) / 12))  # at most ~12 tick labels, whatever the period
    out = ['<g class="x-axis">']
    for i, text in enumerate(labels):
        if i % every:
            continue
        x = x_of(i)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y0:.1f}" y2="{y0 + 4:.1f}" stroke="#555"/>')
        out.append(f'<text x="{x:.1f}" y="{y0 + 16:.1f}" text-anchor="middle">{_t(text)}</text>')
    out.append(
        f'<text class="axis-label" x="{mid_x:.0f}" y="{y0 + 34:.1f}" text-anchor="middle">{_t(label)}</text>'
    )
    out.append("</g>")
    return out


def _frame(x0: float, y0: float, x1: float, y1: float) -> str:
    return f'<path d="M{x0:.1f},{y1:.1f} V{y0:.1f} H{x1:.1f}" fill="none" stroke="#555"/>'


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    x_label: str,
    y_label: str,
) -> str:
    """One line per series over the x labels (e.g. days); points are marked so one day still shows."""
    x0, x1, y1, y0 = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    ticks = nice_ticks(max((max(v, default=0) for v in series.values()), default=0))
    n = len(x_labels)
    step = (x1 - x0) / max(n, 1)

    def x_of(i: int) -> float:
        return x0 + step * (i + 0.5)

    def y_of(v: float) -> float:
        return y0 - (y0 - y1) * v / ticks[-1]

    out = _open(title, WIDTH, HEIGHT, "line-chart")
    out += _y_axis(ticks, x0, y_of, x1, y_label, (y0 + y1) / 2)
    out += _x_axis(x_labels, x_of, y0, x_label, (x0 + x1) / 2)
    out.append(_frame(x0, y0, x1, y1))
    for i, (name, values) in enumerate(series.items()):
        points = [(x_of(j), y_of(v)) for j, v in enumerate(values)]
        out.append(f'<g class="series" data-series="{_t(name)}">')
        if len(points) > 1:
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            out.append(f'<polyline points="{d}" fill="none" stroke="{color(i)}" stroke-width="2"/>')
        for (x, y), v, day in zip(points, values, x_labels, strict=True):
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color(i)}">'
                f"<title>{_t(name)}, {_t(day)}: {_num(v)}</title></circle>"
            )
        out.append("</g>")
    out += _legend(list(series), x1 + 18, y1 + 10)
    out.append("</svg>")
    return "\n".join(out)


def stacked_bars(
    title: str,
    x_labels: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    x_label: str,
    y_label: str,
) -> str:
    """One bar per x label, stacked by series (in the order given, first at the bottom)."""
    x0, x1, y1, y0 = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    n = len(x_labels)
    totals = [sum(values[j] for values in series.values()) for j in range(n)]
    ticks = nice_ticks(max(totals, default=0))
    step = (x1 - x0) / max(n, 1)
    bar = max(1.0, step * 0.7)

    def x_of(i: int) -> float:
        return x0 + step * (i + 0.5)

    def y_of(v: float) -> float:
        return y0 - (y0 - y1) * v / ticks[-1]

    out = _open(title, WIDTH, HEIGHT, "stacked-bars")
    out += _y_axis(ticks, x0, y_of, x1, y_label, (y0 + y1) / 2)
    out += _x_axis(x_labels, x_of, y0, x_label, (x0 + x1) / 2)
    base = [0.0] * n
    for i, (name, values) in enumerate(series.items()):
        out.append(f'<g class="series" data-series="{_t(name)}" fill="{color(i)}">')
        for j, v in enumerate(values):
            if v <= 0:
                continue
            top, bottom = y_of(base[j] + v), y_of(base[j])
            out.append(
                f'<rect x="{x_of(j) - bar / 2:.1f}" y="{top:.1f}" width="{bar:.1f}" height="{bottom - top:.1f}">'
                f"<title>{_t(name)}, {_t(x_labels[j])}: {_num(v)}</title></rect>"
            )
            base[j] += v
        out.append("</g>")
    out.append(_frame(x0, y0, x1, y1))
    out += _legend(list(series), x1 + 18, y1 + 10)
    out.append("</svg>")
    return "\n".join(out)


def horizontal_bars(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    x_label: str,
    y_label: str,
    legend: str,
) -> str:
    """One bar per label (e.g. story titles), longest first as given; labels truncated, full in tooltips."""
    left, label_chars, row = 290, 44, 24
    x0, x1, y1 = left, WIDTH - 70, TOP + 10
    y0 = y1 + row * max(len(labels), 1)
    height = int(y0 + BOTTOM + 20)
    ticks = nice_ticks(max(values, default=0))

    def x_of(v: float) -> float:
        return x0 + (x1 - x0) * v / ticks[-1]

    out = _open(title, WIDTH, height, "horizontal-bars")
    out.append('<g class="x-axis">')
    for v in ticks:
        x = x_of(v)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y1:.1f}" y2="{y0:.1f}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{x:.1f}" y="{y0 + 16:.1f}" text-anchor="middle">{_num(v)}</text>')
    out.append(
        f'<text class="axis-label" x="{(x0 + x1) / 2:.0f}" y="{y0 + 34:.1f}" text-anchor="middle">{_t(x_label)}</text>'
    )
    out.append("</g>")
    out.append(
        f'<text class="axis-label" x="8" y="{y1 - 6:.0f}" style="font-weight:600">{_t(y_label)}</text>'
    )
    out.append(f'<g class="series" data-series="{_t(legend)}" fill="{color(0)}">')
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = y1 + row * i
        out.append(
            f'<text class="bar-label" x="{x0 - 6}" y="{y + row / 2 + 4:.1f}" text-anchor="end" fill="#222">'
            f"<title>{_t(label)}</title>{_t(_short(label, label_chars))}</text>"
        )
        out.append(
            f'<rect x="{x0}" y="{y + 4:.1f}" width="{x_of(v) - x0:.1f}" height="{row - 8}">'
            f"<title>{_t(label)}: {_num(v)}</title></rect>"
        )
        out.append(f'<text x="{x_of(v) + 4:.1f}" y="{y + row / 2 + 4:.1f}" fill="#222">{_num(v)}</text>')
    out.append("</g>")
    out.append(_frame(x0, y0, x1, y1))
    out += _legend([legend], x0, height - 8, max_chars=60)
    out.append("</svg>")
    return "\n".join(out)
