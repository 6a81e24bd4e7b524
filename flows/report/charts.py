"""Tiny chart helpers: each returns one inline `<svg>` string (no script, no external resource).

Every text that reaches the SVG is escaped here, so callers may pass hostile names and titles.
Each chart has a title, axis labels, ticks and a legend (`<g class="legend">`, one `<text>` per
series); every mark carries a `<title>` tooltip with its exact value.

A chart's size is bounded by its number of bins, never by the number of articles: lines carry a
mark per point only up to MARK_ALL points (beyond, a few marks per line, staggered between series),
and stacked bars become stacked areas (one path per series) beyond MAX_BARS bins. Lines that
coincide stay told apart: each series has its own colour, dash pattern and mark shape, shown in the
legend, the marks of different series fall on different points, and where a series has the same
value as an earlier one it is drawn 2.5 px above it.
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
DASHES = ("", "7 3", "2 3", "9 3 2 3", "4 4", "12 4", "1 3", "6 2 2 2 2 2", "10 2", "3 6")
MARKS = ("circle", "square", "triangle", "diamond", "triangle-down", "cross", "plus", "bar", "star", "dash")
MARK_ALL = 62  # up to this many points, every point has its mark (and tooltip)
SPARSE_MARKS = 10  # beyond, about this many marks per line
MAX_BARS = 62  # beyond this many bins, stacked bars are drawn as stacked areas
COINCIDE_PX = 2.5  # how far above an earlier series with the same value a point is drawn
FONT = "font-family:system-ui,sans-serif;font-size:11px"
WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 52, 190, 34, 46  # margins; the legend sits in the right margin
CHAR_PX = 6.2  # rough width of one 11px character, for truncating labels


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def dash(i: int) -> str:
    pattern = DASHES[i % len(DASHES)]
    return f' stroke-dasharray="{pattern}"' if pattern else ""


def mark(i: int, x: float, y: float, tooltip: str = "") -> str:
    """Series i's mark shape at (x, y), with an optional tooltip; class "mark"."""
    kind, c, tip = MARKS[i % len(MARKS)], color(i), f"<title>{_t(tooltip)}</title>" if tooltip else ""
    if kind == "circle":
        return f'<circle class="mark" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{c}">{tip}</circle>'
    shapes = {
        "square": "M{a},{b}h5.4v5.4h-5.4z",
        "triangle": "M{x},{c}l3.4,6h-6.8z",
        "diamond": "M{x},{c}l3.4,3.6l-3.4,3.6l-3.4,-3.6z",
        "triangle-down": "M{a},{b}h6.8l-3.4,6z",
        "cross": "M{a},{b}l6,6m0,-6l-6,6",
        "plus": "M{x},{c}v7m-3.5,-3.5h7",
        "bar": "M{x},{c}v7",
        "star": "M{x},{c}v7m-3,-5.5l6,4m0,-4l-6,4",
        "dash": "M{a},{y}h7",
    }
    d = shapes[kind].format(
        a=f"{x - 3:.1f}", b=f"{y - 3:.1f}", c=f"{y - 3.5:.1f}", x=f"{x:.1f}", y=f"{y:.1f}"
    )
    paint = (
        f'stroke="{c}" stroke-width="2" fill="none"'
        if kind in ("cross", "plus", "bar", "star", "dash")
        else f'fill="{c}"'
    )
    return f'<path class="mark" d="{d}" {paint}>{tip}</path>'


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


def _legend(names: Sequence[str], x: float, y: float, max_chars: int = 26, lines: bool = False) -> list[str]:
    """One entry per series: a colour swatch, or for lines a sample of its dash pattern and mark."""
    out = ['<g class="legend">']
    for i, name in enumerate(names):
        yy = y + i * 17
        if lines:
            out.append(
                f'<line x1="{x - 8:.0f}" x2="{x + 12:.0f}" y1="{yy - 4:.0f}" y2="{yy - 4:.0f}" '
                f'stroke="{color(i)}" stroke-width="2"{dash(i)}/>'
            )
            out.append(mark(i, x + 2, yy - 4))
        else:
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


