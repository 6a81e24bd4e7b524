"""Silent sources: a feed that answers normally but has stopped publishing.

A feed is silent when its newest entry is older than `[health] silence_factor` times its usual gap
between entries (the median of its recent ones), and at least `silence_min_hours`, while other
feeds are fine (when every feed looks silent, the cause is more likely on our side). One
operational alert when a silence is noticed, and one note when the feed publishes again.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flows.settings import Settings
from warehouse.coverage import FeedHistory, answering_feeds, feed_baselines, feed_histories, set_silent
from warehouse.store import Warehouse

SILENCE_RULE = "feed-silence"
HISTORY = 50  # the newest entries whose gaps make a feed's usual gap


@dataclass(frozen=True, slots=True)
class Silence:
    feed: str
    newest: datetime  # its newest entry
    usual: timedelta  # its median gap between entries
    limit: timedelta  # how long without an entry makes it silent


def usual_gap(times: Sequence[datetime]) -> timedelta | None:
    """The median gap between a feed's entries; None with fewer than three distinct times (entries
    seen in one poll without dates share one time, and tell nothing of a pace)."""
    distinct = sorted(set(times))[-HISTORY:]
    if len(distinct) < 3:
        return None
    return statistics.median(b - a for a, b in zip(distinct, distinct[1:], strict=False))


def find_silent(
    histories: dict[str, FeedHistory],
    answering: Sequence[str],
    now: datetime,
    factor: float,
    min_hours: float,
) -> dict[str, Silence]:
    """The answering feeds that are silent; none when fewer than two answer or all look silent."""
    found = {}
    for name in answering:
        history = histories.get(name)
        usual = usual_gap(history.times) if history else None
        if usual is None:
            continue
        limit = max(usual * factor, timedelta(hours=min_hours))
        if now - history.times[0] > limit:
            found[name] = Silence(name, history.times[0], usual, limit)
    if len(answering) < 2 or len(found) == len(answering):
        return {}
    return found


def silence_notes(wh: Warehouse, s: Settings, now: datetime) -> list[tuple[str, str]]:
    """(rule, subject) of the operational alerts for silences noticed and ended in this run; marks
    them on the feeds (feeds.silent_since), whether or not any channel is told."""
    answering = answering_feeds(wh, [f.name for f in s.feeds if f.enabled])
    histories = feed_histories(wh, answering)
    silent = find_silent(histories, answering, now, s.health.silence_factor, s.health.silence_min_hours)
    notes = []
    for name, baseline in feed_baselines(wh).items():
        if name not in answering:
            continue
        newest = histories[name].times[0] if name in histories else None
        if name in silent and baseline.silent_since is None:
            quiet = silent[name]
            set_silent(wh, name, quiet.newest)
            notes.append(
                (
                    SILENCE_RULE,
                    f"feed {name} answers but has published nothing since {quiet.newest:%Y-%m-%d %H:%M} UTC "
                    f"(usually an entry every {_span(quiet.usual)})",
                )
            )
        elif baseline.silent_since is not None and newest is not None and newest > baseline.silent_since:
            set_silent(wh, name, None)
            notes.append(
                (
                    SILENCE_RULE,
                    f"feed {name} publishes again: a new entry at {newest:%Y-%m-%d %H:%M} UTC, "
                    f"{_span(newest - baseline.silent_since)} after the one before",
                )
            )
    return notes


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 48:
        return f"{hours / 24:.0f} days"
    if hours >= 2:
        return f"{hours:.0f} hours"
    return f"{max(1.0, hours * 60):.0f} minutes"
