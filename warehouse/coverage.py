"""What the warehouse knows about each feed's coverage: entry dates, gaps, pace, silence.

The SQL of gap detection and backfill, per-feed pacing and silent sources (the Warehouse class keeps
the pipeline's core statements; these take it as their first argument).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from warehouse.store import Warehouse


@dataclass(frozen=True, slots=True)
class FeedBaseline:
    """What a feed had shown before this run."""

    name: str
    last_success_at: datetime | None
    newest_entry_at: datetime | None
    silent_since: datetime | None
    items_seen: int = 0  # entries its polls have shown, all polls together


@dataclass(frozen=True, slots=True)
class FeedHistory:
    """A feed's newest entry times (its dates, else when first seen), newest first, and whether the
    ledger holds entries older than those."""

    times: tuple[datetime, ...]
    more: bool


GAP_SCHEMA = pa.schema(
    [
        ("feed", pa.string()),
        ("run_id", pa.int64()),
        ("detected_at", pa.timestamp("us", tz="UTC")),
        ("window_start", pa.timestamp("us", tz="UTC")),
        ("window_end", pa.timestamp("us", tz="UTC")),
        ("minutes", pa.float64()),
        ("entries_in_poll", pa.int32()),
        ("found", pa.int32()),
        ("new_entries", pa.int32()),
        ("sources", pa.string()),
        ("requests", pa.int32()),
        ("filled", pa.bool_()),
        ("note", pa.string()),
    ]
)


def feed_baselines(wh: Warehouse) -> dict[str, FeedBaseline]:
    rows = wh.con.execute(
        "SELECT name, last_success_at, newest_entry_at, silent_since, items_seen FROM feeds"
    ).fetchall()
    return {r[0]: FeedBaseline(*r) for r in rows}


def known_before(wh: Warehouse, keys: Sequence[tuple[str, str]], before: datetime) -> set[tuple[str, str]]:
    """The (feed, entry_key) pairs the ledger had before `before` (a run's start: rows the run itself
    wrote do not count, whenever this is asked)."""
    if not keys:
        return set()
    wh.con.register("q_known", pa.table({"feed": [k[0] for k in keys], "entry_key": [k[1] for k in keys]}))
    try:
        rows = wh.con.execute(
            "SELECT e.feed, e.entry_key FROM entries e JOIN q_known USING (feed, entry_key) "
            "WHERE e.first_seen < ?",
            [before],
        ).fetchall()
    finally:
        wh.con.unregister("q_known")
    return {(r[0], r[1]) for r in rows}


def recent_keys(wh: Warehouse, feed: str, before: datetime, limit: int = 2000) -> frozenset[str]:
    """A feed's most recently seen ledger keys, of entries first seen before `before` (a run's start):
    backfill stops when it reaches one."""
    rows = wh.con.execute(
        "SELECT entry_key FROM entries WHERE feed = ? AND first_seen < ? ORDER BY last_seen DESC LIMIT ?",
        [feed, before, limit],
    ).fetchall()
    return frozenset(r[0] for r in rows)


def record_entry_dates(wh: Warehouse, rows: Iterable[tuple[str, str, datetime]]) -> None:
    """Keep the date each entry's feed gave it (for pace and silence), where the ledger has none."""
    unique = {(f, k): t for f, k, t in rows if t is not None}
    if not unique:
        return
    t = pa.table(
        {
            "feed": [k[0] for k in unique],
            "entry_key": [k[1] for k in unique],
            "published_at": pa.array(list(unique.values()), pa.timestamp("us", tz="UTC")),
        }
    )
    wh.con.register("entry_dates", t)
    try:
        wh.con.execute(
            "UPDATE entries SET published_at = d.published_at FROM entry_dates d "
            "WHERE entries.feed = d.feed AND entries.entry_key = d.entry_key AND entries.published_at IS NULL"
        )
    finally:
        wh.con.unregister("entry_dates")


def advance_newest(wh: Warehouse, newest: dict[str, datetime]) -> None:
    """feeds.newest_entry_at moves forward to the newest entry date a poll showed (set-based)."""
    if not newest:
        return
    t = pa.table(
        {"name": list(newest), "newest": pa.array(list(newest.values()), pa.timestamp("us", tz="UTC"))}
    )
    wh.con.register("newest_dates", t)
    try:
        wh.con.execute(
            "UPDATE feeds SET newest_entry_at = greatest(coalesce(feeds.newest_entry_at, n.newest), n.newest) "
            "FROM newest_dates n WHERE feeds.name = n.name"
        )
    finally:
        wh.con.unregister("newest_dates")


HISTORY_DAYS = 90  # entries older than this tell nothing of a feed's pace or silence today


def feed_histories(wh: Warehouse, names: Sequence[str], per_feed: int = 200) -> dict[str, FeedHistory]:
    """Each feed's newest `per_feed` entry times of the last HISTORY_DAYS (future dates count as
    now's: a wrong clock at a source must not make it look busy or silent forever)."""
    if not names:
        return {}
    rows = wh.con.execute(
        """
        SELECT feed, list(t ORDER BY t DESC) FILTER (WHERE rn <= ?), count(*) > ?
        FROM (
            SELECT feed, least(coalesce(published_at, first_seen), now()) AS t,
                   row_number() OVER (PARTITION BY feed
                                      ORDER BY least(coalesce(published_at, first_seen), now()) DESC) AS rn
            FROM entries WHERE list_contains(?, feed)
              AND coalesce(published_at, first_seen) >= now() - to_days(?)
        ) GROUP BY feed
        """,
        [per_feed, per_feed, list(names), HISTORY_DAYS],
    ).fetchall()
    return {r[0]: FeedHistory(tuple(r[1] or ()), bool(r[2])) for r in rows}


def set_schedule(wh: Warehouse, rows: Sequence[tuple[str, float, datetime | None]]) -> None:
    """(feed, interval_minutes, next_poll_at) for the feeds that answered in a run (set-based)."""
    if not rows:
        return
    t = pa.table(
        {
            "name": [r[0] for r in rows],
            "interval_minutes": pa.array([r[1] for r in rows], pa.float64()),
            "next_poll_at": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
        }
    )
    wh.con.register("schedule_rows", t)
    try:
        wh.con.execute(
            "UPDATE feeds SET interval_minutes = s.interval_minutes, next_poll_at = s.next_poll_at "
            "FROM schedule_rows s WHERE feeds.name = s.name"
        )
    finally:
        wh.con.unregister("schedule_rows")


def set_silent(wh: Warehouse, name: str, since: datetime | None) -> None:
    wh.con.execute("UPDATE feeds SET silent_since = ? WHERE name = ?", [since, name])


def insert_gaps(wh: Warehouse, rows: Sequence[dict]) -> None:
    if not rows:
        return
    wh.con.register("new_gaps", pa.Table.from_pylist(list(rows), schema=GAP_SCHEMA))
    try:
        names = ", ".join(GAP_SCHEMA.names)
        wh.con.execute(
            f"INSERT INTO gaps (gap_id, {names}) SELECT nextval('gap_id_seq'), {names} FROM new_gaps"
        )
    finally:
        wh.con.unregister("new_gaps")


def answering_feeds(wh: Warehouse, names: Sequence[str]) -> list[str]:
    """Of these feeds, the enabled ones whose last poll was answered normally (200 or 304)."""
    if not names:
        return []
    rows = wh.con.execute(
        "SELECT name FROM feeds WHERE enabled AND error_streak = 0 AND last_outcome IN ('ok', 'not_modified') "
        "AND list_contains(?, name) ORDER BY name",
        [list(names)],
    ).fetchall()
    return [r[0] for r in rows]
