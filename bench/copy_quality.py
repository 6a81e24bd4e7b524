"""Copy detection quality: candidate generation (band-key intersection) + verification, as the store does.

A labelled set is generated (seeded, deterministic) from the extraction benchmark's gold article
bodies, which are real news texts. Half of the bodies are "stored"; queries are
  copies of a stored body: re-wrapped in other page chrome with a new headline, a paragraph cut,
  truncated to 50-70%, sentences reworded, and combinations of these;
  non-copies: a body of the other half (a story the store has not seen) as it is, or with one or
  two sentences of a stored body quoted in it; and the seed documents, which are different
  missile-defense stories of the same few weeks, against each other.
Every text is cleaned (`clean_text`) first, as in the pipeline, which removes most of the
chrome. A query is a true positive when a candidate sharing a band key verifies as a copy of its source.

    python -m bench.copy_quality
"""

from __future__ import annotations

import random
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from bench._shared import EXTRACTION_BENCHMARK, extraction_benchmark_available, gold_bodies
from extractors.clean import clean_text
from extractors.fingerprint import (
    BODY_BANDS,
    BODY_ROWS,
    LEAD_BANDS,
    LEAD_ROWS,
    fingerprint,
    is_near_copy,
    similarity,
)
from extractors.seeds import load_seeds

SEED = 20240611
SEED_CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "seed"
MIN_WORDS = 120  # bodies shorter than this are too short to be judged copies (see is_near_copy)
CHROME_TOP = ["Home | World | Politics | Business", "Share on Facebook Share on Twitter", "By Staff Writer"]
CHROME_BOTTOM = ["Read more:", "Related stories", "Copyright 2019 Example Media. All rights reserved."]

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“])")


def paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n|\n", text) if p.strip()]


def sentences(text: str) -> list[str]:
    return [s for p in paragraphs(text) for s in _SENTENCE.split(p) if len(s.split()) >= 6]


def rewrap(text: str, rng: random.Random) -> str:
    headline = " ".join(rng.sample(text.split()[:40], 8)).title()
    return "\n\n".join([*CHROME_TOP, headline, text, *CHROME_BOTTOM])


def cut_paragraph(text: str, rng: random.Random) -> str:
    paras = paragraphs(text)
    if len(paras) < 3:
        return text
    del paras[rng.randrange(1, len(paras))]
    return "\n\n".join(paras)


def truncate(text: str, rng: random.Random) -> str:
    words = text.split()
    return " ".join(words[: int(len(words) * rng.uniform(0.5, 0.7))])


def reword(text: str, rng: random.Random, count: int = 2) -> str:
    """Reword sentences as an editor might: replace about one word in six, swap a word pair."""
    candidates = [s for s in sentences(text) if len(s.split()) <= 60]
    for sentence in rng.sample(candidates, min(count, len(candidates))):
        words = sentence.split()
        for i in range(rng.randrange(1, 6), len(words) - 1, 6):
            words[i] = rng.choice(["reportedly", "also", "now", "the", "its", "officials", "said"])
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
        text = text.replace(sentence, " ".join(words), 1)
    return text


COPY_MAKERS: dict[str, Callable[[str, random.Random], str]] = {
    "rewrap+headline": rewrap,
    "cut paragraph": cut_paragraph,
    "truncate 50-70%": truncate,
    "reword 2 sentences": reword,
    "reword 3 sentences": lambda t, r: reword(t, r, 3),
    "truncate+reword+rewrap": lambda t, r: rewrap(reword(truncate(t, r), r), r),
    "cut+reword+rewrap": lambda t, r: rewrap(reword(cut_paragraph(t, r), r), r),
    "truncate+cut": lambda t, r: truncate(cut_paragraph(t, r), r),
}


def quote_into(story: str, source: str, rng: random.Random, count: int) -> str:
    """`story` with `count` sentences of `source` quoted between its paragraphs."""
    paras = paragraphs(story)
    for sentence in rng.sample(sentences(source), min(count, len(sentences(source)))):
        paras.insert(rng.randrange(1, len(paras) + 1), f"“{sentence}” the report said.")
    return "\n\n".join(paras)


class Index:
    """Band key -> ids, probed like the store's set-based join."""

    def __init__(self) -> None:
        self.by_key: dict[int, set[int]] = defaultdict(set)
        self.texts: list[str] = []

    def add(self, text: str) -> int:
        self.texts.append(text)
        for key in fingerprint(text).band_keys:
            self.by_key[key].add(len(self.texts) - 1)
        return len(self.texts) - 1

    def candidates(self, text: str) -> set[int]:
        found: set[int] = set()
        for key in fingerprint(text).band_keys:
            found |= self.by_key.get(key, set())
        return found

    def find_copy(self, text: str) -> tuple[int | None, int]:
        """(id of the best verified original or None, number of candidates)."""
        cands = self.candidates(text)
        best, best_score = None, -1.0
        for cid in cands:
            ok, score = is_near_copy(text, self.texts[cid])
            if ok and score > best_score:
                best, best_score = cid, score
        return best, len(cands)


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    return 1 - (1 - jaccard**rows) ** bands


