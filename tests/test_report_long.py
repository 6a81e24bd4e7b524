"""The report over long periods, on a real warehouse holding ten years of stories (~33,000): its
size stays bounded (no mark per article), bins widen with the period and keep their year, lines
that coincide stay told apart, and stories are charted by publication date as well."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lxml.html
import pytest

from flows.cli.main import main
from flows.report.bins import bin_starts, choose_bin, label
from tests.warehouse_factory import build_decade_warehouse

MONTH = re.compile(r"^\d{4}-\d{2}$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
YEAR = re.compile(r"^\d{4}$")


@pytest.fixture(scope="module")
def decade(tmp_path_factory) -> tuple[Path, dict]:
    db = tmp_path_factory.mktemp("decade") / "newswatch.duckdb"
    return db, build_decade_warehouse(db, years=10)


def report(db: Path, out: Path, since: str):
    assert main(["report", "--db", str(db), "--out", str(out), "--since", since]) == 0
    text = out.read_text(encoding="utf-8")
    return lxml.html.fromstring(text), text


def x_labels(doc, fig: str) -> list[str]:
    texts = doc.xpath(f'//figure[@id="{fig}"]//g[@class="x-axis"]/text[not(@class)]')
    return [t.text_content() for t in texts]


def totals(doc, fig: str) -> dict[str, int]:
    """Series name -> its total, from the tooltip of each series' line or area ("name: N in all")."""
    out = {}
    for t in doc.xpath(f'//figure[@id="{fig}"]//g[@class="series"]/*[not(@class="mark")]/title'):
        name, n = t.text_content().rsplit(": ", 1)
        out[name] = int(n.removesuffix(" in all"))
    return out


@pytest.fixture(scope="module")
def ten_years(decade, tmp_path_factory):
    db, facts = decade
    doc, text = report(db, tmp_path_factory.mktemp("r") / "r.html", "10y")
    return doc, text, facts


def test_a_ten_year_report_stays_small(ten_years):
    doc, text, facts = ten_years
    assert facts["stories"] > 30_000
    assert doc.xpath('//li[@id="count-stories"]/b')[0].text_content() == str(facts["stories"])
    assert len(text.encode()) < 400_000  # the new-stories table (500 rows) is most of it
    for svg in doc.xpath("//svg"):
        size = len(lxml.html.tostring(svg))
        marks = svg.xpath(".//circle | .//rect | .//path | .//polyline")
        assert size < 40_000 and len(marks) < 200, (svg.get("aria-label"), size, len(marks))


def test_bins_widen_with_the_period_and_keep_the_year(ten_years):
    doc, _, _ = ten_years
    for fig in ("chart-actors", "chart-keywords", "chart-feeds"):
        labels = x_labels(doc, fig)
        assert labels and all(MONTH.match(x) for x in labels), (fig, labels)
    assert (
        "per month first seen"
        in doc.xpath('//figure[@id="chart-feeds"]//text[@class="chart-title"]')[0].text_content()
    )


def test_series_totals_are_every_story(ten_years):
    doc, _, facts = ten_years
    assert totals(doc, "chart-feeds") == facts["per_feed"]


def test_coinciding_lines_are_told_apart(ten_years):
    doc, _, facts = ten_years
    series = doc.xpath('//figure[@id="chart-actors"]//g[@class="series"]')
    # each line has its own colour, dash pattern and mark shape (the shape: the mark's element and
    # its path with the numbers taken out)
    styles = set()
    for g in series:
        line, mark = g.xpath("./polyline")[0], g.xpath('./*[@class="mark"]')[0]
        shape = (mark.tag, re.sub(r"[\d.]+", "n", mark.get("d", "")))
        styles |= {("colour", line.get("stroke")), ("dash", line.get("stroke-dasharray")), ("mark", shape)}
    assert len(styles) == 3 * len(series)
    # the twins have the same value in every bin, yet their marks fall on different months
    a, b = facts["twins"]
    assert totals(doc, "chart-actors")[a] == totals(doc, "chart-actors")[b]
    marked = {}
    for name in (a, b):
        titles = doc.xpath(f'//figure[@id="chart-actors"]//g[@data-series="{name}"]/*[@class="mark"]/title')
        marked[name] = {t.text_content().split(", ")[1].split(":")[0] for t in titles}
        assert marked[name]
    assert not marked[a] & marked[b]


def test_stories_are_charted_by_publication_date_too(ten_years):
    doc, _, facts = ten_years
    labels = x_labels(doc, "chart-published")
    assert labels[0] == "2011" and all(YEAR.match(x) for x in labels)  # the backlog reaches back to 2011
    assert sum(totals(doc, "chart-published").values()) == facts["stories"]


@pytest.mark.parametrize(
    ("since", "unit", "bars"), [("7d", "day", 8), ("6mo", "week", 26), ("2y", "week", 105)]
)
def test_shorter_periods_have_narrower_bins(decade, tmp_path, since, unit, bars):
    db, _ = decade
    doc, _ = report(db, tmp_path / "r.html", since)
    title = doc.xpath('//figure[@id="chart-feeds"]//text[@class="chart-title"]')[0].text_content()
    assert f"per {unit} first seen" in title
    assert all(DAY.match(x) for x in x_labels(doc, "chart-feeds"))  # a week is named by its Monday
    if bars <= 62:  # bars, one per bin (a stacked rect per feed)
        bins = {
            r.xpath("./title")[0].text_content().split(", ")[1].split(":")[0]
            for r in doc.xpath('//figure[@id="chart-feeds"]//g[@class="series"]/rect')
        }
        assert bars - 1 <= len(bins) <= bars + 1  # the first and last bins may be partial
    else:  # stacked areas
        assert doc.xpath('//figure[@id="chart-feeds"]/svg[contains(@class, "stacked-areas")]')


@pytest.mark.parametrize("since", ["all", "100y"])
def test_all_and_longer_than_the_record_cover_everything(decade, tmp_path, since):
    db, facts = decade
    doc, _ = report(db, tmp_path / "r.html", since)
    assert doc.xpath('//li[@id="count-stories"]/b')[0].text_content() == str(facts["stories"])
    labels = x_labels(doc, "chart-feeds")
    assert all(MONTH.match(x) for x in labels)  # charted from the first record, not from 1970
    assert int(labels[0][:4]) >= facts["first_seen"].year
    period = doc.get_element_by_id("period").text_content()
    assert ("everything on record" in period) == (since == "all")


# ---- the bins themselves -------------------------------------------------------------------------

T0 = datetime(2026, 3, 14, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("span", "unit"),
    [
        (timedelta(hours=2), "day"),
        (timedelta(days=7), "day"),
        (timedelta(days=92), "day"),
        (timedelta(days=93), "week"),
        (timedelta(days=730), "week"),
        (timedelta(days=732), "month"),
        (timedelta(days=3650), "month"),
        (timedelta(days=20 * 365), "year"),
    ],
)
def test_choose_bin(span, unit):
    assert choose_bin(T0 - span, T0) == unit


def test_bin_starts_and_labels():
    start = datetime(2025, 12, 30, 23, tzinfo=UTC)
    weeks = bin_starts(start, T0, "week")
    assert weeks[0].isoformat() == "2025-12-29" and all(d.weekday() == 0 for d in weeks)
    months = bin_starts(start, T0, "month")
    assert [label(d, "month") for d in months] == ["2025-12", "2026-01", "2026-02", "2026-03"]
    assert [label(d, "year") for d in bin_starts(start, T0, "year")] == ["2025", "2026"]
    assert len(bin_starts(T0 - timedelta(days=3650), T0, "month")) <= 122
