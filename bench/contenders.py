"""The throughput bench's contenders: how each is started as a user starts it, and what it stored.

Every contender runs as a command in a process of its own, start-up included, measured with its whole
process tree (bench.proctree) against the same generated site.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from bench.site import MARKER_CODE, Site, write_config

NEWSWATCH_CLI = Path(sys.executable).with_name("newswatch")


@dataclass(frozen=True)
class Contender:
    name: str
    what: str  # how it is run, for the output
    keeps_state: bool = True  # its re-runs over the same store are measured
    stages: bool = False  # prints newswatch's stage timings


CONTENDERS = {
    c.name: c
    for c in (
        Contender(
            "newswatch",
            "`python -m bench.newswatch_driver run CONFIG`: what `newswatch run --config CONFIG` does"
            " (load_settings, run_ingest, the run's summary), plus its stage timings printed; a fresh"
            " warehouse each round",
            stages=True,
        ),
        Contender(
            "newswatch-base",
            "the same driver in another checkout of newswatch (--base DIR, e.g. main before a change):"
            " a before/after comparison in the same rounds",
            stages=True,
        ),
        Contender(
            "newswatch-warm",
            "the same driver with PREFECT_API_URL set to a Prefect server the bench keeps running (as"
            " `newswatch serve` or `prefect server start` would): its CPU during the run is counted",
            stages=True,
        ),
        Contender(
            "newswatch-cli",
            "`newswatch run --config CONFIG`, the command itself (no stage timings); a fresh warehouse each round",
        ),
        Contender(
            "prefect",
            "`python -m bench.newswatch_driver noop`: a trivial flow (one task) run the same way: Python,"
            " Prefect's import, its ephemeral server, one flow run: Prefect's fixed cost",
            keeps_state=False,
        ),
        Contender(
            "script",
            "`python -m bench.baseline_script --skip-known`: feedparser on each feed, then urllib and"
            " trafilatura.extract in a ProcessPoolExecutor (one process a core), rows into DuckDB at the end",
        ),
        Contender(
            "naive",
            "`python -m bench.baseline_script --skip-known --processes 1`: the same in one process",
        ),
    )
}
DEFAULT = ("newswatch", "prefect", "script", "naive")


def command(contender: str, workdir: Path, site: Site, port: int, cores: int) -> list[str]:
    """The command line of a contender whose store (warehouse, config, database) lives in `workdir`."""
    py = sys.executable
    if contender in ("newswatch", "newswatch-base", "newswatch-warm", "newswatch-cli"):
        config = workdir / "newswatch.toml"
        if not config.exists():
            write_config(config, site, port, store_path(contender, workdir))
        if contender == "newswatch-cli":
            return [str(NEWSWATCH_CLI), "run", "--config", str(config)]
        # -base runs in --base DIR, -warm with a running server (Bench.where)
        return [py, "-m", "bench.newswatch_driver", "run", str(config)]
    if contender == "prefect":
        return [py, "-m", "bench.newswatch_driver", "noop"]
    feeds = workdir / "feeds.txt"
    if not feeds.exists():
        feeds.write_text("".join(url + "\n" for _, url in site.feed_urls(port)), encoding="utf-8")
    processes = 1 if contender == "naive" else cores
    db = store_path(contender, workdir)
    return [py, "-m", "bench.baseline_script", "--db", str(db), "--processes", str(processes), "--skip-known", str(feeds)]  # fmt: skip


def store_path(contender: str, workdir: Path) -> Path:
    if contender.startswith("newswatch"):
        return workdir / "warehouse" / "newswatch.duckdb"
    return workdir / "articles.duckdb"


@dataclass(frozen=True)
class Stored:
    articles: int  # rows stored (newswatch: not counting its seed documents nor copies)
    own_text: int  # of them, how many hold their own page's marker: the right text
    copies: int = 0  # newswatch: copies recognised (stored apart, in duplicates)


def stored(contender: str, workdir: Path, site: Site) -> Stored | None:
    """What a contender's store holds now, checked against the site (None: nothing stored)."""
    import duckdb

    db = store_path(contender, workdir)
    if contender == "prefect" or not db.exists():
        return None
    by_path = {p.path: p for p in site.pages}
    con = duckdb.connect(str(db), read_only=True)
    try:
        if contender.startswith("newswatch"):
            rows = con.execute("SELECT url, text FROM articles WHERE feed <> 'seed'").fetchall()
            copies = con.execute("SELECT count(*) FROM duplicates").fetchall()[0][0]
        else:
            rows, copies = con.execute("SELECT url, text FROM articles").fetchall(), 0
    finally:
        con.close()
    own = 0
    for url, text in rows:
        page = by_path.get("/" + url.split("/", 3)[-1])
        own += page is not None and page.code in set(MARKER_CODE.findall(text or ""))
    return Stored(len(rows), own, copies)
