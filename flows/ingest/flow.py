"""The `ingest` Prefect flow: thin wiring of the stages over batches.

A task is a stage over a batch (a shard of feeds, a batch of pages), never one task per article:
a task run costs tens of ms of CPU between this process and Prefect's server. Everything overlaps:
fetching starts with the first polled shard of feeds, each batch task fetches its pages and queues
them to the extraction pool (which stays busy across batches, and also parses feeds), and a batch's
articles are judged and matched here while later batches are fetched and extracted. The single
DuckDB writer stays in the flow process; under a Dask task runner the tasks run on Dask workers.
"""

from __future__ import annotations

import contextvars
import gc
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

from prefect import flow, get_run_logger

from extractors.http import FetchSettings
from extractors.records import Article, FeedEntry, FeedPoll
from extractors.topic import DEFAULT_TERMS, TopicFilter
from flows.ingest.articles import build_article
from flows.ingest.batches import BatchPlan, _shards
from flows.ingest.delivery import build_matching, deliver_pending, raise_feed_alerts
from flows.ingest.feed_state import due_feeds, is_outage, poll_rows
from flows.ingest.intake import Intake
from flows.ingest.judge import Judge
from flows.ingest.progress import Progress
from flows.ingest.result import Rows, RunResult, publish_artifacts
from flows.ingest.rows import RunCounts, RunRows, utcnow
from flows.ingest.seeds import ensure_seeds
from flows.ingest.tasks import (
    FETCH_AHEAD,
    PageBatch,
    extract_workers,
    fetch_extract,
    fetch_settings,
    poll_shard,
    start_pool_early,
)
from flows.settings import Settings, load_settings, resolve_db_path
from warehouse.store import Warehouse


@flow(name="ingest", log_prints=False, validate_parameters=False)
def ingest(
    config_path: str, db_path: str | None = None, force: bool = False, on_dask: bool = False
) -> RunResult:
    """Poll every due feed, fetch and extract what is new, judge copies, store, match and alert.

    Parameters are paths only: secrets are read from the environment inside the run, never passed.
    """
    # What is alive now (modules, Prefect, pydantic, DuckDB: ~350k objects) lives for the whole run:
    # frozen, the run's garbage collections do not scan it over and over (~10% of the flow's CPU).
    gc.freeze()
    try:
        return _ingest(config_path, db_path, force, on_dask)
    finally:
        gc.unfreeze()


def _ingest(config_path: str, db_path: str | None, force: bool, on_dask: bool) -> RunResult:
    log = get_run_logger()
    s = load_settings(config_path)
    workers = extract_workers(s, on_dask)
    starter = start_pool_early(workers, s.extract.deadline_s)
    try:
        return _ingest_run(s, workers, db_path, force, log)
    finally:
        if starter is not None:
            starter.join()  # so that no pool starts after the run's shutdown_workers


def _ingest_run(s: Settings, workers: int, db_path: str | None, force: bool, log) -> RunResult:
    db = resolve_db_path(s, db_path)
    fs = fetch_settings(s)
    topic = TopicFilter(s.topic.terms or DEFAULT_TERMS, s.topic.min_hits)
    matching = build_matching(s)
    counts = RunCounts()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now_ = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now_ - clock
        clock = now_

    with Warehouse.open(db) as wh:
        run_id = wh.start_run()
        seeded = ensure_seeds(wh, run_id, matching)
        if seeded:
            log.info("stored %d seed documents", seeded)
        lap("open_and_seed")
        wh.sync_feeds((f.name, f.url, f.enabled) for f in s.feeds)
        states = wh.feed_states()
        order = {f.name: i for i, f in enumerate(s.feeds)}  # config order decides which copy is the original
        now = utcnow()
        due = sorted(
            (st for st in due_feeds(states, now, force) if st.name in order), key=lambda st: order[st.name]
        )
        counts.feeds_due = len(due)

        # 1. poll, in shards of feeds; 2. what is new (ledger), shard by shard as polls come in;
        # 3. fetch, extract, judge and match in overlapping batches, starting with the first shard
        shards = _shards([(st.name, st.url, st.etag, st.last_modified) for st in due], s.runner.poll_batch)
        progress = Progress()
        poll_futs = [poll_shard.submit(sh, fs, workers, s.extract.deadline_s) for sh in shards]
        polls: list[FeedPoll] = []
        intake = Intake()

        def new_entries() -> Iterator[list[FeedEntry]]:
            for fut in poll_futs:
                shard = fut.result()
                polls.extend(shard)
                progress.update("feeds polled", len(polls), len(due))
                if len(polls) == len(shard):
                    lap("poll")  # until the first shard is in; the others overlap with fetching
                yield intake.add([e for p in shard for e in p.entries], wh)

        rows = RunRows(run_id, utcnow(), counts, matching)
        fetch_extract_judge(wh, new_entries(), s, fs, workers, topic, rows, progress, timings)
        lap("fetch_extract_judge")

        # 4. store what is left (the judged batches were stored as they came): the ledger and copy
        # rows of entries that made no article, then the feeds' poll state, last, so that a run
        # that fails before storing polls its feeds afresh next time instead of getting 304s.
        counts.entries_new = intake.size
        rows.add_outcomes(intake)
        rows.write(wh)
        counts.outage = is_outage(polls)
        wh.record_polls(
            poll_rows(
                polls,
                states,
                now,
                outage=counts.outage,
                base_minutes=s.schedule.interval_minutes or 15.0,
                max_minutes=s.health.backoff_max_minutes,
            )
        )
        counts.feeds_polled = sum(p.outcome != "failed" for p in polls)
        counts.feeds_unchanged = sum(p.outcome == "not_modified" for p in polls)
        counts.feeds_failed = sum(p.outcome == "failed" for p in polls)
        lap("write")

        # 5. operational alerts, then deliver the outbox (after the write: sent only when accepted)
        raise_feed_alerts(wh, s, counts.outage, run_id)
        sent, pending = deliver_pending(wh, s)
        counts.alerts_sent, counts.alerts_pending = sent, pending
        lap("alerts")

        status = "no_feed_polled" if due and counts.feeds_polled == 0 else "completed"
        wh.finish_run(run_id, status, counts.as_dict())
        result = RunResult(
            run_id=run_id,
            status=status,
            counts=counts.as_dict(),
            polls=Rows(
                {
                    "feed": p.feed,
                    "outcome": p.outcome,
                    "status": p.status,
                    "error": p.error,
                    "entries": len(p.entries),
                }
                for p in polls
            ),
            new_articles=Rows(wh.run_articles(run_id)),
            db_path=str(Path(db)),
            timings=timings,
        )
        # The artifacts go to Prefect's API while the warehouse is copied out (leaving the block).
        artifacts = _in_thread(publish_artifacts, result)
        clock = time.perf_counter()
    lap("publish")
    artifacts.join()
    timings["artifacts"] = time.perf_counter() - clock
    result.timings = {k: round(v, 4) for k, v in timings.items()}
    return result


