"""`newswatch feeds`: every feed's health, one row each, and the feeds that moved.

A feed whose URL answers with a permanent redirect (301/308) is read from its new address, and
the operator should update the config: the table names the new URL under it, whole (a table cell
would cut it), and CSV/JSON carry it in a `moved_to` column."""

from __future__ import annotations

from pathlib import Path

from extractors.records import terminal_safe
from warehouse.lookups import FEEDS_QUERY
from warehouse.readonly import format_rows, query


def feeds_view(db: Path, fmt: str) -> str:
    """The feeds table in `fmt` (table, csv, json); its last column is moved_to. Raises QueryRefused
    (no warehouse, ...)."""
    columns, rows = query(db, FEEDS_QUERY)
    if fmt != "table":
        return format_rows(columns, rows, fmt)
    table = format_rows(columns[:-1], [row[:-1] for row in rows], fmt)
    moved = [f"{row[0]}: moved to {row[-1]} (update its url in the config)\n" for row in rows if row[-1]]
    return table + terminal_safe("".join(moved))
