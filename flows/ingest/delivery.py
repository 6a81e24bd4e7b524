"""From configuration and outbox rows to the alerts package: matching, channels, delivery.

Secrets are resolved from the environment here, at delivery time, and never stored or logged.
"""

from __future__ import annotations

from collections import defaultdict

from alerts.config import Actor, Rule, Watchlist
from alerts.deliver import deliver
from alerts.watchlist import WatchlistMatcher
from extractors.records import Alert, AlertStory, Mention
from flows.channels import SecretUnavailable, build_channel
from flows.ingest.rows import Matching, utcnow
from flows.ingest.silence import silence_notes
from flows.settings import Settings
from warehouse.store import Warehouse

FEED_HEALTH_RULE = "feed-health"


def build_matching(s: Settings) -> Matching | None:
    wl = s.watchlist
    if not wl.actors and not wl.keywords:
        return None
    watchlist = Watchlist(
        actors=tuple(Actor(a.name, tuple(a.aliases)) for a in wl.actors), keywords=tuple(wl.keywords)
    )
    rules = tuple(Rule(r.name, tuple(r.actors), tuple(r.keywords), tuple(r.channels)) for r in s.rules)
    return Matching(WatchlistMatcher(watchlist), rules)


def _story(row: dict) -> AlertStory:
    if row["article_id"] is None:  # an operational alert: the subject says what happened
        return AlertStory(
            article_id=0,
            title=row["subject"] or "newswatch",
            url="",
            feed="newswatch",
            published_at=None,
            mentions=(),
        )
    mentions = tuple(_mention(m) for m in (row["mentions"] or []))
    title = row["title"] or ""
    if row["subject"]:  # a story's alert with a subject: raised by a revision of the story
        title = f"[{row['subject']}] {title}"
    return AlertStory(
        article_id=row["article_id"],
        title=title,
        url=row["url"] or "",
        feed=row["feed"] or "",
        published_at=row["published_at"],
        mentions=mentions,
        copies=row["copies"] or 0,
        copy_feeds=tuple(row["copy_feeds"] or ()),
    )


def _mention(m: dict) -> Mention:
    snippet = m["snippet"] or ""
    i = snippet.casefold().find(m["alias"].casefold())  # where to highlight the match
    start, end = (i, i + len(m["alias"])) if i >= 0 else (0, 0)
    return Mention(
        kind=m["kind"],
        name=m["name"],
        alias=m["alias"],
        count=m["count"],
        snippet=snippet,
        start=start,
        end=end,
    )


def deliver_pending(wh: Warehouse, s: Settings) -> tuple[int, int]:
    """Deliver every pending alert, one digest per channel; return (sent, still pending)."""
    rows = wh.pending_alerts()
    by_channel: dict[str, list[Alert]] = defaultdict(list)
    for r in rows:
        by_channel[r["channel"]].append(
            Alert(
                alert_id=r["alert_id"],
                rule=r["rule"],
                channel=r["channel"],
                story=_story(r),
                attempts=r["attempts"],
            )
        )
    results, sent = [], 0
    for name, alerts in by_channel.items():
        cfg = s.channels.get(name)
        if cfg is None:
            results += [(a.alert_id, False, f"channel {name!r} is no longer configured") for a in alerts]
            continue
        try:
            channel = build_channel(name, cfg)
        except SecretUnavailable as e:  # kept pending with the reason, like a failed delivery
            results += [(a.alert_id, False, str(e)) for a in alerts]
            continue
        outcome = deliver(channel, alerts)
        results += [(a.alert_id, outcome.ok, outcome.error) for a in alerts]
        sent += len(alerts) if outcome.ok else 0
    wh.mark_alerts(results)
    return sent, len(rows) - sent


def raise_feed_alerts(wh: Warehouse, s: Settings, outage: bool, run_id: int | None = None) -> int:
    """One operational alert when a feed has failed N runs in a row (not one per run), and one per
    outage: when it starts, not again for every run while it lasts. And one when a feed falls
    silent, one when it resumes (silence.py)."""
    channels = s.health.alert_channels
    now = utcnow()
    notes = silence_notes(wh, s, now)  # marked on the feeds even when no channel is told
    if not channels:
        return 0
    rows, alerted = [], []
    rows += [
        {"rule": rule, "article_id": None, "channel": c, "created_at": now, "subject": subject}
        for rule, subject in notes
        for c in channels
    ]
    if outage and not (run_id and wh.previous_run_was_outage(run_id)):
        subject = f"network outage: every feed failed at {now:%Y-%m-%d %H:%M} UTC (feeds not marked broken)"
        rows += [
            {"rule": "outage", "article_id": None, "channel": c, "created_at": now, "subject": subject}
            for c in channels
        ]
    n = s.health.failure_alert_after
    for st in wh.feed_states().values():
        if st.error_streak >= n and st.alerted_streak < n:
            subject = f"feed {st.name} has failed {st.error_streak} runs in a row: {st.last_error}"
            rows += [
                {
                    "rule": FEED_HEALTH_RULE,
                    "article_id": None,
                    "channel": c,
                    "created_at": now,
                    "subject": subject,
                }
                for c in channels
            ]
            alerted.append(st.name)
    wh.mark_feeds_alerted(alerted)
    return wh.insert_alerts(rows)