def _x_axis(labels: Sequence[str], x_of, y0: float, label: str, mid_x: float, width: float) -> list[str]:
    """Tick labels that fit side by side: as many as the longest label allows across `width`."""
    room = max(len(text) for text in labels) * CHAR_PX + 14 if labels else width
    every = max(1, math.ceil(len(labels) / max(2, int(width // room))))
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
    """One line per series over the x labels (bins of time). Every point is marked while there are
    few; beyond MARK_ALL points a line has about SPARSE_MARKS marks, staggered between series so
    lines that coincide still show each one's marks."""
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
    out += _x_axis(x_labels, x_of, y0, x_label, (x0 + x1) / 2, x1 - x0)
    out.append(_frame(x0, y0, x1, y1))
    every = 1 if n <= MARK_ALL else math.ceil(n / SPARSE_MARKS)
    drawn: list[dict[float, int]] = [{} for _ in range(n)]  # per point: value -> series drawn there
    for i, (name, values) in enumerate(series.items()):
        points = []
        for j, v in enumerate(values):
            # a point where earlier series have the same value is drawn a little above them, so
            # lines that coincide show side by side (the tooltips keep the exact values)
            points.append((x_of(j), y_of(v) - COINCIDE_PX * drawn[j].get(v, 0)))
            drawn[j][v] = drawn[j].get(v, 0) + 1
        out.append(f'<g class="series" data-series="{_t(name)}">')
        if len(points) > 1:
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            out.append(
                f'<polyline points="{d}" fill="none" stroke="{color(i)}" stroke-width="2"{dash(i)}>'
                f"<title>{_t(name)}: {_num(sum(values))} in all</title></polyline>"
            )
        first = (i * every) // max(len(series), 1) % every  # staggered: series i marks other points
        for j in range(first, n, every):
            (x, y), v = points[j], values[j]
            out.append(mark(i, x, y, f"{name}, {x_labels[j]}: {_num(v)}"))
        out.append("</g>")
    out += _legend(list(series), x1 + 26, y1 + 10, lines=True)
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
    """One bar per x label, stacked by series (in the order given, first at the bottom); beyond
    MAX_BARS labels, stacked areas (one path per series, its total in the tooltip)."""
    x0, x1, y1, y0 = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    n = len(x_labels)
    if n > MAX_BARS:
        return _stacked_areas(title, x_labels, series, x_label=x_label, y_label=y_label)
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
    out += _x_axis(x_labels, x_of, y0, x_label, (x0 + x1) / 2, x1 - x0)
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


def _stacked_areas(
    title: str, x_labels: Sequence[str], series: dict[str, Sequence[float]], *, x_label: str, y_label: str
) -> str:
    x0, x1, y1, y0 = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    n = len(x_labels)
    totals = [sum(values[j] for values in series.values()) for j in range(n)]
    ticks = nice_ticks(max(totals, default=0))
    step = (x1 - x0) / max(n - 1, 1)

    def x_of(i: int) -> float:
        return x0 + step * i

    def y_of(v: float) -> float:
        return y0 - (y0 - y1) * v / ticks[-1]

    out = _open(title, WIDTH, HEIGHT, "stacked-areas")
    out += _y_axis(ticks, x0, y_of, x1, y_label, (y0 + y1) / 2)
    out += _x_axis(x_labels, x_of, y0, x_label, (x0 + x1) / 2, x1 - x0)
    base = [0.0] * n
    for i, (name, values) in enumerate(series.items()):
        top = [b + v for b, v in zip(base, values, strict=True)]
        upper = " ".join(f"{x_of(j):.1f},{y_of(top[j]):.1f}" for j in range(n))
        lower = " ".join(f"{x_of(j):.1f},{y_of(base[j]):.1f}" for j in reversed(range(n)))
        out.append(
            f'<g class="series" data-series="{_t(name)}"><path d="M{upper} L{lower} Z" fill="{color(i)}" '
            f'stroke="#fff" stroke-width="0.5"><title>{_t(name)}: {_num(sum(values))} in all</title></path></g>'
        )
        base = top
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
