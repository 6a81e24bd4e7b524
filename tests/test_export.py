"""`newswatch export`: one Parquet or CSV file per table, named after it, with every row."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from flows.cli.main import main
from tests.warehouse_factory import build_sample_warehouse
from warehouse.export import EXPORTED

TABLES = (
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
READERS = {"parquet": "read_parquet('{}')", "csv": "read_csv('{}', header = true)"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    db = tmp_path_factory.mktemp("wh") / "newswatch.duckdb"
    return db, build_sample_warehouse(db, days=4)


def warehouse_counts(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def test_every_analyst_table_is_exported():
    assert set(EXPORTED) == set(TABLES)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_writes_one_file_per_table_with_every_row(sample, tmp_path, capsys, fmt):
    db, facts = sample
    out = tmp_path / "export"
    assert main(["export", "--db", str(db), "--format", fmt, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.{fmt}" for t in TABLES)  # no temp files
    assert capsys.readouterr().out.split() == [str(out / f"{t}.{fmt}") for t in EXPORTED]
    expected = warehouse_counts(db)
    assert expected == facts["row_counts"]
    con = duckdb.connect()
    got = {
        t: con.execute(f"SELECT count(*) FROM {READERS[fmt].format(out / f'{t}.{fmt}')}").fetchone()[0]
        for t in TABLES
    }
    assert got == expected


def test_parquet_keeps_columns_and_hostile_text_exactly(sample, tmp_path):
    db, facts = sample
    out = tmp_path / "export"
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0  # parquet is the default
    articles = pq.read_table(out / "articles.parquet")
    with duckdb.connect(str(db), read_only=True) as con:
        columns = [r[0] for r in con.execute("DESCRIBE articles").fetchall()]
    assert articles.column_names == columns
    assert facts["hostile_title"] in articles.column("title").to_pylist()
    assert str(articles.schema.field("published_at").type).startswith("timestamp[us, tz=")


def test_csv_round_trips_quotes_and_markup(sample, tmp_path):
    db, facts = sample
    out = tmp_path / "export"
    assert main(["export", "--db", str(db), "--format", "csv", "--out", str(out)]) == 0
    with open(out / "articles.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == facts["row_counts"]["articles"]
    assert facts["hostile_title"] in [r["title"] for r in rows]
    with open(out / "feeds.csv", newline="", encoding="utf-8") as f:
        errors = {r["name"]: r["last_error"] for r in csv.DictReader(f)}
    assert errors[facts["failing_feed"]] == facts["hostile_error"]


def test_export_replaces_an_earlier_export(sample, tmp_path):
    db, facts = sample
    out = tmp_path / "export"
    out.mkdir()
    (out / "runs.csv").write_text("stale\n", encoding="utf-8")
    assert main(["export", "--db", str(db), "--format", "csv", "--out", str(out)]) == 0
    assert (out / "runs.csv").read_text(encoding="utf-8").splitlines()[0].startswith("run_id,")


def test_unknown_format_is_refused_by_the_command_line(sample, tmp_path):
    db, _ = sample
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--db", str(db), "--format", "xlsx", "--out", str(tmp_path)])
    assert exit_.value.code == 2


def test_missing_warehouse_fails_with_a_message(tmp_path, capsys):
    missing = tmp_path / "none.duckdb"
    assert main(["export", "--db", str(missing), "--out", str(tmp_path / "export")]) == 1
    assert "no warehouse at" in capsys.readouterr().err
