"""The ingest flow's Prefect tasks: polling a shard of feeds, fetching and extracting a batch of pages.

One Fetcher and one extraction pool per process are shared by every task of a run.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass

from prefect import task
from prefect.cache_policies import NO_CACHE

from extractors.extract import extract_with_fingerprint
from extractors.http import (
    FetchedFeed,
    Fetcher,
    FetchSettings,
    RequestOverrides,
    fetch_feed,
    fetch_pages,
    parse_fetched,
)
from extractors.parallel import ExtractorPool, extract_many
from extractors.records import FeedPoll, Page
from flows.ingest.progress import feed_polled, page_extracted, page_fetched
from flows.runtime.stop import STOP
from flows.settings import Settings


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
        proxy=f.proxy,
    )


# No task retries: every request is retried inside the fetcher (transient errors only), and a feed
# that still fails is a failed poll, recorded with its reason, not an exception.
@task(name="poll-feeds", cache_policy=NO_CACHE)
def poll_shard(
    feeds: Sequence[tuple],
    settings: FetchSettings,
    workers: int = 0,
    deadline: float = 20.0,
) -> list[FeedPoll]:
    """Poll a shard of feeds, (name, url, etag, last_modified[, RequestOverrides]) each: conditional
    GETs concurrently (retries per request inside), each body parsed as soon as it is in, on the
    extraction pool when there is one (workers > 0): parsing is CPU work, which threads sharing
    the GIL would do one at a time, and the pool is idle while feeds are polled."""
    from concurrent.futures import ThreadPoolExecutor

    fetcher = _fetcher(settings)

    def poll(feed: tuple) -> FeedPoll:
        overrides = feed[4] if len(feed) > 4 else None
        got = fetch_feed(feed[0], feed[1], fetcher, etag=feed[2], last_modified=feed[3], overrides=overrides)
        feed_polled()  # for the progress line
        if not isinstance(got, FetchedFeed):
            return got
        if not workers:
            return parse_fetched(got)
        parsed = _pool(workers, deadline).submit((feed[0], got), fn=parse_fetched).result()
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


def _extraction(future: Future):
    """A page's extraction result; while the run is stopping, none is waited for (the page is
    fetched again next run)."""
    while True:
        try:
            return future.result(timeout=0.5)
        except FuturesTimeout:
            if STOP.is_set():
                return "not extracted: the run is stopping"
        except RuntimeError as exc:  # the pool was closed under it (the run is stopping)
            return f"not extracted: {exc}"


def cancel_fetches() -> None:
    """Fail every request in flight of this process's fetchers (the run is stopping)."""
    with _FETCHERS_LOCK:
        for fetcher in _FETCHERS.values():
            fetcher.cancel()


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
def fetch_extract(
    urls: Sequence[str],
    settings: FetchSettings,
    workers: int,
    deadline: float,
    overrides: Mapping[str, RequestOverrides] | None = None,
    known: Mapping[str, tuple[str, ...]] | None = None,
) -> PageBatch:
    """Fetch a batch of pages and extract their text: each page handed to the shared process pool
    as soon as it is in, or extracted in this process after fetching when workers == 0 (Dask
    workers). One task per batch: a task run costs Prefect time. `overrides`: the request
    settings of the feed a page came from, for the pages on that feed's site. `known`: the
    metadata fields its feed entry already gives (title, author, published_at), not read again."""
    known = known or {}
    t = time.perf_counter()
    pending: dict[str, Future] = {}
    on_page = page_fetched  # counts pages for the progress line
    if workers:
        pool = _pool(workers, deadline)

        def on_page(page: Page) -> None:
            page_fetched()
            if page.body is not None:
                pending[page.url] = pool.submit(_job(page, known), fn=extract_with_fingerprint)
                pending[page.url].add_done_callback(page_extracted)

    pages = fetch_pages(urls, _fetcher(settings), on_page, overrides)
    fetch_s = time.perf_counter() - t
    t = time.perf_counter()
    if workers:
        extracted = {url: _extraction(future) for url, future in pending.items()}
    else:
        jobs = [_job(p, known) for p in pages if p.body is not None]
        extracted = extract_many(jobs, workers=0, deadline_s=deadline, fn=extract_with_fingerprint)
    # The bodies are done with: not kept in memory, nor sent back from a Dask worker.
    return PageBatch([p.without_body() for p in pages], extracted, fetch_s, time.perf_counter() - t)


def _job(page: Page, known: Mapping[str, tuple[str, ...]]) -> tuple:
    """A page's arguments of `extract_with_fingerprint`, after its key (the URL)."""
    return (page.url, page.body, page.final_url or page.url, page.content_type, known.get(page.url, ()))


def known_fields(entry) -> tuple[str, ...]:
    """The metadata fields a feed entry gives, which the page's extraction need not read again
    (measured: 4-12 ms of CPU a page saved)."""
    return tuple(
        name
        for name, value in (
            ("title", entry.title),
            ("author", entry.author),
            ("published_at", entry.published_at),
        )
        if value
    )


def extract_workers(s: Settings, on_dask: bool) -> int:
    if on_dask:
        return 0
    if s.extract.workers is not None:
        return s.extract.workers
    return os.cpu_count() or 1
