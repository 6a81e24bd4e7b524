"""Polling that follows each source: a feed's own interval from its pace, and what its polls showed.

A feed is polled about once per new entry it is expected to have: the interval is an hour divided
by its entries per hour over the last days, within `[schedule] min_interval_minutes` and
`max_interval_minutes`. A quiet feed is polled rarely, a busy one at the minimum, and one that
overflowed (gaps.py) at the minimum too, whatever its average. Without `max_interval_minutes`
every feed is due on every run, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from extractors.records import FeedEntry, FeedPoll
from flows.ingest.intake import entry_key
from flows.settings import ScheduleConfig
from warehouse.coverage import (
    FeedHistory,
    advance_newest,
    feed_histories,
    record_entry_dates,
    set_schedule,
)
from warehouse.store import Warehouse

PACE_DAYS = 7  # the entries of the last days that make a feed's pace
MIN_SPAN = timedelta(hours=1)  # the shortest history a rate is computed over
# A feed is due a little before its interval is over, so that runs on a schedule of the same
# interval (which start a few seconds earlier or later than the feed was last polled) poll it on
# every run, not on every other one.
EARLY_SHARE, EARLY_MAX = 0.1, timedelta(minutes=2)


def next_poll(polled_at: datetime, minutes: float) -> datetime | None:
    """When a feed polled at `polled_at` with this interval is due again (None: on the next run)."""
    if minutes <= 0:
        return None
    interval = timedelta(minutes=minutes)
    return polled_at + interval - min(interval * EARLY_SHARE, EARLY_MAX)


def entries_per_hour(history: FeedHistory | None, now: datetime, days: float = PACE_DAYS) -> float:
    """A feed's entries per hour over the last `days`. When its whole history is younger than that
    (a feed new to us, whose first poll showed its last few hours), over the time that history
    spans; when the newest entries kept (history.times is capped) already fill the window, over
    the time they span."""
    if history is None:
        return 0.0
    start = now - timedelta(days=days)
    recent = [t for t in history.times if t >= start]
    if not recent:
        return 0.0
    capped_inside = history.more and len(recent) == len(history.times)
    has_older = history.more or len(recent) < len(history.times)
    if capped_inside or (not has_older and len(recent) >= 2):
        span = now - recent[-1]
    else:  # the ledger covers the whole window (or one entry, which tells no pace)
        span = now - start
    return len(recent) / (max(span, MIN_SPAN).total_seconds() / 3600)


def interval_minutes(rate: float, low: float, high: float) -> float:
    """About one new entry per poll, within [low, high]."""
    if rate <= 0:
        return high
    return min(high, max(low, 60.0 / rate))


def bounds(schedule: ScheduleConfig) -> tuple[float, float] | None:
    """(min, max) interval in minutes, or None when pacing is off (no max_interval_minutes)."""
    if schedule.max_interval_minutes is None:
        return None
    return (schedule.min_interval_minutes or 0.0, schedule.max_interval_minutes)


def pace_feeds(
    wh: Warehouse,
    schedule: ScheduleConfig,
    polls: Sequence[FeedPoll],
    now: datetime,
    *,
    overflowed: set[str] = frozenset(),
    extra: Iterable[FeedEntry] = (),
) -> dict[str, float]:
    """After a run's polls are recorded: keep its entries' dates (and each feed's newest), then set
    each answering feed's interval and next poll (`now`: when the run polled). Returns the
    intervals set."""
    answered = [p for p in polls if p.outcome in ("ok", "not_modified")]
    entries = [e for p in answered for e in p.entries] + list(extra)
    record_entry_dates(wh, ((e.feed, entry_key(e), e.published_at) for e in entries))
    newest: dict[str, datetime] = {}
    for p in answered:
        dates = [min(e.published_at, now) for e in p.entries if e.published_at is not None]
        if dates:
            newest[p.feed] = max(dates)
    advance_newest(wh, newest)
    limits = bounds(schedule)
    if limits is None:
        return {}
    low, high = limits
    histories = feed_histories(wh, [p.feed for p in answered])
    intervals = {
        p.feed: low
        if p.feed in overflowed
        else interval_minutes(entries_per_hour(histories.get(p.feed), now), low, high)
        for p in answered
    }
    set_schedule(wh, [(name, m, next_poll(now, m)) for name, m in intervals.items()])
    return intervals
