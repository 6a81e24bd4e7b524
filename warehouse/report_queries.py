"""Every query of `newswatch report`, run on the published warehouse (read-only).

A report covers what *arrived* in the period: stories are selected and counted per day by
`first_seen` (when newswatch stored them), not by publication date. A digest must show every story
found since the last one, including a feed's backlog of older items on its first poll and items a
feed dates wrongly; the publication date is shown beside each story. (The `mentions_daily` view
dates by publication instead: an analyst's question, not a digest's.) Seed documents are the
baseline, not news: they appear only as the originals of copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from warehouse.readonly import QueryRefused, connect

ARRIVED = "a.first_seen"
NEW_STORIES_LIMIT = 500
RUNS_LIMIT = 200


@dataclass(frozen=True, slots=True)
class ReportData:
    """What the report shows, as plain rows (dicts keyed by column name)."""

    counts: dict[str, int]  # stories, copies, alerts (in the period); feeds, feeds_failing, feeds_disabled
    mentions_daily: list[dict]  # day, kind, name, articles: the top names of each kind only
    articles_daily: list[dict]  # day, feed, articles
    republished: list[dict]  # article_id, title, url, feed, copies, copies_total, republished_by
    new_stories: list[
        dict
    ]  # article_id, title, url, feed, published_at, first_seen, actors, keywords, copies
    feed_health: list[dict]  # the feed_health view
    alerts_by_status: list[dict]  # rule, channel, status, alerts, latest (alerts created in the period)
    runs: list[dict]  # runs started in the period, newest first


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


def mentions_daily(
    con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, top: int = 8
) -> list[dict]:
    """Articles mentioning each actor/keyword per day; only the `top` names of each kind."""
    return _rows(
        con,
        f"""
        WITH per_day AS (
            SELECT CAST({ARRIVED} AS DATE) AS day, m.kind, m.name, count(*) AS articles
            FROM mentions m JOIN articles a USING (article_id)
            WHERE a.feed <> 'seed' AND {ARRIVED} BETWEEN $start AND $end
            GROUP BY ALL
        ), ranked AS (
            SELECT kind, name,
                   row_number() OVER (PARTITION BY kind ORDER BY sum(articles) DESC, name) AS rank
            FROM per_day GROUP BY kind, name
        )
        SELECT p.day, p.kind, p.name, p.articles, r.rank
        FROM per_day p JOIN ranked r USING (kind, name)
        WHERE r.rank <= $top
        ORDER BY p.kind, r.rank, p.day
        """,
        {"start": start, "end": end, "top": top},
    )


def articles_daily(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> list[dict]:
    return _rows(
        con,
        f"""
        SELECT CAST({ARRIVED} AS DATE) AS day, a.feed, count(*) AS articles
        FROM articles a
        WHERE a.feed <> 'seed' AND {ARRIVED} BETWEEN $start AND $end
        GROUP BY ALL ORDER BY day, a.feed
        """,
        {"start": start, "end": end},
    )


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


def load_report(db: Path, start: datetime, end: datetime, *, top_names: int = 8) -> ReportData:
    """Everything the report shows for [start, end], from one read-only snapshot of `db`.

    Raises QueryRefused when there is no warehouse at `db` or it cannot be read.
    """
    con = connect(db)
    try:
        return ReportData(
            counts=counts(con, start, end),
            mentions_daily=mentions_daily(con, start, end, top_names),
            articles_daily=articles_daily(con, start, end),
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
