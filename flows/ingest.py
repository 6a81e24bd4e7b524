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
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from extractors.errors import TransientError
from extractors.extract import extract_with_fingerprint
from extractors.http import FetchedFeed, Fetcher, FetchSettings, fetch_feed, fetch_pages, parse_fetched
from extractors.parallel import ExtractorPool, extract_many
from extractors.records import FeedEntry, FeedPoll, Page
from extractors.topic import DEFAULT_TERMS, TopicFilter
from flows import pipeline as P
from flows.delivery import build_matching, deliver_pending, raise_feed_alerts
from flows.progress import Progress
from flows.settings import Settings, load_settings, resolve_db_path
from warehouse.store import Warehouse


def _only_transient(task, task_run, state) -> bool:
    """Prefect retry condition: retry a batch task only when it failed with a transient error."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False


def fetch_settings(s: Settings) -> FetchSettings:
    f = s.fetch
    return FetchSettings(
        connect_timeout=f.connect_timeout,
        timeout=f.timeout,
        max_bytes=f.max_bytes,
        retries=f.retries,
        backoff=f.backoff,
        max_retry_wait=f.max_retry_wait,
        user_agent=f.user_agent,
        allow_private_hosts=f.allow_private_hosts,
        per_host=f.per_host,
        max_workers=f.max_workers,
    )


@task(
    name="poll-feeds",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=_only_transient,
)
def poll_shard(
    feeds: Sequence[tuple[str, str, str | None, str | None]],
    settings: FetchSettings,
    workers: int = 0,
    deadline: float = 20.0,
) -> list[FeedPoll]:
    """Poll a shard of feeds: conditional GETs concurrently (retries per request inside), each body
    parsed as soon as it is in, on the extraction pool when there is one (workers > 0): parsing is
    CPU work, which threads sharing the GIL would do one at a time, and the pool is idle while
    feeds are polled. Until the pool has started (~0.4 s, see `start_pool_early`), feeds are parsed
    here instead of waiting for it."""
    from concurrent.futures import ThreadPoolExecutor

    fetcher = _fetcher(settings)

    def poll(feed: tuple[str, str, str | None, str | None]) -> FeedPoll:
        got = fetch_feed(feed[0], feed[1], fetcher, etag=feed[2], last_modified=feed[3])
        if not isinstance(got, FetchedFeed):
            return got
        pool = _pool_unless_starting(workers, deadline) if workers else None
        if pool is None:
            return parse_fetched(got)
        parsed = pool.submit((feed[0], got), fn=parse_fetched).result()
        return parsed if isinstance(parsed, FeedPoll) else _unparsed(got, parsed)

    with ThreadPoolExecutor(min(settings.max_workers, max(1, len(feeds)))) as ex:
        return list(ex.map(poll, feeds))


def _unparsed(fetched: FetchedFeed, why: str) -> FeedPoll:
    """The poll of a feed whose parsing failed in the pool (deadline, worker died)."""
    return FeedPoll(
        feed=fetched.name,
        url=fetched.url,
        outcome="failed",
        status=fetched.result.status,
        etag=fetched.sent_etag,
        last_modified=fetched.sent_last_modified,
        error=f"feed not parsed: {why}",
        elapsed_ms=fetched.fetch_ms,
    )


FETCH_AHEAD = 2  # page batches being fetched or extracted at once: the pool is fed continuously
_POOL: ExtractorPool | None = None
_POOL_LOCK = threading.Lock()
_FETCHERS: dict[FetchSettings, Fetcher] = {}
_FETCHERS_LOCK = threading.Lock()


def _fetcher(settings: FetchSettings) -> Fetcher:
    """One Fetcher per process and settings, shared by every poll and fetch task: its per-host limit
    then holds across concurrent batches (politeness), and its connections and TLS context are
    reused instead of being set up per batch. A module function, so Dask pickles it by reference."""
    with _FETCHERS_LOCK:
        if settings not in _FETCHERS:
            _FETCHERS[settings] = Fetcher(settings)
        return _FETCHERS[settings]


def _pool(workers: int, deadline: float) -> ExtractorPool:
    """One process pool per flow process, shared by concurrent batches and reused across runs."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ExtractorPool(workers, deadline)
            _POOL.start()
        return _POOL


def _pool_unless_starting(workers: int, deadline: float) -> ExtractorPool | None:
    """`_pool`, or None while another thread is starting it (the caller does not wait for that)."""
    if not _POOL_LOCK.acquire(blocking=False):
        return _POOL
    _POOL_LOCK.release()
    return _pool(workers, deadline)


