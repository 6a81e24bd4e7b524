"""Schema migrations on real DuckDB files: a warehouse made by an earlier release is upgraded in place."""

from __future__ import annotations

import duckdb
import pytest

from warehouse.migrations import MIGRATIONS
from warehouse.store import Warehouse, apply_migrations

TEXT = "The interceptor was tested over the Pacific on Tuesday. " * 40


def _release_with(path, versions: int) -> None:
    """A warehouse as a release with only the first `versions` migrations left it, with one article."""
    con = duckdb.connect(str(path))
    apply_migrations(con, MIGRATIONS[:versions])
    con.execute(
        "INSERT INTO articles VALUES (7, 'https://a.example/x', 'Interceptor test', NULL, 'wire', 'en', NULL,"
        " ?, 'page', 'h7', 400, NULL, now(), 1)",
        [TEXT],
    )
    con.close()


def test_a_warehouse_of_an_earlier_release_gets_its_article_text_compressed_with_zstd(tmp_path):
    db = tmp_path / "w.duckdb"
    _release_with(db, versions=2)
    with Warehouse.open(db) as wh:
        assert "003_article_text_zstd" in {
            v for (v,) in wh.con.execute("SELECT version FROM schema_migrations").fetchall()
        }
        # the article, its constraints, its index and the views that name the table all survive
        assert wh.con.execute("SELECT article_id, text FROM articles").fetchall() == [(7, TEXT)]
        with pytest.raises(duckdb.ConstraintException):
            wh.con.execute(
                "INSERT INTO articles VALUES (8, 'https://a.example/x', 't', NULL, 'wire', NULL, NULL, 'x',"
                " 'page', 'h8', 1, NULL, now(), 1)"
            )
        assert wh.con.execute(
            "SELECT index_name FROM duckdb_indexes() WHERE table_name = 'articles'"
        ).fetchall() == [("articles_text_hash",)]
        assert wh.con.execute("SELECT article_id, copies FROM stories").fetchall() == [(7, 0)]
    # published (after a CHECKPOINT): the text column is stored with zstd, the others as before
    con = duckdb.connect(str(db), read_only=True)
    compression = dict(
        con.execute(
            "SELECT DISTINCT column_name, compression FROM pragma_storage_info('articles')"
            " WHERE segment_type = 'VARCHAR' AND column_name IN ('text', 'url')"
        ).fetchall()
    )
    con.close()
    assert compression["text"] == "ZSTD"
    assert compression["url"] != "ZSTD"
