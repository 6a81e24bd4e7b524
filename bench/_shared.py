"""Helpers for the benchmarks: where ../shared is, the extraction benchmark, its scoring.

The scoring follows the published article-extraction benchmark's method: word 4-gram shingles
(case-sensitive `\\w+` tokens) counted as a multiset; per page tp/fp/fn are normalised to sum 1,
precision and recall are averaged over pages (precision only over pages where something was
extracted), and F1 is the harmonic mean of the two averages.
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
EXTRACTION_BENCHMARK = SHARED / "benchmarks" / "extraction"

_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class BenchPage:
    key: str
    url: str
    html: str
    gold: str


def extraction_benchmark_available() -> bool:
    return (EXTRACTION_BENCHMARK / "ground-truth.json").is_file()


def load_extraction_benchmark() -> list[BenchPage]:
    """The benchmark's pages with their gold article bodies, sorted by id."""
    truth = json.loads((EXTRACTION_BENCHMARK / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key in sorted(truth):
        with gzip.open(EXTRACTION_BENCHMARK / "html" / f"{key}.html.gz", "rt", encoding="utf-8") as f:
            html = f.read()
        pages.append(BenchPage(key, truth[key].get("url", ""), html, truth[key].get("articleBody", "")))
    return pages


def gold_bodies() -> Iterator[tuple[str, str]]:
    """(id, gold article body) of every benchmark page, without reading the HTML."""
    truth = json.loads((EXTRACTION_BENCHMARK / "ground-truth.json").read_text(encoding="utf-8"))
    for key in sorted(truth):
        yield key, truth[key].get("articleBody", "")


def _shingles(text: str, n: int = 4) -> Counter:
    tokens = _TOKEN.findall(text or "")
    if len(tokens) < n:
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def page_scores(gold: str, predicted: str) -> tuple[float, float, float]:
    """Normalised (tp, fp, fn) of one page over word 4-gram shingles."""
    true, pred = _shingles(gold), _shingles(predicted)
    tp = sum((true & pred).values())
    fp = sum((pred - true).values())
    fn = sum((true - pred).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def macro_prf(scores: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """Macro precision, recall and F1 of per-page (tp, fp, fn)."""

    def precision(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else tp / (tp + fp)

    def recall(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else tp / (tp + fn)

    p = statistics.mean(precision(*s) for s in scores if s[0] + s[1] > 0)
    r = statistics.mean(recall(*s) for s in scores if s[0] + s[2] > 0)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)
