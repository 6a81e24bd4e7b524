"""Which feeds are due, and what a poll means for a feed's health (backoff, outage, disable)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from extractors.records import FeedPoll
from warehouse.store import FeedState


def due_feeds(states: dict[str, FeedState], now: datetime, force: bool = False) -> list[FeedState]:
    return [
        s for s in states.values() if s.enabled and (force or s.next_poll_at is None or s.next_poll_at <= now)
    ]


def backoff_until(
    streak: int, now: datetime, retry_after: float | None, base_minutes: float, max_minutes: float
) -> datetime | None:
    """When a failing feed may be polled again. The first two failures are retried on the next run
    (one bad run is common); after that the wait doubles, up to max_minutes. Retry-After wins if later."""
    # The exponent is bounded: a feed failing for ~1000 runs would overflow a float (and stop the run).
    wait = 0.0 if streak < 3 else min(max_minutes, base_minutes * 2 ** min(streak - 3, 60)) * 60
    if retry_after:
        wait = max(wait, min(retry_after, max_minutes * 60))
    return now + timedelta(seconds=wait) if wait else None


def is_outage(polls: Sequence[FeedPoll]) -> bool:
    """Every feed failed without any HTTP answer: the network is down, not the feeds."""
    return len(polls) >= 2 and all(p.outcome == "failed" and p.status is None for p in polls)


def poll_rows(
    polls: Sequence[FeedPoll],
    states: dict[str, FeedState],
    now: datetime,
    *,
    outage: bool,
    base_minutes: float,
    max_minutes: float,
) -> list[dict]:
    rows = []
    for p in polls:
        streak = states[p.feed].error_streak + 1 if p.outcome == "failed" else 0
        gone = p.status == 410
        rows.append(
            {
                "name": p.feed,
                "outcome": "outage" if outage else p.outcome,
                "status": p.status,
                "etag": p.etag,
                "last_modified": p.last_modified,
                "error": ("410 Gone: feed disabled until re-enabled" if gone else p.error),
                "items": len(p.entries),
                # an outage is nobody's fault: it does not back feeds off
                "next_poll_at": None
                if outage or p.outcome != "failed"
                else backoff_until(streak, now, p.retry_after, base_minutes, max_minutes),
                "disable": gone,
                "polled_at": now,
                "moved_to": p.moved_to,
            }
        )
    return rows
