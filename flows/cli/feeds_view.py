"""`newswatch feeds`: every feed's health, one row each, and the feeds that moved.

A feed whose URL answers with a permanent redirect (301/308) is read from its new address, and
the operator should update the config: the table names the new URL under it, whole (a table cell
would cut it), and CSV/JSON carry it in a `moved_to` column."""

from __future__ import annotations

from pathlib import Path

from extractors.records import terminal_safe
from warehouse.readonly import format_rows, query

FEEDS_QUERY = (
    "SELECT name, CASE WHEN enabled THEN 'yes' ELSE 'no' END AS enabled, last_outcome, last_status, "
    "strftime(last_success_at, '%Y-%m-%d %H:%M') AS last_success, error_streak AS failures, "
    "round(items_per_day, 1) AS items_per_day, "
    "coalesce(strftime(next_poll_at, '%Y-%m-%d %H:%M'), 'next run') AS next_poll, "
    "coalesce(disabled_reason, last_error) AS last_error, moved_to FROM feed_health ORDER BY name"
)


def feeds_view(db: Path, fmt: str) -> str:
    """The feeds table in `fmt` (table, csv, json). Raises QueryRefused (no warehouse, ...)."""
    columns, rows = query(db, FEEDS_QUERY)
    if fmt != "table":
        return format_rows(columns, rows, fmt)
    table = format_rows(columns[:-1], [row[:-1] for row in rows], fmt)
    moved = [f"{row[0]}: moved to {row[-1]} (update its url in the config)\n" for row in rows if row[-1]]
    return table + terminal_safe("".join(moved))
