"""Extraction quality on the article-extraction benchmark: precision, recall, F1, time per page.

Runs `extract_page` (which applies `clean_text`) on the benchmark's 181 pages and scores the text
against the gold article bodies (word 4-gram shingles, macro-averaged; see bench/_shared.py).

    python -m bench.extraction_quality
"""

from __future__ import annotations

import statistics
import time

from bench._shared import (
    EXTRACTION_BENCHMARK,
    extraction_benchmark_available,
    load_extraction_benchmark,
    macro_prf,
    page_scores,
)
from extractors.clean import clean_text
from extractors.extract import extract_page


def main() -> None:
    if not extraction_benchmark_available():
        print(f"skipped: extraction benchmark not found at {EXTRACTION_BENCHMARK}")
        return
    pages = load_extraction_benchmark()
    extract_page(pages[0].html, pages[0].url)  # warm up imports and caches
    scores, times, empty = [], [], 0
    for page in pages:
        start = time.perf_counter()
        extracted = extract_page(page.html, page.url)
        text = clean_text(extracted.text) if extracted else ""
        times.append(time.perf_counter() - start)
        empty += extracted is None
        scores.append(page_scores(page.gold, text))
    precision, recall, f1 = macro_prf(scores)
    print(f"extraction benchmark: {len(pages)} pages, {empty} without an article")
    print(f"precision {precision:.4f}  recall {recall:.4f}  F1 {f1:.4f}  (macro, word 4-gram shingles)")
    print(
        f"time per page: mean {statistics.mean(times) * 1000:.1f} ms, "
        f"median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
