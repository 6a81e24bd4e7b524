"""Read-only lookups for the command line: what the ledger knows of one URL (`newswatch why`), and
each feed's health with its polling schedule (`newswatch feeds`). They take a read-only connection
to the published warehouse and import nothing heavy, so these commands start fast."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

import duckdb

FEEDS_QUERY = """
SELECT h.name, CASE WHEN h.enabled THEN 'yes' ELSE 'no' END AS enabled, h.last_outcome, h.last_status,
       strftime(h.last_success_at, '%Y-%m-%d %H:%M') AS last_success, h.error_streak AS failures,
       round(h.items_per_day, 1) AS items_per_day,
       CASE WHEN s.interval_minutes IS NULL THEN 'every run'
            ELSE printf('%.0f min', s.interval_minutes) END AS interval,
       coalesce(strftime(h.next_poll_at, '%Y-%m-%d %H:%M'), 'next run') AS next_poll,
       coalesce(s.gaps_7d, 0) AS gaps_7d, coalesce(s.unfilled_7d, 0) AS unfilled_7d,
       strftime(s.last_gap_at, '%Y-%m-%d %H:%M') AS last_gap,
       strftime(s.silent_since, '%Y-%m-%d %H:%M') AS silent_since,
       coalesce(h.disabled_reason, h.last_error) AS last_error, h.moved_to
FROM feed_health h LEFT JOIN feed_schedule s USING (name)
ORDER BY h.name
"""


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def origin(url: str) -> str:
    """scheme://host[:port] of a URL, lower-cased."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def explain_url(con: duckdb.DuckDBPyConnection, url: str, *, days: int = 30) -> dict:
    """Everything the warehouse knows of a (canonical) URL: its ledger rows (feed, when, outcome,
    reason), the article it became or copies, its mentions, alerts and revisions; for a URL never
    seen, the feeds of its site and their gaps over the last `days`."""
    entries = _rows(
        con,
        "SELECT feed, outcome, reason, article_id, attempts, retry, first_seen, last_seen, title, published_at "
        "FROM entries WHERE url = ? ORDER BY first_seen, feed",
        [url],
    )
    ids = sorted({e["article_id"] for e in entries if e["article_id"] is not None})
    ids += [
        r[0]
        for r in con.execute("SELECT article_id FROM articles WHERE url = ?", [url]).fetchall()
        if r[0] not in ids
    ]
    articles = {}
    for aid in ids:
        found = _rows(
            con,
            "SELECT article_id, url, title, feed, published_at, first_seen, text_source, word_count "
            "FROM articles WHERE article_id = ?",
            [aid],
        )
        if not found:
            continue
        article = found[0]
        article["mentions"] = _rows(
            con, "SELECT kind, name, count FROM mentions WHERE article_id = ? ORDER BY kind, name", [aid]
        )
        article["alerts"] = _rows(
            con,
            "SELECT rule, channel, status, created_at, sent_at, subject FROM alerts WHERE article_id = ? "
            "ORDER BY alert_id",
            [aid],
        )
        article["revisions"] = _rows(
            con,
            "SELECT revised_at, words_added, words_removed, change FROM article_revisions "
            "WHERE article_id = ? ORDER BY revision_id",
            [aid],
        )
        article["copies"] = con.execute(
            "SELECT count(*) FROM duplicates WHERE duplicate_of = ?", [aid]
        ).fetchall()[0][0]
        articles[aid] = article
    answer = {"url": url, "entries": entries, "articles": articles}
    if not entries:
        answer.update(_site_feeds_and_gaps(con, url, days))
    return answer


def _site_feeds_and_gaps(con: duckdb.DuckDBPyConnection, url: str, days: int) -> dict:
    """The feeds whose stories (or whose own URL) are on the URL's site, and their recent gaps."""
    site = origin(url)
    host = urlsplit(url).netloc.lower()
    feeds = [
        r[0]
        for r in con.execute(
            """
            SELECT name FROM feeds WHERE lower(regexp_extract(url, '^https?://([^/?#]+)', 1)) = ?
            UNION
            SELECT DISTINCT feed FROM entries WHERE url LIKE ? || '/%' AND feed <> 'seed'
            ORDER BY 1
            """,
            [host, site],
        ).fetchall()
    ]
    since = datetime.now().astimezone() - timedelta(days=days)
    gaps = _rows(
        con,
        "SELECT feed, detected_at, window_start, window_end, entries_in_poll, found, new_entries, sources, "
        "filled, note FROM gaps WHERE list_contains(?, feed) AND detected_at >= ? ORDER BY detected_at DESC",
        [feeds, since],
    )
    polled = _rows(
        con,
        "SELECT name, last_polled_at, last_success_at, last_outcome FROM feeds WHERE list_contains(?, name) "
        "ORDER BY name",
        [feeds],
    )
    return {"site_feeds": polled, "gaps": gaps, "gap_days": days}
