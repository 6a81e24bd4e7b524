"""Retro-matching: when the watchlist or a rule changed since the archive was last matched, match
every stored story again.

New mentions of old stories are recorded with the run that found them. A new or changed rule's
matches among stories stored before the run are recorded as archive matches and announced in ONE
"archive matches" message per channel (count and the first few titles), never as per-story
alerts: old news does not page anyone. The store is the warehouse's `RulesStore`
(warehouse/rules_state.py); alerts/ does not import the warehouse, it is handed one.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from alerts.matching import RuleMatcher
from extractors.records import Mention, StoredStory


class RetroStore(Protocol):
    def matcher_state(self) -> dict[str, str]: ...
    def save_matcher_state(self, hashes: Mapping[str, str], run_id: int | None) -> None: ...
    def story_batches(self, batch_size: int = ...) -> Iterable[Sequence[StoredStory]]: ...
    def mention_keys(self, article_ids: Sequence[int]) -> dict[int, set[tuple[str, str]]]: ...
    def record_mentions(self, columns: Mapping[str, list], run_id: int) -> int: ...
    def record_archive_matches(self, run_id: int, matches: Sequence[tuple[str, int]]) -> int: ...
    def archive_counts(self, run_id: int) -> dict[str, int]: ...
    def queue_archive_alerts(self, run_id: int, channels: Mapping[str, Sequence[str]]) -> int: ...


@dataclass
class RetroResult:
    watchlist_changed: bool = False
    changed_rules: tuple[str, ...] = ()  # new or changed since the archive was last matched
    stories: int = 0  # stories matched again
    new_mentions: int = 0
    archive: dict[str, int] = field(default_factory=dict)  # rule -> old stories it now matches
    archive_alerts: int = 0  # outbox rows queued for the "archive matches" message
    seconds: float = 0.0
    write_seconds: float = 0.0  # of which recording mentions and matches

    @property
    def ran(self) -> bool:
        return self.watchlist_changed or bool(self.changed_rules)


def mention_rows(article_id: int, mentions: Sequence[Mention]) -> list[dict]:
    """The `mentions` rows of one article."""
    return [
        {
            "article_id": article_id,
            "kind": m.kind,
            "name": m.name,
            "alias": m.alias,
            "count": m.count,
            "snippet": m.snippet,
            "first_offset": m.offset,
        }
        for m in mentions
    ]


def retro_match(
    store: RetroStore,
    matcher: RuleMatcher,
    run_id: int,
    *,
    notify: bool = True,
    batch_size: int = 2000,
    workers: int | None = None,
) -> RetroResult:
    """Match the archive again if the watchlist or a rule changed since it was last matched (the
    first run on a warehouse counts as a change). `notify`: queue the archive-matches message
    (`[alerts] retro_digest`). `workers`: processes that match while this one reads and writes
    (None: one per core, up to 4, when the archive holds more than one batch; 0 or 1: here).
    Interrupted, it is done again by the next run: the state that says "matched" is saved last,
    and recording is idempotent."""
    started = time.perf_counter()
    current = matcher.fingerprints()
    saved = store.matcher_state()
    result = RetroResult()
    if saved == current:
        return result
    result.watchlist_changed = saved.get("watchlist") != current["watchlist"]
    result.changed_rules = tuple(
        rule.name for rule in matcher.rules if saved.get(f"rule:{rule.name}") != current[f"rule:{rule.name}"]
    )
    if result.ran:
        changed = frozenset(result.changed_rules)
        narrowed = matcher.narrowed(changed, mentions=result.watchlist_changed)
        with _Matching(narrowed, workers) as matching:
            in_flight: deque[Future] = deque()
            for batch in store.story_batches(batch_size):
                # mentions already stored keep their row: no snippet is made for them again
                ids = [story.article_id for story in batch]
                stored = store.mention_keys(ids) if result.watchlist_changed else {}
                job = [
                    (s.article_id, s.title, s.text, s.feed, s.lang, stored.get(s.article_id, ()))
                    for s in batch
                ]
                in_flight.append(
                    matching.submit(job, changed, result.watchlist_changed, len(job) == batch_size)
                )
                result.stories += len(batch)
                while len(in_flight) > matching.depth:
                    _record(store, run_id, result, in_flight.popleft().result())
            while in_flight:
                _record(store, run_id, result, in_flight.popleft().result())
        result.archive = store.archive_counts(run_id)
        if notify and result.archive:
            channels = {rule.name: rule.channels for rule in matcher.rules if rule.name in changed}
            result.archive_alerts = store.queue_archive_alerts(run_id, channels)
    store.save_matcher_state(current, run_id)
    result.seconds = time.perf_counter() - started
    return result


def _record(store: RetroStore, run_id: int, result: RetroResult, found) -> None:
    started = time.perf_counter()
    columns, matches = found
    result.new_mentions += store.record_mentions(columns, run_id)
    store.record_archive_matches(run_id, matches)
    result.write_seconds += time.perf_counter() - started


Job = list[tuple[int, str, str, str, str | None, Collection[tuple[str, str]]]]


MENTION_COLUMNS = ("article_id", "kind", "name", "alias", "count", "snippet", "first_offset")


def _match_job(matcher: RuleMatcher, job: Job, only: frozenset[str], mentions: bool):
    """(new mentions as columns, (rule, article_id) matches) of a batch of stories. Columns, not
    a dict per row: a million rows are sent back from workers and made into an Arrow table."""
    columns: dict[str, list] = {name: [] for name in MENTION_COLUMNS}
    matches: list[tuple[str, int]] = []
    for article_id, title, text, feed, lang, known in job:
        found = matcher.match(
            title, text, feed, lang, only=only, mentions=mentions, known=known, snippets=False
        )
        for m in found.mentions:
            for name, value in zip(
                MENTION_COLUMNS,
                (article_id, m.kind, m.name, m.alias, m.count, m.snippet, m.offset),
                strict=True,
            ):
                columns[name].append(value)
        matches += [(fired.rule.name, article_id) for fired in found.fired]
    return columns, matches


_WORKER_MATCHER: RuleMatcher | None = None


def _worker_start(matcher: RuleMatcher) -> None:
    global _WORKER_MATCHER
    _WORKER_MATCHER = matcher


def _worker_job(job: Job, only: frozenset[str], mentions: bool):
    assert _WORKER_MATCHER is not None
    return _match_job(_WORKER_MATCHER, job, only, mentions)


class _Matching:
    """Matches batches here, or in worker processes once the archive proves larger than a batch
    (starting processes and compiling the matcher in each costs ~0.5 s: not worth it for a few
    stories). Spawned, not forked: the flow process runs threads."""

    def __init__(self, matcher: RuleMatcher, workers: int | None):
        self.matcher = matcher
        self.workers = min(os.cpu_count() or 1, 4) if workers is None else workers
        self.pool: ProcessPoolExecutor | None = None

    @property
    def depth(self) -> int:
        """Batches in flight before waiting for the oldest: one per worker, and one more queued."""
        return self.workers + 1 if self.pool else 0

    def submit(self, job: Job, only: frozenset[str], mentions: bool, more_to_come: bool) -> Future:
        if self.pool is None and self.workers > 1 and more_to_come:
            self.pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_start,
                initargs=(self.matcher,),
            )
        if self.pool is not None:
            return self.pool.submit(_worker_job, job, only, mentions)
        done: Future = Future()
        done.set_result(_match_job(self.matcher, job, only, mentions))
        return done

    def __enter__(self) -> _Matching:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
