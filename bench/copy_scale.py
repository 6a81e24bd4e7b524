"""Copy detection at scale: judging a batch of 1,000 new articles against 10,000 and 1,000,000 stored.

The warehouse holds real-text articles (random sentences of the extraction benchmark's gold bodies,
with real fingerprints, stored through `Warehouse.insert_articles`) and, to reach the scale,
synthetic articles: short text, random band keys, generated inside DuckDB in big set-based chunks.
The batch has fresh stories, near copies (a paragraph cut, or only the first 60% printed) and exact
copies of real stored articles, so the verification step runs. `flows.ingest.judge.judge` is timed
inside a transaction that is rolled back (the store stays the same between repeats).

The comparison: extracting the same 1,000 pages, estimated as 1,000 x the mean `extract_page`
time per page over the benchmark's real pages in one process (judging also runs in one process).

    python -m bench.copy_scale [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.figures import print_cores, print_table
from bench.site import sentence_pool, shared_available

REAL_STORED = 1_500
BATCH = 1_000
EXACT, NEAR = 50, 100
TARGET_SHARE = 0.05
SYNTHETIC_CHUNK = 250_000
REPEATS = 3


def story(rng: random.Random, pool: list[str], n: int) -> str:
    paragraphs = [" ".join(rng.sample(pool, rng.randint(2, 4))) for _ in range(rng.randint(5, 9))]
    paragraphs[0] += f" The missile defense story number {n} continues below."
    return "\n\n".join(paragraphs)


def near_copy(text: str, rng: random.Random) -> str:
    paragraphs = text.split("\n\n")
    if rng.random() < 0.5:
        del paragraphs[rng.randrange(1, len(paragraphs))]
    else:
        paragraphs = paragraphs[: max(3, int(len(paragraphs) * 0.6))]
    return "\n\n".join(paragraphs)


def article(url: str, text: str):
    from extractors.fingerprint import fingerprint
    from extractors.records import Article

    return Article(
        url=url, feed="bench", title=url, text=text, fingerprint=fingerprint(text), text_source="page"
    )


def add_synthetic(wh, first_id: int, count: int, bands: int) -> None:
    """`count` synthetic articles (ids from first_id) with `bands` random band keys each, in chunks."""
    con = wh.con
    for start in range(first_id, first_id + count, SYNTHETIC_CHUNK):
        stop = min(start + SYNTHETIC_CHUNK, first_id + count)
        con.execute("BEGIN")
        con.execute(
            """
            INSERT INTO articles
            SELECT range, 'https://synthetic.example/a/' || range, 'synthetic story ' || range, NULL,
                   'synthetic', 'en', NULL,
                   'a short synthetic article number ' || range || ' about nothing in particular',
                   'page', sha256(range::VARCHAR), 11, NULL, now(), 0
            FROM range(?, ?)
            """,
            [start, stop],
        )
        con.execute(
            "INSERT INTO article_bands SELECT (hash(a.range, b.range) >> 1)::BIGINT, a.range "
            "FROM range(?, ?) a, range(?) b ORDER BY a.range",
            [start, stop, bands],
        )
        con.execute("COMMIT")


def storage(wh) -> tuple[int, int, int]:
    """(file bytes, band-key table bytes as its distinct 256 KiB blocks, articles) after a checkpoint."""
    con = wh.con
    con.execute("CHECKPOINT")
    from warehouse.store import writer_path

    size = writer_path(wh.published).stat().st_size
    block = con.execute("SELECT block_size FROM pragma_database_size()").fetchall()[0][0]
    blocks = con.execute(
        "SELECT count(DISTINCT block_id) FROM pragma_storage_info('article_bands') WHERE persistent"
    ).fetchall()[0][0]
    articles = con.execute("SELECT count(*) FROM articles").fetchall()[0][0]
    return size, blocks * block, articles


def time_judge(wh, batch) -> tuple[list[float], list]:
    from flows.ingest.judge import judge

    times, verdicts = [], []
    for _ in range(REPEATS):
        wh.con.execute("BEGIN")
        start = time.perf_counter()
        verdicts, _ = judge(batch, wh)
        times.append(time.perf_counter() - start)
        wh.con.execute("ROLLBACK")
    return times, verdicts


def extraction_per_page(sample: int) -> tuple[int, float]:
    """(pages, mean seconds per page) of `extract_page` over the benchmark's real pages, one process."""
    from bench._shared import load_extraction_benchmark
    from extractors.extract import extract_page

    pages = load_extraction_benchmark()[:sample]
    extract_page(pages[0].html, pages[0].url)  # imports and caches
    start = time.perf_counter()
    for p in pages:
        extract_page(p.html, p.url)
    return len(pages), (time.perf_counter() - start) / len(pages)


