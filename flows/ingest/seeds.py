"""The seed corpus: stored as articles of feed `seed` on first use of a warehouse."""

from __future__ import annotations

from pathlib import Path

from extractors.clean import clean_text
from extractors.fingerprint import fingerprint
from extractors.records import Article
from extractors.seeds import load_seeds
from flows.ingest.intake import Intake
from flows.ingest.rows import Matching, RunCounts, store_batch
from warehouse.store import Warehouse

SEED_DIR = Path(__file__).resolve().parents[2] / "corpus" / "seed"


def seed_articles(folder: Path = SEED_DIR) -> list[Article]:
    out = []
    for name, ex in load_seeds(folder):
        text = clean_text(ex.text)
        out.append(
            Article(
                url=f"seed://{name}",
                feed="seed",
                title=ex.title or name,
                text=text,
                fingerprint=fingerprint(text),
                text_source="seed",
                published_at=ex.published_at,
                author=ex.author,
                lang=ex.lang or "en",
            )
        )
    return out


def ensure_seeds(wh: Warehouse, run_id: int, matching: Matching | None, folder: Path = SEED_DIR) -> int:
    """Store the seed corpus on first use of a warehouse. Seeds get mentions, never alerts."""
    if wh.seed_count():
        return 0
    seeds = seed_articles(folder)
    counts = RunCounts()
    store_batch(wh, run_id, seeds, [], Intake(), matching, counts, alert=False)
    return counts.articles_stored
