"""Filling gaps: the entries a feed no longer shows, from its older pages and the site's news sitemap.

For each gap (see gaps.py), one task walks back politely, one request at a time, within a budget of
requests and seconds: first the feed's own paging (RFC 5005 `rel="next"` / `prev-archive`, else
WordPress's `?paged=N`) until it reaches an entry seen before or one older than the gap; then, if
the gap is still open, the news sitemaps named in the site's robots.txt, for the gap's window. The
entries found go into the run's pipeline like polled ones (ledger, copies, topic, alerts); a
backfilled story older than a day is stored without alerting, like a retro match.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE

from extractors.errors import ExtractorError
from extractors.feeds import ParsedFeed, parse_feed
from extractors.http import Fetcher, FetchSettings, HttpResult
from extractors.paging import SitemapError, paged_url, parse_sitemap, robots_sitemaps
from extractors.records import FeedEntry, FeedPoll
from extractors.urls import host_of
from flows.ingest.gaps import Gap, detect_gaps
from flows.ingest.intake import Intake, entry_key
from flows.ingest.rows import RunRows
from flows.ingest.tasks import _fetcher
from flows.runtime.stop import STOP
from flows.settings import BackfillConfig
from warehouse.coverage import feed_baselines, insert_gaps, recent_keys
from warehouse.store import Warehouse

ALERT_WITHIN = timedelta(days=1)  # a backfilled story older than this is stored without alerting
MAX_ENTRIES = 500  # entries one gap may bring in, whatever the sitemap lists


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    gap: Gap
    known: frozenset[str]  # the feed's ledger keys seen most recently: reaching one closes the gap
    limits: BackfillConfig
    max_bytes: int


@dataclass(frozen=True, slots=True)
class BackfillResult:
    feed: str
    entries: tuple[FeedEntry, ...]  # in the gap's window, not in the poll
    sources: str  # e.g. "rel=next x2, sitemap x1"
    requests: int
    filled: bool  # reached entries seen before, or the window's start
    note: str | None


@task(name="backfill-feed", cache_policy=NO_CACHE)
def backfill_feed(request: BackfillRequest, settings: FetchSettings) -> BackfillResult:
    """Walk back from a gap, politely and within its budget; never raises."""
    walk = _Walk(request, _fetcher(settings))
    walk.feed_pages()
    if not walk.filled and request.limits.sitemap:
        walk.sitemaps()
    return walk.result()


@dataclass
class _Walk:
    req: BackfillRequest
    fetcher: Fetcher
    requests: int = 0
    filled: bool = False
    notes: list[str] = field(default_factory=list)  # why a source gave nothing (more), in order
    found: dict[str, FeedEntry] = field(default_factory=dict)
    sources: Counter = field(default_factory=Counter)
    seen: set[str] = field(default_factory=set)
    deadline: float = 0.0

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.req.limits.time_budget_s
        self.seen = set(self.req.gap.keys)

    def _get(self, url: str, what: str) -> HttpResult | None:
        """One request, if the budget allows; None (with a note saying `what` failed) when it fails."""
        if STOP.is_set():
            self.notes.append("the run was stopped")
            return None
        if time.monotonic() >= self.deadline:
            self.notes.append("time budget spent")
            return None
        self.requests += 1
        try:  # the configured feed's own host is trusted, as for its polls
            return self.fetcher.get(url, trusted=host_of(url) == host_of(self.req.gap.feed_url))
        except ExtractorError as exc:
            self.notes.append(f"{what}: {exc}")
            return None

    def _take(self, entry: FeedEntry, upper: datetime | None = None) -> bool:
        """Keep an entry of the gap's window; True when it shows the gap's start was reached."""
        gap, key = self.req.gap, entry_key(entry)
        if key in gap.keys:
            return False  # the poll's own entry
        if key in self.req.known or (entry.published_at is not None and entry.published_at <= gap.since):
            return True
        if upper is not None and entry.published_at is not None and entry.published_at > upper:
            return False  # newer than the gap: another section of the site, not this feed's
        if key not in self.seen and len(self.found) < MAX_ENTRIES:
            self.seen.add(key)
            self.found[key] = entry
        return False

    def feed_pages(self) -> None:
        gap, limits = self.req.gap, self.req.limits
        paging = gap.paging
        mode = "paged" if paging is None or paging.older is None else None
        url = paged_url(gap.feed_url, 2) if mode else paging.older
        visited = {gap.feed_url}
        for page in range(2, 2 + limits.max_pages):
            if not url or url in visited:
                return
            visited.add(url)
            label = mode or ("rel=next" if paging and url == paging.next else "prev-archive")
            parsed = self._feed_page(url)
            if parsed is None:
                return
            fresh = [e for e in parsed.entries if entry_key(e) not in self.seen]
            if not fresh:  # a server ignoring ?paged=N sends the first page again
                self.notes.append(f"older page {url} repeats entries already seen")
                return
            self.sources[label] += 1
            reached = [self._take(e) for e in fresh]
            if any(reached):
                self.filled = True
                return
            paging = parsed.paging
            url = paged_url(gap.feed_url, page + 1) if mode else (paging.older if paging else None)
            if not url:
                self.notes.append("the feed's paging ended before the gap's start")
                return
        if not self.filled:
            self.notes.append(f"stopped after {limits.max_pages} older pages")

    def _feed_page(self, url: str) -> ParsedFeed | None:
        got = self._get(url, "older page")
        if got is None or got.status != 200:
            return None
        try:
            return parse_feed(
                got.body, self.req.gap.feed, base_url=got.final_url, content_type=got.content_type
            )
        except ExtractorError as exc:
            self.notes.append(f"older page {url}: {exc}")
            return None

    def sitemaps(self) -> None:
        gap, limits = self.req.gap, self.req.limits
        robots = self._get(gap.site + "robots.txt", "robots.txt")
        if robots is None or robots.status != 200:
            return
        queue = deque(robots_sitemaps(robots.body, robots.final_url))
        if not queue:
            self.notes.append("robots.txt names no sitemap")
            return
        upper = gap.until or datetime.max.replace(tzinfo=gap.since.tzinfo)
        visited: set[str] = set()
        docs = 0
        while queue and docs < limits.max_sitemaps:
            url = queue.popleft()
            if url in visited:
                continue
            visited.add(url)
            got = self._get(url, "sitemap")
            if got is None:
                continue
            docs += 1
            try:
                doc = parse_sitemap(got.body, gap.feed, got.final_url, limit=self.req.max_bytes)
            except SitemapError as exc:
                self.notes.append(f"sitemap {url}: {exc}")
                continue
            # an index: its children changed since the gap began, the newest first
            children = sorted(doc.children, key=lambda c: c[1] or gap.since, reverse=True)
            queue.extend(u for u, lastmod in children if lastmod is None or lastmod >= gap.since)
            if doc.entries:
                self.sources["sitemap"] += 1
            if any([self._take(e, upper) for e in doc.entries]):
                self.filled = True
        if not self.filled:
            if queue:
                self.notes.append(f"stopped after {limits.max_sitemaps} sitemaps")
            elif self.sources["sitemap"]:
                self.notes.append("the news sitemap does not reach back to the gap's start")
            else:
                self.notes.append("no news sitemap entries")

    def result(self) -> BackfillResult:
        return BackfillResult(
            feed=self.req.gap.feed,
            entries=tuple(self.found.values()),
            sources=", ".join(f"{k} x{n}" for k, n in self.sources.items()),
            requests=self.requests,
            filled=self.filled,
            note=None
            if self.filled
            else ("; ".join(dict.fromkeys(self.notes)) or "no source reached the gap")[:500],
        )


class Backfill:
    """The run's gaps and their backfill: wraps the run's entry groups, finds the gaps as polls come
    in, starts one backfill task per gap at once, and hands their entries to the pipeline after the
    polled ones. `record` then writes the gaps."""

    def __init__(
        self,
        wh: Warehouse,
        limits: BackfillConfig,
        fs: FetchSettings,
        intake: Intake,
        rows: RunRows,
        wait: Callable = lambda future: future.result(),
    ):
        """`wait(future)`: a task's result (the flow's waits also notice a request to stop)."""
        self.wh, self.limits, self.fs, self.intake, self.rows = wh, limits, fs, intake, rows
        self.wait = wait
        self.baselines = feed_baselines(wh)
        self.gaps: list[Gap] = []
        self._futures: list = []
        self._found: dict[str, tuple[BackfillResult | None, int]] = {}

    @property
    def overflowed(self) -> set[str]:
        return {g.feed for g in self.gaps}

    @property
    def found_entries(self) -> list[FeedEntry]:
        """Every entry the backfill found (their dates count in the feed's pace)."""
        return [e for result, _ in self._found.values() if result for e in result.entries]

    def entries(self, groups: Iterable[list[FeedEntry]], polls: list[FeedPoll]) -> Iterator[list[FeedEntry]]:
        looked = 0
        for group in groups:  # each group comes with the polls of its shard
            self._start(detect_gaps(self.wh, polls[looked:], self.baselines, self.rows.now))
            looked = len(polls)
            yield group
        self._start(detect_gaps(self.wh, polls[looked:], self.baselines, self.rows.now))
        for gap, future in self._futures:
            result = self._result(gap, future)
            before = self.intake.size
            fresh = self.intake.add(list(result.entries), self.wh) if result else []
            self._found[gap.feed] = (result, self.intake.size - before)
            cutoff = self.rows.now - ALERT_WITHIN
            self.rows.quiet_urls.update(e.url for e in fresh if (e.published_at or gap.since) < cutoff)
            yield fresh

    def _result(self, gap: Gap, future) -> BackfillResult | None:
        if future is None:
            return None
        try:
            return self.wait(future)
        except Exception as exc:  # a backfill that broke must not cost the run its polled entries
            if STOP.is_set():
                raise  # the run is stopping: not a backfill's failure
            note = f"backfill failed: {type(exc).__name__}: {exc}"
            return BackfillResult(gap.feed, (), "", 0, False, note[:500])

    def _start(self, gaps: list[Gap]) -> None:
        for gap in gaps:
            self.gaps.append(gap)
            future = None
            if self.limits.enabled:
                known = recent_keys(self.wh, gap.feed, self.rows.now)
                request = BackfillRequest(gap, known, self.limits, self.fs.max_bytes)
                future = backfill_feed.submit(request, self.fs)
            self._futures.append((gap, future))

    def record(self, run_id: int) -> None:
        """One row per gap in `gaps`, and the run's counts."""
        rows = []
        for gap in self.gaps:
            result, new = self._found.get(gap.feed, (None, 0))
            rows.append(
                {
                    "feed": gap.feed,
                    "run_id": run_id,
                    "detected_at": self.rows.now,
                    "window_start": gap.since,
                    "window_end": gap.until,
                    "minutes": ((gap.until or self.rows.now) - gap.since).total_seconds() / 60,
                    "entries_in_poll": gap.entries,
                    "found": len(result.entries) if result else 0,
                    "new_entries": new,
                    "sources": result.sources if result else "",
                    "requests": result.requests if result else 0,
                    "filled": bool(result and result.filled),
                    "note": result.note if result else "backfill disabled",
                }
            )
            self.rows.counts.backfilled += new
        self.rows.counts.gaps = len(rows)
        insert_gaps(self.wh, rows)
