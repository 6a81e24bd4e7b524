"""From configuration and outbox rows to the alerts package: matching, retro-matching, channels,
delivery (with mutes and digests).

Secrets are resolved from the environment here, at delivery time, and never stored or logged.
"""

from __future__ import annotations

from alerts.batching import plan
from alerts.deliver import deliver
from alerts.matching import RuleMatcher
from alerts.outbox import alert_from_row
from alerts.retro import RetroResult, retro_match
from flows.channels import SecretUnavailable, build_channel
from flows.ingest.rows import Matching, utcnow
from flows.ingest.silence import silence_notes
from flows.settings import Settings
from warehouse.rules_state import RulesStore
from warehouse.store import Warehouse

FEED_HEALTH_RULE = "feed-health"


def build_matching(s: Settings) -> Matching | None:
    """The watchlist and the rules compiled into one matcher; None when there is nothing to match."""
    if not s.watchlist.actors and not s.watchlist.keywords and not s.rules:
        return None
    return Matching(RuleMatcher(s.alert_watchlist(), s.alert_rules()))


def rematch_archive(wh: Warehouse, s: Settings, matching: Matching | None, run_id: int) -> RetroResult | None:
    """Match the whole archive again when the watchlist or a rule changed since it was last matched:
    old stories' new mentions, and one "archive matches" message per channel for new or changed
    rules (`[alerts] retro_digest`); never a per-story alert."""
    if matching is None:
        return None
    return retro_match(RulesStore(wh), matching.matcher, run_id, notify=s.alerts.retro_digest)


def retro_summary(retro: RetroResult) -> str:
    """One line on what matching the archive again found."""
    why = ["the watchlist changed"] if retro.watchlist_changed else []
    if retro.changed_rules:
        why.append(f"rule(s) new or changed: {', '.join(retro.changed_rules)}")
    found = ", ".join(f"{rule} {count}" for rule, count in retro.archive.items()) or "none"
    return (
        f"archive matched again ({'; '.join(why)}): {retro.stories} stories in {retro.seconds:.1f} s, "
        f"{retro.new_mentions} new mentions, old stories matched by new or changed rules: {found}"
    )


def deliver_pending(wh: Warehouse, s: Settings) -> tuple[int, int]:
    """Deliver the pending alerts that are due, one message per channel and kind (and per digest
    rule); a muted rule's alerts and a digest's alerts before the end of its period wait.
    Returns (sent, still pending)."""
    rows = wh.pending_alerts()
    digests = {r.name: r.digest for r in s.rules}
    batches, waiting = plan(
        [alert_from_row(r) for r in rows], digests=digests, mutes=RulesStore(wh).mutes(), now=utcnow()
    )
    results, sent = [], 0
    for batch in batches:
        cfg = s.channels.get(batch.channel)
        if cfg is None:
            reason = f"channel {batch.channel!r} is no longer configured"
            results += [(a.alert_id, False, reason) for a in batch.alerts]
            continue
        try:
            channel = build_channel(batch.channel, cfg)
        except SecretUnavailable as e:  # kept pending with the reason, like a failed delivery
            results += [(a.alert_id, False, str(e)) for a in batch.alerts]
            continue
        outcome = deliver(channel, batch.alerts, batch.heading)
        results += [(a.alert_id, outcome.ok, outcome.error) for a in batch.alerts]
        sent += len(batch.alerts) if outcome.ok else 0
    wh.mark_alerts(results)
    return sent, len(rows) - sent


def raise_feed_alerts(wh: Warehouse, s: Settings, outage: bool, run_id: int | None = None) -> int:
    """One operational alert when a feed has failed N runs in a row (not one per run), and one per
    outage: when it starts, not again for every run while it lasts. The subject says what happened;
    the message introduces it by kind ("Feed failing", "Network outage"). And one when a feed falls
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
        subject = f"every feed failed at {now:%Y-%m-%d %H:%M} UTC; the feeds are not marked broken for it"
        rows += [
            {"rule": "outage", "article_id": None, "channel": c, "created_at": now, "subject": subject}
            for c in channels
        ]
    n = s.health.failure_alert_after
    for st in wh.feed_states().values():
        if st.error_streak >= n and st.alerted_streak < n:
            subject = (
                f"feed {st.name} has failed {st.error_streak} runs in a row; last error: {st.last_error}"
            )
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