def _in_thread(fn, *args) -> threading.Thread:
    """Run fn(*args) in a started thread that sees this thread's Prefect run context."""
    thread = threading.Thread(target=contextvars.copy_context().run, args=(fn, *args), daemon=True)
    thread.start()
    return thread


def fetch_extract_judge(
    wh: Warehouse,
    entry_groups: Iterable[list[FeedEntry]],
    s: Settings,
    fs: FetchSettings,
    workers: int,
    topic: TopicFilter,
    rows: RunRows,
    progress: Progress,
    timings: dict[str, float],
) -> None:
    """Fetch and extract the new entries' pages in batches that overlap; build, judge and match each
    batch's articles into `rows` as soon as it is extracted, while later batches are still fetched
    and extracted. Entries come in groups (one per poll shard), taken when a batch needs them.

    A window of FETCH_AHEAD batches is in flight, so the HTML waiting in memory stays bounded
    whatever the size of the run. Batches are judged in order (config order of the feeds), so the
    first copy of a story seen is its original. Rejected entries go to `rows.rejected`.
    """
    batches = BatchPlan(entry_groups, s.runner.page_batch)
    by_url: dict[str, FeedEntry] = {}
    in_flight: deque = deque()

    def submit_next() -> None:
        batch = batches.next()
        if batch:
            by_url.update((e.url, e) for e in batch)
            urls = [e.url for e in batch]
            in_flight.append(fetch_extract.submit(urls, fs, workers, s.extract.deadline_s))

    for _ in range(FETCH_AHEAD):
        submit_next()
    judge = Judge(wh)
    done_n = 0
    spent = dict.fromkeys(
        ("fetch_task_s", "extract_task_s", "build_s", "judge", "match", "write_batches"), 0.0
    )
    while in_flight:
        batch: PageBatch = in_flight.popleft().result()
        submit_next()
        spent["fetch_task_s"] += batch.fetch_s
        spent["extract_task_s"] += batch.extract_s
        t0 = time.perf_counter()
        articles = []
        for page in batch.pages:
            rows.counts.pages_fetched += page.fetched
            built = build_article(
                by_url.pop(page.url),
                page,
                batch.extracted.get(page.url),
                topic=topic,
                min_words=s.extract.min_words,
                min_feed_words=s.extract.min_feed_words,
            )
            (articles if isinstance(built, Article) else rows.rejected).append(built)
        t1 = time.perf_counter()
        verdicts, ids = judge.judge(articles)
        t2 = time.perf_counter()
        match_before = rows.match_s
        rows.add_judged(articles, verdicts, ids)
        t3 = time.perf_counter()
        rows.write(wh)  # now, while later batches are extracted (see RunRows)
        spent["build_s"] += t1 - t0
        spent["judge"] += t2 - t1
        spent["match"] += rows.match_s - match_before
        spent["write_batches"] += time.perf_counter() - t3
        done_n += len(batch.pages)
        progress.update("pages extracted", done_n, done_n + len(by_url) + batches.pending, force=True)
    timings.update(spent)