def shutdown_workers() -> None:
    """Stop the extraction processes and close the shared HTTP clients (end of a run)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.close()
    with _FETCHERS_LOCK:
        for fetcher in _FETCHERS.values():
            fetcher.close()
        _FETCHERS.clear()


@dataclass
class PageBatch:
    """A fetched and extracted batch: the pages without their bodies, extraction results by URL,
    the seconds spent fetching, and the seconds then spent waiting for the last pages' extraction
    (pages are extracted as they come in, so most of it overlaps fetching)."""

    pages: list[Page]
    extracted: dict
    fetch_s: float
    extract_s: float


@task(name="fetch-extract-pages", cache_policy=NO_CACHE)
def fetch_extract(urls: Sequence[str], settings: FetchSettings, workers: int, deadline: float) -> PageBatch:
    """Fetch a batch of pages and extract their text: each page handed to the shared process pool
    as soon as it is in, or extracted in this process after fetching when workers == 0 (Dask
    workers). One task per batch: a task run costs Prefect time."""
    t = time.perf_counter()
    pending: dict[str, Future] = {}
    on_page = None
    if workers:
        pool = _pool(workers, deadline)

        def on_page(page: Page) -> None:
            if page.body is not None:
                job = (page.url, page.body, page.final_url or page.url, page.content_type)
                pending[page.url] = pool.submit(job, fn=extract_with_fingerprint)

    pages = fetch_pages(urls, _fetcher(settings), on_page)
    fetch_s = time.perf_counter() - t
    t = time.perf_counter()
    if workers:
        # One wake-up when the last page is done, not one per page as result() in turn would cost.
        futures_wait(pending.values())
        extracted = {url: future.result() for url, future in pending.items()}
    else:
        jobs = [(p.url, p.body, p.final_url or p.url, p.content_type) for p in pages if p.body is not None]
        extracted = extract_many(jobs, workers=0, deadline_s=deadline, fn=extract_with_fingerprint)
    # The bodies are done with: not kept in memory, nor sent back from a Dask worker.
    return PageBatch([p.without_body() for p in pages], extracted, fetch_s, time.perf_counter() - t)


class Rows(Sequence[dict]):
    """A read-only sequence of rows (dicts) in a run's result.

    Not a list on purpose: Prefect walks every list, dict and dataclass of a flow's return value
    looking for futures, and for the ~2,000 articles of a large run that took 0.1-0.14 s of the
    run's tail, when nothing else runs; any other object is one value to it."""

    __slots__ = ("_rows",)

    def __init__(self, rows: Iterable[dict] = ()):
        self._rows = tuple(rows)

    def __getitem__(self, index):
        return self._rows[index]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[dict]:
        return iter(self._rows)

    def __eq__(self, other: object) -> bool:
        return tuple(self) == tuple(other) if isinstance(other, Sequence) else NotImplemented

    def __repr__(self) -> str:
        return f"Rows({list(self._rows)!r})"


@dataclass
class RunResult:
    run_id: int
    status: str  # completed | no_feed_polled
    counts: dict
    polls: Rows  # per feed: name, outcome, status, error, entries
    new_articles: Rows
    db_path: str
    timings: dict  # seconds: wall time per phase, and summed task time for fetch / extract


