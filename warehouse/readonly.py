"""Read-only access for analysts: `newswatch sql`, `newswatch feeds` and the report.

Opens the *published* warehouse read-only, so it never waits for or blocks an ingest (the writer
works on its own file). Only statements that read are accepted.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from extractors.records import terminal_safe

READ_ONLY_TYPES = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class QueryRefused(Exception):
    """The query cannot run: it writes, it is malformed, or there is no warehouse yet."""


def connect(db: Path, *, file_access: bool = False) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse. Without `file_access` the session cannot
    read or write other files either (a COPY hidden in EXPLAIN ANALYZE, read_csv('/etc/...'))."""
    if not Path(db).exists():
        raise QueryRefused(f"no warehouse at {db}: run `newswatch run` (or `newswatch demo`) first")
    try:
        con = duckdb.connect(str(db), read_only=True, config={"enable_external_access": file_access})
    except duckdb.Error as e:
        raise QueryRefused(f"cannot open {db}: {e}") from None
    con.execute("SET TimeZone = 'UTC'")
    return con


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as e:
        raise QueryRefused(f"invalid SQL: {e}") from None
    if not statements:
        raise QueryRefused("no SQL statement given")
    for st in statements:
        if st.type not in READ_ONLY_TYPES:
            kind = str(st.type).rsplit(".", 1)[-1]
            raise QueryRefused(f"refused: {kind} statements are not allowed, the warehouse is read-only here")


def query(db: Path, sql: str) -> tuple[list[str], list[tuple]]:
    con = connect(db)
    try:
        check_read_only(con, sql)
        try:
            cur = con.execute(sql)
            columns = [d[0] for d in cur.description] if cur.description else []
            return columns, cur.fetchall()
        except duckdb.Error as e:
            raise QueryRefused(str(e).splitlines()[0]) from None
    finally:
        con.close()


def _plain(v):
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _cell(v, width: int = 60) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        v = v.strftime("%Y-%m-%d %H:%M")
    s = " ".join(terminal_safe(str(v)).split())  # a table is for a terminal: no escapes from the web
    return s if len(s) <= width else s[: width - 1] + "…"


def format_rows(columns: Sequence[str], rows: Sequence[tuple], fmt: str) -> str:
    if fmt == "json":
        return (
            json.dumps(
                [dict(zip(columns, map(_plain, r), strict=True)) for r in rows], ensure_ascii=False, indent=1
            )
            + "\n"
        )
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(columns)
        w.writerows([[("" if v is None else _plain(v)) for v in r] for r in rows])
        return buf.getvalue()
    cells = [[_cell(v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths, strict=True)).rstrip()  # noqa: E731
    out = [line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out) + "\n"
