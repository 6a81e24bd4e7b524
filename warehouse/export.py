"""`newswatch export`: one file per table or view, named after it, for other tools."""

from __future__ import annotations

from pathlib import Path

from warehouse.readonly import connect

EXPORTED = (
    "articles",
    "duplicates",
    "entries",
    "feeds",
    "runs",
    "mentions",
    "alerts",
    "gaps",
    "article_revisions",
)


def export_tables(db: Path, out: Path, fmt: str) -> list[Path]:
    """Write <out>/<table>.<fmt> for every analyst table, from the published (read-only) warehouse."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unknown export format {fmt!r}; expected parquet or csv")
    out.mkdir(parents=True, exist_ok=True)
    con = connect(db, file_access=True)  # COPY writes the export files
    written = []
    try:
        for table in EXPORTED:
            target = out / f"{table}.{fmt}"
            tmp = target.with_name(f".{target.name}.tmp")
            options = (
                "(FORMAT parquet, COMPRESSION zstd)" if fmt == "parquet" else "(FORMAT csv, HEADER true)"
            )
            con.execute(f"COPY (SELECT * FROM {table}) TO '{_quote(tmp)}' {options}")
            tmp.replace(target)
            written.append(target)
    finally:
        con.close()
    return written


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
