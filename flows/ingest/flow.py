"""The `ingest` Prefect flow: poll, select new, fetch and extract, judge, store, match, deliver, publish.

A task is a stage over a batch (a shard of feeds, a batch of pages), never one task per article: a
task run costs tens of ms of CPU between this process and Prefect's server. Stages overlap: pages
are fetched as soon as the first shard of feeds is polled, each page is handed to the extraction
pool as soon as it is in, and a batch's articles are judged, stored and matched here while later
batches are still fetched and extracted. The single DuckDB writer stays in this process; under a
Dask task runner the tasks run on Dask workers.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from prefect import flow, get_run_logger

from extractors.http import FetchSettings
from extractors.records import Article, FeedEntry, FeedPoll
from flows.ingest.articles import build_article
from flows.ingest.backfill import Backfill
from flows.ingest.batches import BatchPlan, growing_shards
from flows.ingest.delivery import (
    build_matching,
    deliver_pending,
    raise_feed_alerts,
    rematch_archive,
    retro_summary,
)
from flows.ingest.feed_requests import FeedRequests
from flows.ingest.feed_state import due_feeds, is_outage, poll_rows
from flows.ingest.intake import Intake, poll_without_texts
from flows.ingest.judge import Judge
from flows.ingest.pace import pace_feeds
from flows.ingest.progress import Progress
from flows.ingest.result import RunResult, Stopwatch, poll_summary, publish_artifacts
from flows.ingest.revisions import recheck_revisions
from flows.ingest.rows import RunCounts, RunRows, utcnow
from flows.ingest.seeds import ensure_seeds
from flows.ingest.summary import STORIES_SHOWN
from flows.ingest.tasks import (
    FETCH_AHEAD,
    PageBatch,
    cancel_fetches,
    extract_workers,
    fetch_extract,
    fetch_settings,
    known_fields,
    poll_shard,
)
from flows.ingest.topic import build_topic
from flows.runtime.stop import STOP, on_signals
from flows.settings import Settings, load_settings, resolve_db_path
from warehouse.store import FeedState, Warehouse


def _run_name() -> str:
    return "ingest " + datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")


@flow(name="ingest", flow_run_name=_run_name, log_prints=False, validate_parameters=False)
def ingest(
    config_path: str, db_path: str | None = None, force: bool = False, on_dask: bool = False
) -> RunResult:
    """Poll every due feed, fetch and extract what is new, judge copies, store, match and alert.

    Parameters are paths only: secrets are read from the environment inside the run, never passed.
    """
    s = load_settings(config_path)
    db = resolve_db_path(s, db_path)
    log = get_run_logger()
    workers = extract_workers(s, on_dask)
    fs = fetch_settings(s)
    matching = build_matching(s)
    counts = RunCounts()
    clock = Stopwatch()
    progress = Progress()

    with on_signals(), Warehouse.open(db) as wh:
        run_id = wh.start_run()
        try:
            status, note, polls = _run(
                wh, run_id, s, fs, workers, matching, counts, clock, progress, force, log
            )
        except BaseException as exc:  # recorded, then raised: the caller reports it
            wh.finish_run(run_id, "failed", {**counts.as_dict(), "note": f"{type(exc).__name__}: {exc}"})
            raise
        wh.finish_run(run_id, status, {**counts.as_dict(), "note": note})
        # The first stories only: a flow's result and artifacts stay the same size whatever the
        # size of the run (`newswatch run --verbose` reads the rest from the warehouse).
        shown, total = wh.run_articles(run_id, STORIES_SHOWN)
        result = RunResult(
            run_id=run_id,
            status=status,
            counts=counts.as_dict(),
            polls=[poll_summary(p) for p in polls],
            new_articles=shown,
            new_total=total,
            db_path=str(Path(db)),
            timings=clock.timings,
            note=note,
        )
    # 7. publish: leaving the block copied the warehouse to where analysts read it
    clock.lap("publish")
    log.info("published %s (run %d: %s)", db, run_id, status.replace("_", " "))
    publish_artifacts(result)
    clock.lap("artifacts")
    result.timings = clock.rounded()
    return result


def _run(wh, run_id, s, fs, workers, matching, counts, clock, progress, force, log):
    """The stages of one run; returns (status, note, polls)."""
    seeded = ensure_seeds(wh, run_id, matching)
    if seeded:
        log.info("stored %d seed documents", seeded)
    clock.lap("open_and_seed")

    # 1. poll the due feeds, in shards; 2. select what the ledger has not seen, shard by shard
    states, due = _due_in_config_order(wh, s, force)
    counts.feeds_due = len(due)
    progress.update("feeds polled", 0, len(due))
    polls: list[FeedPoll] = []
    intake = Intake()
    poll_futures = [
        poll_shard.submit(shard, fs, workers, s.extract.deadline_s)
        for shard in growing_shards(FeedRequests(s).poll_jobs(due), s.runner.poll_batch)
    ]

    def new_entries() -> Iterator[list[FeedEntry]]:
        for future in poll_futures:
            shard = wait_for(future)
            polls.extend(map(poll_without_texts, shard))  # the run's polls stay, their texts need not
            progress.update("feeds polled", len(polls), len(due))
            if len(polls) == len(shard):
                clock.lap("poll")  # until the first shard is in; the others overlap with fetching
            yield intake.add([e for p in shard for e in p.entries], wh)
        log.info(
            "polled %d feeds: %d with new content, %d unchanged, %d failed; %d new entries",
            len(polls),
            sum(p.outcome == "ok" for p in polls),
            sum(p.outcome == "not_modified" for p in polls),
            sum(p.outcome == "failed" for p in polls),
            intake.size,
        )

    # 3. fetch and extract, 4. judge, 5. store and match: batch by batch, as each is extracted
    rows = RunRows(run_id, utcnow(), counts, matching)
    # gaps found as polls come in; the entries their backfill finds follow the polled ones
    backfill = Backfill(wh, s.backfill, fs, intake, rows, wait=wait_for)
    try:
        fetch_extract_judge(
            wh, backfill.entries(new_entries(), polls), s, fs, workers, rows, progress, clock.timings
        )
    except Stopping:
        # What was judged is stored. The rest, and the feeds' poll state, are not: the next run
        # polls these feeds afresh (no 304) and the ledger lets it skip what was stored.
        counts.entries_new = intake.size
        log.warning("%s: %d articles stored before it stopped", STOP.why, counts.articles_stored)
        return STOP.status, STOP.why, polls
    clock.lap("fetch_extract_judge")
    log.info(
        "fetched %d pages: %d stored, %d copies, %d off topic, %d failed or empty; %d mentions",
        counts.pages_fetched,
        counts.articles_stored,
        counts.copies,
        counts.off_topic,
        counts.fetch_failed + counts.extract_empty,
        counts.mentions,
    )

    # The entries that made no article, then the feeds' poll state, last: a run that fails
    # before this polls its feeds afresh next time instead of getting 304s.
    counts.entries_new = intake.size
    rows.add_outcomes(intake, wh)
    rows.write(wh)
    counts.outage = is_outage(polls)
    wh.record_polls(
        poll_rows(
            polls,
            states,
            utcnow(),
            outage=counts.outage,
            base_minutes=s.schedule.interval_minutes or 15.0,
            max_minutes=s.health.backoff_max_minutes,
        )
    )
    backfill.record(run_id)
    pace_feeds(wh, s.schedule, polls, rows.now, overflowed=backfill.overflowed, extra=backfill.found_entries)
    counts.feeds_polled = sum(p.outcome != "failed" for p in polls)
    counts.feeds_unchanged = sum(p.outcome == "not_modified" for p in polls)
    counts.feeds_failed = sum(p.outcome == "failed" for p in polls)
    clock.lap("write")

    # stories stored by earlier runs, fetched again for revisions (conditional GETs)
    recheck_revisions(wh, s, fs, workers, matching, run_id, counts)
    clock.lap("revisions")

    # 6. deliver: operational alerts, then the outbox (after the write: sent only when accepted);
    # first, if the watchlist or a rule changed since the archive was last matched, match it again
    if (retro := rematch_archive(wh, s, matching, run_id)) and retro.ran:
        log.info("%s", retro_summary(retro))
    raise_feed_alerts(wh, s, counts.outage, run_id)
    counts.alerts_sent, counts.alerts_pending = deliver_pending(wh, s)
    clock.lap("alerts")
    log.info(
        "alerts: %d queued, %d sent, %d pending",
        counts.alerts_created,
        counts.alerts_sent,
        counts.alerts_pending,
    )
    if due and counts.feeds_polled == 0:
        return "no_feed_polled", "no feed at all could be polled", polls
    return "completed", None, polls


class Stopping(Exception):
    """The run was asked to stop (signal or time limit) while waiting for a task."""


def wait_for(future):
    """A task's result, waited for in short steps so that a stop request is seen within a second:
    then the fetches in flight are failed at once and Stopping is raised."""
    while not future.wrapped_future.done():
        if STOP.is_set():
            cancel_fetches()
            raise Stopping(STOP.why)
        future.wait(timeout=0.5)
    return future.result()


def _due_in_config_order(
    wh: Warehouse, s: Settings, force: bool
) -> tuple[dict[str, FeedState], list[FeedState]]:
    """Every feed's stored state, and the configured feeds due now, in config order (which decides
    which copy of a story is the original)."""
    wh.sync_feeds((f.name, f.url, f.enabled) for f in s.feeds)
    states = wh.feed_states()
    order = {f.name: i for i, f in enumerate(s.feeds)}
    due = [st for st in due_feeds(states, utcnow(), force) if st.name in order]
    return states, sorted(due, key=lambda st: order[st.name])


def fetch_extract_judge(
    wh: Warehouse,
    entry_groups: Iterable[list[FeedEntry]],
    s: Settings,
    fs: FetchSettings,
    workers: int,
    rows: RunRows,
    progress: Progress,
    timings: dict[str, float],
) -> None:
    """Fetch and extract the new entries' pages in batches that overlap; build, judge, store and match
    each batch's articles as soon as it is extracted, while later batches are still fetched and
    extracted. Entries come in groups (one per poll shard), taken when a batch needs them.

    A window of FETCH_AHEAD batches is in flight, so the HTML waiting in memory stays bounded
    whatever the size of the run. Batches are judged in order (config order of the feeds), so the
    first copy of a story seen is its original. Entries whose page made no article are written to
    the ledger with their batch.
    """
    topic = build_topic(s)
    batches = BatchPlan(entry_groups, s.runner.page_batch)
    by_url: dict[str, FeedEntry] = {}
    in_flight: deque = deque()
    own_requests = FeedRequests(s)

    def submit_next() -> None:
        batch = batches.next()
        if batch:
            by_url.update((e.url, e) for e in batch)
            urls, own = [e.url for e in batch], own_requests.for_pages(batch)
            known = {e.url: known_fields(e) for e in batch}
            in_flight.append(fetch_extract.submit(urls, fs, workers, s.extract.deadline_s, own, known))

    for _ in range(FETCH_AHEAD):
        submit_next()
    progress.update("pages extracted", 0, len(by_url) + batches.pending)
    done = 0
    spent = dict.fromkeys(
        ("fetch_task_s", "extract_task_s", "build_s", "judge", "match", "write_batches"), 0.0
    )
    with Judge(wh) as judge:
        while in_flight:
            batch: PageBatch = wait_for(in_flight.popleft())
            if STOP.is_set():
                cancel_fetches()
                raise Stopping(STOP.why)
            submit_next()
            spent["fetch_task_s"] += batch.fetch_s
            spent["extract_task_s"] += batch.extract_s
            t0 = time.perf_counter()
            articles, rejected = [], []
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
                (articles if isinstance(built, Article) else rejected).append(built)
            t1 = time.perf_counter()
            verdicts, ids = judge.judge(articles)
            t2 = time.perf_counter()
            match_before = rows.match_s
            rows.add_judged(articles, verdicts, ids)
            rows.add_rejected(rejected)
            t3 = time.perf_counter()
            rows.write(wh)  # now, while later batches are extracted (see RunRows)
            spent["build_s"] += t1 - t0
            spent["judge"] += t2 - t1
            spent["match"] += rows.match_s - match_before
            spent["write_batches"] += time.perf_counter() - t3
            done += len(batch.pages)
            progress.update("pages extracted", done, done + len(by_url) + batches.pending, force=True)
    timings.update(spent)