def main() -> None:
    if not extraction_benchmark_available():
        print(f"skipped: extraction benchmark not found at {EXTRACTION_BENCHMARK}")
        return
    rng = random.Random(SEED)
    bodies = [body for _, body in gold_bodies() if len(body.split()) >= MIN_WORDS]
    rng.shuffle(bodies)
    stored, fresh = bodies[: len(bodies) // 2], bodies[len(bodies) // 2 :]
    index = Index()
    ids = [index.add(clean_text(body)) for body in stored]

    # (label, kind, text, source id or None)
    queries: list[tuple[bool, str, str, int | None]] = []
    for sid, body in zip(ids, stored, strict=True):
        for kind, make in COPY_MAKERS.items():
            queries.append((True, kind, clean_text(make(body, rng)), sid))
    for body in fresh:
        queries.append((False, "unrelated story", body, None))
        source = rng.randrange(len(stored))
        queries.append((False, "quotes 1 sentence", quote_into(body, stored[source], rng, 1), None))
        queries.append((False, "quotes 2 sentences", quote_into(body, stored[source], rng, 2), None))

    tp = fp = fn = tn = 0
    misses: dict[str, int] = defaultdict(int)
    false_hits: dict[str, int] = defaultdict(int)
    cand_counts = []
    for label, kind, text, source in queries:
        found, n_cands = index.find_copy(text)
        cand_counts.append(n_cands)
        if label and found == source:
            tp += 1
        elif label:
            fn += 1
            misses[kind] += 1
            fp += found is not None  # matched the wrong original
        elif found is not None:
            fp += 1
            false_hits[kind] += 1
        else:
            tn += 1

    # Seeds: five different missile-defense stories must not be copies of each other.
    seeds = [e.text for _, e in load_seeds(SEED_CORPUS)] if SEED_CORPUS.is_dir() else []
    seed_false = sum(is_near_copy(a, b)[0] for i, a in enumerate(seeds) for b in seeds[i + 1 :])

    texts = [q[2] for q in queries]
    fingerprint(texts[0])
    start = time.perf_counter()
    for text in texts:
        fingerprint(text)
    ms_fp = (time.perf_counter() - start) / len(texts) * 1000
    start = time.perf_counter()
    for text, original in zip(texts[:300], stored * 10, strict=False):
        is_near_copy(text, original)
    ms_verify = (time.perf_counter() - start) / min(300, len(texts)) * 1000

    unrelated = [similarity(a, b).jaccard for i, a in enumerate(stored) for b in stored[i + 1 :]]
    mean_p = statistics.mean(
        candidate_probability(j, BODY_BANDS, BODY_ROWS) + candidate_probability(j, LEAD_BANDS, LEAD_ROWS)
        for j in unrelated
    )

    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    positives = sum(q[0] for q in queries)
    print(
        f"stored {len(stored)} gold bodies; {positives} copies and {len(queries) - positives} non-copies queried"
    )
    print(f"precision {precision:.4f}  recall {recall:.4f}  (tp {tp}, fp {fp}, fn {fn}, tn {tn})")
    if misses:
        print("  missed copies by kind:", dict(misses))
    if false_hits:
        print("  false copies by kind:", dict(false_hits))
    print(f"seed pairs judged copies: {seed_false} of {len(seeds) * (len(seeds) - 1) // 2}")
    print(
        f"candidates per query: mean {statistics.mean(cand_counts):.2f}, max {max(cand_counts)}; "
        f"bands: body {BODY_BANDS}x{BODY_ROWS}, lead {LEAD_BANDS}x{LEAD_ROWS}"
    )
    print(
        "P(candidate) by Jaccard: "
        + ", ".join(
            f"{j}: {1 - (1 - candidate_probability(j, BODY_BANDS, BODY_ROWS)) * (1 - candidate_probability(j, LEAD_BANDS, LEAD_ROWS)):.4f}"
            for j in (0.01, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7)
        )
        + "  (lead bands see the lead's Jaccard, higher for truncated copies)"
    )
    print(
        f"unrelated pairs: mean Jaccard {statistics.mean(unrelated):.5f}; expected false candidates "
        f"per new article in a 1,000,000-article store: {mean_p * 1_000_000:.2f}"
    )
    print(f"time: {ms_fp:.3f} ms per fingerprint, {ms_verify:.3f} ms per verification")


if __name__ == "__main__":
    main()
