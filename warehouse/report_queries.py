"""Every query of `newswatch report`, run on the published warehouse (read-only).

A report covers what *arrived* in the period: stories are selected by `first_seen` (when newswatch
stored them), not by publication date. A digest must show every story found since the last one,
including a feed's backlog of older items on its first poll and items a feed dates wrongly; the
same stories are also counted by publication date, over the span of their publication dates.
Counts are per bin (a day, week, month or year, chosen by the caller for the span, so a chart of
ten years has ~120 points, not 3,650). Seed documents are the baseline, not news: they appear only
as the originals of copies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from warehouse.readonly import QueryRefused, connect

ARRIVED = "a.first_seen"
BINS = ("day", "week", "month", "year")  # DuckDB's date_trunc parts: a week starts on Monday
NEW_STORIES_LIMIT = 500
RUNS_LIMIT = 200


@dataclass(frozen=True, slots=True)
class ReportData:
    """What the report shows, as plain rows (dicts keyed by column name)."""

    start: datetime  # the period (for --since all: from the first story, copy or run on record)
    end: datetime
    chart_start: datetime  # the first-seen charts start at the period's start or the first record, the later
    counts: dict[str, int]  # stories, copies, alerts (in the period); feeds, feeds_failing, feeds_disabled
    unit: str  # the bin of the first-seen counts: day, week, month or year
    mentions_binned: list[dict]  # bin (a date), kind, name, articles: the top names of each kind only
    articles_binned: list[dict]  # bin, feed, articles
    published: PublishedCounts  # the period's stories by publication date
    republished: list[dict]  # article_id, title, url, feed, copies, copies_total, republished_by
    new_stories: list[
        dict
    ]  # article_id, title, url, feed, published_at, first_seen, actors, keywords, copies
    feed_health: list[dict]  # the feed_health view
    alerts_by_status: list[dict]  # rule, channel, status, alerts, latest (alerts created in the period)
    runs: list[dict]  # runs started in the period, newest first


@dataclass(frozen=True, slots=True)
class PublishedCounts:
    """The period's stories counted by publication date, over the span of those dates."""

    unit: str  # bin of `rows`
    first: datetime | None  # earliest publication date (None: no story has one)
    last: datetime | None  # latest, at most the period's end
    rows: list[dict]  # bin, feed, articles
    undated: int  # stories without a publication date
    future: int  # stories dated after the period's end (a feed's wrong date), not in `rows`


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def counts(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> dict[str, int]:
    row = _rows(
        con,
        f"""
        SELECT
          (SELECT count(*) FROM articles a
            WHERE a.feed <> 'seed' AND {ARRIVED} BETWEEN $start AND $end) AS stories,
          (SELECT count(*) FROM duplicates d WHERE d.seen_at BETWEEN $start AND $end) AS copies,
          (SELECT count(*) FROM alerts al WHERE al.created_at BETWEEN $start AND $end) AS alerts,
          (SELECT count(*) FROM feeds) AS feeds,
          (SELECT count(*) FROM feeds WHERE enabled AND error_streak > 0) AS feeds_failing,
          (SELECT count(*) FROM feeds WHERE NOT enabled) AS feeds_disabled
        """,
        {"start": start, "end": end},
    )[0]
    return {k: int(v) for k, v in row.items()}


def mentions_binned(
    con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, unit: str, top: int = 8
) -> list[dict]:
    """Articles mentioning each actor/keyword per bin of first seen; only the `top` names of each kind."""
    return _rows(
        con,
        f"""
        WITH per_bin AS (
            SELECT CAST(date_trunc($unit, {ARRIVED}) AS DATE) AS bin, m.kind, m.name, count(*) AS articles
            FROM mentions m JOIN articles a USING (article_id)
            WHERE a.feed <> 'seed' AND {ARRIVED} BETWEEN $start AND $end
            GROUP BY ALL
        ), ranked AS (
            SELECT kind, name,
                   row_number() OVER (PARTITION BY kind ORDER BY sum(articles) DESC, name) AS rank
            FROM per_bin GROUP BY kind, name
        )
        SELECT p.bin, p.kind, p.name, p.articles, r.rank
        FROM per_bin p JOIN ranked r USING (kind, name)
        WHERE r.rank <= $top
        ORDER BY p.kind, r.rank, p.bin
        """,
        {"start": start, "end": end, "top": top, "unit": _unit(unit)},
    )


def articles_binned(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, unit: str) -> list[dict]:
    return _rows(
        con,
        f"""
        SELECT CAST(date_trunc($unit, {ARRIVED}) AS DATE) AS bin, a.feed, count(*) AS articles
        FROM articles a
        WHERE a.feed <> 'seed' AND {ARRIVED} BETWEEN $start AND $end
        GROUP BY ALL ORDER BY bin, a.feed
        """,
        {"start": start, "end": end, "unit": _unit(unit)},
    )


def published_span(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> dict:
    """first, last (at most `end`), undated and future counts of the period's stories' publication dates."""
    return _rows(
        con,
        f"""
        SELECT min(a.published_at) AS first,
               max(a.published_at) FILTER (WHERE a.published_at <= $end) AS last,
               count(*) FILTER (WHERE a.published_at IS NULL) AS undated,
               count(*) FILTER (WHERE a.published_at > $end) AS future
        FROM articles a
        WHERE a.feed <> 'seed' AND {ARRIVED} BETWEEN $start AND $end
        """,
        {"start": start, "end": end},
    )[0]


def published_binned(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, unit: str) -> list[dict]:
    return _rows(
        con,
        f"""
        SELECT CAST(date_trunc($unit, a.published_at) AS DATE) AS bin, a.feed, count(*) AS articles
        FROM articles a
        WHERE a.feed <> 'seed' AND {ARRIVED} BETWEEN $start AND $end AND a.published_at <= $end
        GROUP BY ALL ORDER BY bin, a.feed
        """,
        {"start": start, "end": end, "unit": _unit(unit)},
    )


def first_activity(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the record starts: the first story, copy or run (seed documents excluded)."""
    return con.execute(
        """
        SELECT least(
            (SELECT min(first_seen) FROM articles WHERE feed <> 'seed'),
            (SELECT min(seen_at) FROM duplicates),
            (SELECT min(started_at) FROM runs))
        """
    ).fetchone()[0]


def _unit(unit: str) -> str:
    if unit not in BINS:
        raise ValueError(f"unknown bin {unit!r}; expected one of {BINS}")
    return unit


def republished(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, top: int = 10) -> list[dict]:
    """Stories with the most copies seen in the period, and the outlets that republished them."""
    return _rows(
        con,
        """
        SELECT a.article_id, a.title, a.url, a.feed, a.published_at,
               count(*) AS copies,
               list(DISTINCT d.feed ORDER BY d.feed) AS republished_by,
               (SELECT count(*) FROM duplicates x WHERE x.duplicate_of = a.article_id) AS copies_total
        FROM duplicates d JOIN articles a ON a.article_id = d.duplicate_of
        WHERE d.seen_at BETWEEN $start AND $end
        GROUP BY a.article_id, a.title, a.url, a.feed, a.published_at
        ORDER BY copies DESC, a.article_id
        LIMIT $top
        """,
        {"start": start, "end": end, "top": top},
    )


def new_stories(
    con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, limit: int = NEW_STORIES_LIMIT
) -> list[dict]:
    return _rows(
        con,
        f"""
        SELECT a.article_id, a.title, a.url, a.feed, a.published_at, a.first_seen,
               coalesce((SELECT list(m.name ORDER BY m.name) FROM mentions m
                          WHERE m.article_id = a.article_id AND m.kind = 'actor'), []) AS actors,
               coalesce((SELECT list(m.name ORDER BY m.name) FROM mentions m
                          WHERE m.article_id = a.article_id AND m.kind = 'keyword'), []) AS keywords,
               (SELECT count(*) FROM duplicates d WHERE d.duplicate_of = a.article_id) AS copies
        FROM articles a
        WHERE a.feed <> 'seed' AND {ARRIVED} BETWEEN $start AND $end
        ORDER BY a.first_seen DESC, a.article_id DESC
        LIMIT $limit
        """,
        {"start": start, "end": end, "limit": limit},
    )


def feed_health(con: duckdb.DuckDBPyConnection) -> list[dict]:
    return _rows(con, "SELECT * FROM feed_health ORDER BY error_streak DESC, name", [])


def alerts_by_status(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> list[dict]:
    # The alerts_by_status view counts all time; a period report counts the alerts created in it.
    return _rows(
        con,
        """
        SELECT rule, channel, status, count(*) AS alerts, max(created_at) AS latest
        FROM alerts WHERE created_at BETWEEN $start AND $end
        GROUP BY ALL ORDER BY status, rule, channel
        """,
        {"start": start, "end": end},
    )


def runs(
    con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, limit: int = RUNS_LIMIT
) -> list[dict]:
    return _rows(
        con,
        """
        SELECT run_id, started_at, finished_at, status, feeds_due, feeds_polled, feeds_unchanged,
               feeds_failed, entries_new, pages_fetched, articles_stored, copies, off_topic, no_link,
               fetch_failed, extract_empty, mentions, alerts_created, alerts_sent, alerts_pending,
               outage, note
        FROM runs WHERE started_at BETWEEN $start AND $end
        ORDER BY run_id DESC LIMIT $limit
        """,
        {"start": start, "end": end, "limit": limit},
    )


def load_report(
    db: Path,
    start: datetime | None,
    end: datetime,
    bin_for: Callable[[datetime, datetime], str],
    *,
    top_names: int = 8,
) -> ReportData:
    """Everything the report shows for [start, end], from one read-only snapshot of `db`. `start`
    None: from the first activity on record. `bin_for(first, last)` names the bin for a span.

    Raises QueryRefused when there is no warehouse at `db` or it cannot be read.
    """
    con = connect(db)
    try:
        first_record = min(first_activity(con) or end, end)
        start = first_record if start is None else start
        chart_start = max(start, first_record)
        unit = bin_for(chart_start, end)
        span = published_span(con, start, end)
        first, last = span["first"], span["last"]
        published_unit = bin_for(first, last) if first and last else "day"
        return ReportData(
            start=start,
            end=end,
            chart_start=chart_start,
            counts=counts(con, start, end),
            unit=unit,
            mentions_binned=mentions_binned(con, start, end, unit, top_names),
            articles_binned=articles_binned(con, start, end, unit),
            published=PublishedCounts(
                unit=published_unit,
                first=first,
                last=last,
                rows=published_binned(con, start, end, published_unit) if last else [],
                undated=int(span["undated"]),
                future=int(span["future"]),
            ),
            republished=republished(con, start, end),
            new_stories=new_stories(con, start, end),
            feed_health=feed_health(con),
            alerts_by_status=alerts_by_status(con, start, end),
            runs=runs(con, start, end),
        )
    except duckdb.Error as e:  # e.g. a file that is not a newswatch warehouse
        raise QueryRefused(f"{db}: cannot read the warehouse: {str(e).splitlines()[0]}") from None
    finally:
        con.close()
