"""Copy judgement against the store and inside one batch, on a real DuckDB file."""

from __future__ import annotations

from extractors.fingerprint import fingerprint
from extractors.records import Article
from flows.pipeline import judge, seed_articles
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
        from flows.pipeline import article_row, utcnow

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
