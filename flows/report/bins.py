"""Time bins of the report's charts: as wide as the span needs, so a chart has at most ~150 points
whatever the period (a day for up to three months, a week for up to two years, a month for up to
twelve years, else a year), each labelled with its year.

A bin is named by its first day, as DuckDB's date_trunc names it (a week starts on Monday).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

# (bin, longest span it is used for): the first that fits is taken
SPANS = (("day", timedelta(days=92)), ("week", timedelta(days=731)), ("month", timedelta(days=12 * 366)))
AXIS = {"day": "day", "week": "week starting", "month": "month", "year": "year"}


def choose_bin(first: datetime, last: datetime) -> str:
    span = last - first
    return next((unit for unit, longest in SPANS if span <= longest), "year")


def truncate(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "year":
        return day.replace(month=1, day=1)
    return day


def following(day: date, unit: str) -> date:
    """The first day of the bin after the one starting on `day`."""
    if unit == "day":
        return day + timedelta(days=1)
    if unit == "week":
        return day + timedelta(days=7)
    if unit == "month":
        return date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return date(day.year + 1, 1, 1)


def bin_starts(first: datetime, last: datetime, unit: str) -> list[date]:
    """Every bin from the one holding `first` to the one holding `last` (UTC), in order."""
    day, end = truncate(_utc_day(first), unit), truncate(_utc_day(last), unit)
    out = []
    while day <= end:
        out.append(day)
        day = following(day, unit)
    return out


def label(day: date, unit: str) -> str:
    """A bin's label, always with its year: 2026-03-14, 2026-03-09 (a week), 2026-03, 2026."""
    if unit == "month":
        return day.strftime("%Y-%m")
    if unit == "year":
        return str(day.year)
    return day.isoformat()


def _utc_day(when: datetime) -> date:
    return when.astimezone(UTC).date() if when.tzinfo else when.date()