def run(scales: list[int], extraction_sample: int) -> None:
    print(
        f"== copy detection at scale: a batch of {BATCH} judged against {', '.join(f'{s:,}' for s in scales)} =="
    )
    print_cores()
    if not shared_available():
        print("skipped: ../shared/benchmarks/extraction is absent (texts come from its gold bodies)")
        return
    from flows.ingest.rows import article_row
    from warehouse.store import Warehouse

    rng = random.Random(7)
    pool = sentence_pool()
    stored = [article(f"https://real.example/s/{i}", story(rng, pool, i)) for i in range(REAL_STORED)]
    bands = len(stored[0].fingerprint.band_keys)
    fresh = [story(rng, pool, REAL_STORED + i) for i in range(BATCH - EXACT - NEAR)]
    originals = rng.sample(range(REAL_STORED), EXACT + NEAR)
    texts = (
        [stored[i].text for i in originals[:EXACT]]
        + [near_copy(stored[i].text, rng) for i in originals[EXACT:]]
        + fresh
    )
    start = time.perf_counter()
    batch = [article(f"https://new.example/n/{i}", t) for i, t in enumerate(texts)]
    fp_ms = (time.perf_counter() - start) / len(batch) * 1000
    n_pages, per_page = extraction_per_page(extraction_sample)
    extraction_s = BATCH * per_page
    rows: list[tuple[str, str]] = [
        ("fingerprint (build_articles, not judged)", f"{fp_ms:.2f} ms per article"),
        (
            f"extraction of {BATCH} pages (estimate)",
            f"{extraction_s:.1f} s = {BATCH} x {per_page * 1000:.1f} ms mean over {n_pages} real pages, one process",
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp:
        with Warehouse.open(Path(tmp) / "scale.duckdb", publish=False) as wh:
            now = datetime.now(UTC)
            ids = list(range(1, REAL_STORED + 1))
            wh.insert_articles(
                [article_row(a, aid, 0, now) for a, aid in zip(stored, ids, strict=True)],
                [(k, aid) for a, aid in zip(stored, ids, strict=True) for k in a.fingerprint.band_keys],
            )
            have = REAL_STORED
            for scale in scales:
                start = time.perf_counter()
                add_synthetic(wh, have + 1, scale - have, bands)
                load_s = time.perf_counter() - start
                have = scale
                size, band_bytes, count = storage(wh)
                times, verdicts = time_judge(wh, batch)
                exact = sum(v.method == "exact" for v in verdicts[:EXACT])
                near = sum(v.method == "near" for v in verdicts[EXACT : EXACT + NEAR])
                false = sum(v.is_copy for v in verdicts[EXACT + NEAR :])
                median = statistics.median(times)
                rows += [
                    (f"-- {count:,} stored", f"(synthetic part loaded in {load_s:.1f} s)"),
                    (
                        "  judge 1,000",
                        f"median {median * 1000:.0f} ms, first {times[0] * 1000:.0f} ms ({REPEATS} runs)",
                    ),
                    (
                        "  copies found",
                        f"exact {exact}/{EXACT}, near {near}/{NEAR}, false {false}/{len(fresh)}",
                    ),
                    (
                        "  warehouse bytes per article",
                        f"{size / count:.0f} (file {size / 2**20:.0f} MiB; band keys ~{band_bytes / count:.0f},"
                        f" {100 * band_bytes / size:.0f} % of the file, {bands} keys per article)",
                    ),
                    (
                        "  judge / extraction of the same 1,000",
                        f"{100 * median / extraction_s:.2f} %"
                        + (
                            f" (target < {TARGET_SHARE:.0%}: {'met' if median / extraction_s < TARGET_SHARE else 'MISSED'})"
                            if scale >= 1_000_000
                            else ""
                        ),
                    ),
                ]
    print_table(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.copy_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 and 200,000 stored")
    args = parser.parse_args(argv)
    scales = [10_000, 200_000] if args.quick else [10_000, 1_000_000]
    run(scales, 60 if args.quick else 181)


if __name__ == "__main__":
    main()
