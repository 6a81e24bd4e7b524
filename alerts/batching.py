"""Which pending alerts go out now, and in which messages.

- A muted rule's alerts wait until the mute runs out (they stay pending; nothing is lost).
- A rule with `digest = "hourly"` or `"daily"` holds its alerts until the period (UTC hour or day)
  they were queued in has ended; then all of them that are due go out in one message per channel.
- Everything else goes out now: per channel, one message for the stories, one for operational
  notices, one for archive matches (they read differently and must not hide one another).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from extractors.records import Alert

PERIODS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}


@dataclass(frozen=True, slots=True)
class Batch:
    """The alerts of one message to one channel."""

    channel: str
    alerts: tuple[Alert, ...]
    heading: str | None = None  # for a digest: which rule and period


def period_start(when: datetime, digest: str) -> datetime:
    """The start of the UTC hour or day `when` falls in."""
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    if digest == "hourly":
        return when.replace(minute=0, second=0, microsecond=0)
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


def _span(digest: str, starts: list[datetime]) -> str:
    first, last = min(starts), max(starts) + PERIODS[digest]
    if digest == "daily":
        last -= timedelta(days=1)
        return f"{first:%Y-%m-%d}" if first == last else f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"
    if first.date() == (last - timedelta(microseconds=1)).date():
        return f"{first:%Y-%m-%d %H:%M}–{last:%H:%M} UTC"
    return f"{first:%Y-%m-%d %H:%M} UTC to {last:%Y-%m-%d %H:%M} UTC"


def plan(
    alerts: Sequence[Alert],
    *,
    digests: Mapping[str, str],
    mutes: Mapping[str, datetime],
    now: datetime,
) -> tuple[list[Batch], list[Alert]]:
    """(the messages to send now, the alerts that wait). `digests`: rule -> immediate | hourly |
    daily (a rule not listed is immediate); `mutes`: rule -> muted until."""
    waiting: list[Alert] = []
    groups: dict[tuple, list[Alert]] = {}
    digest_starts: dict[tuple, list[datetime]] = {}
    for alert in alerts:
        until = mutes.get(alert.rule)
        if alert.notice is None and until is not None and until > now:
            waiting.append(alert)
            continue
        if alert.notice is not None:
            key: tuple = (alert.channel, 0, "notices")
        elif alert.archive is not None:
            key = (alert.channel, 3, "archive")
        else:
            digest = digests.get(alert.rule, "immediate")
            if digest in PERIODS:
                start = period_start(alert.created_at or now, digest)
                if start + PERIODS[digest] > now:
                    waiting.append(alert)
                    continue
                key = (alert.channel, 2, digest, alert.rule)
                digest_starts.setdefault(key, []).append(start)
            else:
                key = (alert.channel, 1, "stories")
        groups.setdefault(key, []).append(alert)
    batches = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[3] if len(k) > 3 else "")):
        heading = None
        if key[1] == 2:
            digest, rule = key[2], key[3]
            heading = f"{digest} digest of rule {rule}, {_span(digest, digest_starts[key])}"
        batches.append(Batch(key[0], tuple(groups[key]), heading))
    return batches, waiting
