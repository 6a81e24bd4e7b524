"""The obvious script a user writes in an afternoon instead of newswatch: the throughput bench's baseline.

Read every feed with feedparser, one after another; fetch each linked page with urllib and extract
its text with `trafilatura.extract` (its defaults), in a ProcessPoolExecutor of one process a core;
keep every row in memory and insert them into DuckDB at the end in one go (from an Arrow table).
With `--processes 1` it is the naive one-process script: the same steps in a plain loop.
`--skip-known` leaves out pages whose URL the table already holds (what a cron job would add).

No copy detection, politeness, conditional GET, metadata, matching or alerts: that is the point.

    python -m bench.baseline_script --db out.duckdb [--processes N] [--skip-known] FEEDS_FILE

FEEDS_FILE holds one feed URL a line. Prints what it did, then a last line `BENCH {json}` with
seconds per step for the bench.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import duckdb
import feedparser
import pyarrow as pa
import trafilatura

SCHEMA = pa.schema(
    [
        ("url", pa.string()),
        ("feed", pa.string()),
        ("title", pa.string()),
        ("published", pa.string()),
        ("text", pa.string()),
        ("fetched_at", pa.timestamp("us", tz="UTC")),
    ]
)


def read_feed(url: str) -> list[dict]:
    parsed = feedparser.parse(url)
    return [
        {"url": e.link, "feed": url, "title": e.get("title", ""), "published": e.get("published")}
        for e in parsed.entries
        if e.get("link")
    ]


def fetch_and_extract(entry: dict) -> dict | None:
    """The entry with its page's text, or None when the page could not be had or gave no text."""
    try:
        with urllib.request.urlopen(entry["url"], timeout=30) as response:
            html = response.read()
    except OSError:
        return None
    text = trafilatura.extract(html, url=entry["url"])
    return {**entry, "text": text, "fetched_at": datetime.now(UTC)} if text else None


def known_urls(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {url for (url,) in con.execute("SELECT url FROM articles").fetchall()}


def store(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    batch = pa.Table.from_pylist(rows, schema=SCHEMA)  # noqa: F841  (DuckDB reads it by its name)
    con.execute("INSERT INTO articles SELECT * FROM batch")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.baseline_script", description=__doc__.splitlines()[0]
    )
    parser.add_argument("feeds_file", help="one feed URL a line")
    parser.add_argument("--db", required=True, help="DuckDB file (created if missing)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="default: one a core")
    parser.add_argument("--skip-known", action="store_true", help="leave out URLs already stored")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    with open(args.feeds_file, encoding="utf-8") as f:
        feeds = [line.strip() for line in f if line.strip()]
    con = duckdb.connect(args.db)
    con.execute(
        "CREATE TABLE IF NOT EXISTS articles (url VARCHAR, feed VARCHAR, title VARCHAR, published VARCHAR,"
        " text VARCHAR, fetched_at TIMESTAMPTZ)"
    )
    entries = [entry for url in feeds for entry in read_feed(url)]
    if args.skip_known:
        known = known_urls(con)
        entries = [e for e in entries if e["url"] not in known]
    t1 = time.perf_counter()
    if args.processes == 1:
        results = [fetch_and_extract(e) for e in entries]
    else:
        with ProcessPoolExecutor(args.processes) as pool:
            results = list(pool.map(fetch_and_extract, entries))
    rows = [r for r in results if r is not None]
    t2 = time.perf_counter()
    if rows:
        store(con, rows)
    con.close()
    t3 = time.perf_counter()
    print(f"{len(feeds)} feeds read, {len(entries)} pages to fetch: {len(rows)} stored in {args.db}")
    steps = {"feeds": t1 - t0, "pages": t2 - t1, "store": t3 - t2}
    print("BENCH " + json.dumps({"steps": steps, "entries": len(entries), "stored": len(rows)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
