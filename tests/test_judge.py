"""Copy judgement against the store and inside one batch, on a real DuckDB file."""

from __future__ import annotations

from extractors.fingerprint import fingerprint
from extractors.records import Article
from flows.ingest.judge import judge
from flows.ingest.seeds import seed_articles
from warehouse.store import Warehouse


def article(url: str, text: str, feed: str = "wire", title: str = "t") -> Article:
    return Article(
        url=url, feed=feed, title=title, text=text, fingerprint=fingerprint(text), text_source="page"
    )


SEEDS = seed_articles()
SEED = SEEDS[4].text  # the Lavrov story, ~570 words
PARAGRAPHS = SEED.split("\n\n")
FIRST_60 = "\n\n".join(PARAGRAPHS[: max(2, len(PARAGRAPHS) * 6 // 10)])
NEW_STORY = SEEDS[0].text  # another real story, not in this store


def test_copies_inside_one_batch_and_against_the_store(tmp_path):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        stored = article("https://a.example/original", SEED)
        verdicts, ids = judge([stored], wh)
        assert not verdicts[0].is_copy
        from flows.ingest.rows import article_row, utcnow

        wh.insert_articles(
            [article_row(stored, ids[0], 1, utcnow())], [(k, ids[0]) for k in stored.fingerprint.band_keys]
        )

        batch = [
            article("https://b.example/new", NEW_STORY),  # new
            article("https://c.example/same-text", SEED),  # exact copy of the stored one
            article("https://d.example/first-part", FIRST_60),  # near copy (truncated) of the stored one
            article(
                "https://e.example/new-again", NEW_STORY + " Officials declined to comment."
            ),  # near copy of batch[0]
        ]
        verdicts, ids = judge(batch, wh)
    assert [v.is_copy for v in verdicts] == [False, True, True, True]
    assert (verdicts[1].method, verdicts[1].duplicate_of) == ("exact", 1)
    assert (verdicts[2].method, verdicts[2].duplicate_of) == ("near", 1)
    assert verdicts[3].method in ("near", "exact") and verdicts[3].duplicate_of == ids[0] != 0
    assert ids[1] == ids[2] == ids[3] == 0  # copies get no article id of their own


def test_batches_written_as_judged_are_judged_once_and_their_copies_found(tmp_path):
    """The flow stores each batch once it is judged (RunRows.write after every batch): a later batch
    still finds copies of an earlier one, and no row is written twice."""
    from flows.ingest.judge import Judge
    from flows.ingest.rows import RunCounts, RunRows, utcnow

    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        judge_ = Judge(wh)
        rows = RunRows(run_id=1, now=utcnow(), counts=RunCounts())
        first = [article("https://a.example/seed", SEED), article("https://b.example/new", NEW_STORY)]
        verdicts, ids = judge_.judge(first)
        rows.add_judged(first, verdicts, ids)
        rows.write(wh)
        assert not rows.articles and not rows.bands and not rows.ledger  # written rows are let go

        second = [article("https://c.example/cut", FIRST_60), article("https://d.example/same", NEW_STORY)]
        verdicts, second_ids = judge_.judge(second)
        rows.add_judged(second, verdicts, second_ids)
        rows.write(wh)
        stored = wh.con.execute("SELECT count(*), count(DISTINCT article_id) FROM articles").fetchall()
        ledger = wh.con.execute("SELECT count(*) FROM entries WHERE run_id = 1").fetchall()
    assert [(v.method, v.duplicate_of) for v in verdicts] == [("near", ids[0]), ("exact", ids[1])]
    assert stored == [(2, 2)]
    assert ledger == [(4,)]
    assert (rows.counts.articles_stored, rows.counts.copies) == (2, 2)