def _shards(seq: Sequence, n: int) -> list[Sequence]:
    """Shards of `n`, the first of a quarter of that: pages start being fetched once it is in."""
    first = max(1, n // 4)
    return [seq[:first], *(seq[i : i + n] for i in range(first, len(seq), n))] if seq else []


def extract_workers(s: Settings, on_dask: bool) -> int:
    if on_dask:
        return 0
    if s.extract.workers is not None:
        return s.extract.workers
    return os.cpu_count() or 1


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


def start_pool_early(workers: int, deadline: float) -> threading.Thread | None:
    """Start the extraction processes (~0.4 s) while the warehouse opens and feeds are fetched,
    instead of when the first feed body is to be parsed."""
    if not workers:
        return None
    starter = threading.Thread(target=_pool, args=(workers, deadline), name="pool-start", daemon=True)
    starter.start()
    return starter


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
    counts = P.RunCounts()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now_ = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now_ - clock
        clock = now_

    with Warehouse.open(db) as wh:
        run_id = wh.start_run()
        seeded = P.ensure_seeds(wh, run_id, matching)
        if seeded:
            log.info("stored %d seed documents", seeded)
        lap("open_and_seed")
        wh.sync_feeds((f.name, f.url, f.enabled) for f in s.feeds)
        states = wh.feed_states()
        order = {f.name: i for i, f in enumerate(s.feeds)}  # config order decides which copy is the original
        now = P.utcnow()
        due = sorted(
            (st for st in P.due_feeds(states, now, force) if st.name in order), key=lambda st: order[st.name]
        )
        counts.feeds_due = len(due)

        # 1. poll, in shards of feeds; 2. what is new (ledger), shard by shard as polls come in;
        # 3. fetch, extract, judge and match in overlapping batches, starting with the first shard
        shards = _shards([(st.name, st.url, st.etag, st.last_modified) for st in due], s.runner.poll_batch)
        progress = Progress()
        poll_futs = [poll_shard.submit(sh, fs, workers, s.extract.deadline_s) for sh in shards]
        polls: list[FeedPoll] = []
        intake = P.Intake()

        def new_entries() -> Iterator[list[FeedEntry]]:
            for fut in poll_futs:
                shard = fut.result()
                polls.extend(shard)
                progress.update("feeds polled", len(polls), len(due))
                if len(polls) == len(shard):
                    lap("poll")  # until the first shard is in; the others overlap with fetching
                yield intake.add([e for p in shard for e in p.entries], wh)

        rows = P.RunRows(run_id, P.utcnow(), counts, matching)
        fetch_extract_judge(wh, new_entries(), s, fs, workers, topic, rows, progress, timings)
        lap("fetch_extract_judge")

        # 4. store what is left (the judged batches were stored as they came): the ledger and copy
        # rows of entries that made no article, then the feeds' poll state, last, so that a run
        # that fails before storing polls its feeds afresh next time instead of getting 304s.
        counts.entries_new = intake.size
        rows.add_outcomes(intake)
        rows.write(wh)
        counts.outage = P.is_outage(polls)
        wh.record_polls(
            P.poll_rows(
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
    rows: P.RunRows,
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
    judge = P.Judge(wh)
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
            built = P.build_article(
                by_url.pop(page.url),
                page,
                batch.extracted.get(page.url),
                topic=topic,
                min_words=s.extract.min_words,
                min_feed_words=s.extract.min_feed_words,
            )
            (articles if isinstance(built, P.Article) else rows.rejected).append(built)
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


class BatchPlan:
    """Page batches cut from entry groups as they come: batches of `size`, except the first and the
    last, of a quarter of that: the first so extraction starts early, the last so the work left once
    extraction ends (judging and matching the last batch, while the workers wait) is short."""

    def __init__(self, groups: Iterable[list[FeedEntry]], size: int):
        self._groups = iter(groups)
        self._pending: deque[FeedEntry] = deque()
        self._size = size
        self._quarter = max(1, size // 4)
        self._first = True
        self._done = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    def next(self) -> list[FeedEntry]:
        """The next batch; empty when there is none left."""
        want = self._quarter if self._first else self._size
        while not self._done and len(self._pending) < want + self._quarter:
            group = next(self._groups, None)
            if group is None:
                self._done = True
            else:
                self._pending.extend(group)
        n = len(self._pending)
        if self._done and self._quarter < n <= want:
            n -= self._quarter  # leave a small last batch
        n = min(n, want)
        self._first = self._first and n == 0
        return [self._pending.popleft() for _ in range(n)]


def publish_artifacts(result: RunResult) -> None:
    """A markdown summary and a table of the new articles, shown on the flow run in Prefect's UI."""
    c = result.counts
    failed = [p for p in result.polls if p["outcome"] == "failed"]
    md = "\n".join(
        [
            f"# newswatch run {result.run_id}: {result.status.replace('_', ' ')}",
            "",
            "| | |",
            "|---|---|",
            f"| feeds polled | {c['feeds_polled']} of {c['feeds_due']} due |",
            f"| feeds unchanged (304) | {c['feeds_unchanged']} |",
            f"| feeds failed | {c['feeds_failed']} |",
            f"| new articles | {c['articles_stored']} |",
            f"| copies | {c['copies']} |",
            f"| off-topic | {c['off_topic']} |",
            f"| without link / fetch failed / empty | {c['no_link']} / {c['fetch_failed']} / {c['extract_empty']} |",
            f"| alerts sent / pending | {c['alerts_sent']} / {c['alerts_pending']} |",
            "",
            *(f"- failed: **{p['feed']}** ({p['status'] or 'no answer'}): {p['error']}" for p in failed),
        ]
    )
    try:
        create_markdown_artifact(markdown=md, key="ingest-summary", description="newswatch run summary")
        create_table_artifact(
            table=[{"title": a["title"], "feed": a["feed"], "link": a["url"]} for a in result.new_articles]
            or [{"title": "(no new articles)", "feed": "", "link": ""}],
            key="new-articles",
            description="articles stored by this run",
        )
    except Exception as e:  # an artifact is a convenience: never fail the run for it
        get_run_logger().warning("could not publish artifacts: %s", e)
