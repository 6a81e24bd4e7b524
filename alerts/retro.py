"""Retro-matching: when the watchlist or a rule changed since the archive was last matched, match
every stored story again.

New mentions of old stories are recorded with the run that found them. A new or changed rule's
matches among stories stored before the run are recorded as archive matches and announced in ONE
"archive matches" message per channel (count and the first few titles), never as per-story
alerts: old news does not page anyone. The store is the warehouse's `RulesStore`
(warehouse/rules_state.py); alerts/ does not import the warehouse, it is handed one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from alerts.matching import RuleMatcher
from extractors.records import Mention, StoredStory


class RetroStore(Protocol):
    def matcher_state(self) -> dict[str, str]: ...
    def save_matcher_state(self, hashes: Mapping[str, str], run_id: int | None) -> None: ...
    def story_batches(self, batch_size: int = ...) -> Iterable[Sequence[StoredStory]]: ...
    def record_mentions(self, rows: Sequence[dict], run_id: int) -> int: ...
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
    store: RetroStore, matcher: RuleMatcher, run_id: int, *, notify: bool = True, batch_size: int = 2000
) -> RetroResult:
    """Match the archive again if the watchlist or a rule changed since it was last matched (the
    first run on a warehouse counts as a change). `notify`: queue the archive-matches message
    (`[alerts] retro_digest`). Interrupted, it is done again by the next run: the state that says
    "matched" is saved last, and recording is idempotent."""
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
        changed = set(result.changed_rules)
        for batch in store.story_batches(batch_size):
            rows: list[dict] = []
            matches: list[tuple[str, int]] = []
            for story in batch:
                found = matcher.match(
                    story.title,
                    story.text,
                    story.feed,
                    story.lang,
                    only=changed,
                    mentions=result.watchlist_changed,
                )
                rows += mention_rows(story.article_id, found.mentions)
                matches += [(fired.rule.name, story.article_id) for fired in found.fired]
            result.stories += len(batch)
            result.new_mentions += store.record_mentions(rows, run_id)
            store.record_archive_matches(run_id, matches)
        result.archive = store.archive_counts(run_id)
        if notify and result.archive:
            channels = {rule.name: rule.channels for rule in matcher.rules if rule.name in changed}
            result.archive_alerts = store.queue_archive_alerts(run_id, channels)
    store.save_matcher_state(current, run_id)
    result.seconds = time.perf_counter() - started
    return result
