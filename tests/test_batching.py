"""Which pending alerts go out now and in which messages: mutes hold, digests batch per period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.batching import plan
from alerts.render import render_console, subject_for
from extractors.records import Alert, AlertStory, ArchiveMatches

NOW = datetime(2025, 3, 1, 14, 20, tzinfo=UTC)


def story_alert(alert_id: int, rule: str, created: datetime, channel: str = "mail") -> Alert:
    story = AlertStory(alert_id, f"Story {alert_id}", f"https://x.example/{alert_id}", "wire", created, ())
    return Alert(alert_id, rule, channel, story, created_at=created)


def notice(alert_id: int, channel: str = "mail") -> Alert:
    return Alert(
        alert_id, "feed-health", channel, None, notice="feed vestnik has failed 3 runs in a row: HTTP 500"
    )


def archive(alert_id: int, rule: str, channel: str = "mail") -> Alert:
    return Alert(alert_id, rule, channel, None, archive=ArchiveMatches(rule, 3, ()))


def _ids(batches) -> list[tuple[str, list[int], str | None]]:
    return [(b.channel, [a.alert_id for a in b.alerts], b.heading) for b in batches]


def test_immediate_alerts_notices_and_archive_matches_go_out_as_separate_messages() -> None:
    alerts = [
        story_alert(1, "a", NOW),
        notice(2),
        story_alert(3, "b", NOW),
        archive(4, "c"),
        story_alert(5, "a", NOW, channel="slack"),
    ]
    batches, waiting = plan(alerts, digests={}, mutes={}, now=NOW)
    assert waiting == []
    assert _ids(batches) == [
        ("mail", [2], None),
        ("mail", [1, 3], None),
        ("mail", [4], None),
        ("slack", [5], None),
    ]


def test_a_muted_rules_alerts_wait_until_the_mute_ends() -> None:
    alerts = [story_alert(1, "a", NOW), story_alert(2, "b", NOW), archive(3, "a"), notice(4)]
    mutes = {"a": NOW + timedelta(hours=2)}
    batches, waiting = plan(alerts, digests={}, mutes=mutes, now=NOW)
    assert _ids(batches) == [("mail", [4], None), ("mail", [2], None)]
    assert [a.alert_id for a in waiting] == [1, 3]  # not lost: still pending
    later, waiting = plan(alerts, digests={}, mutes=mutes, now=NOW + timedelta(hours=2, seconds=1))
    assert waiting == [] and sorted(i for _, ids, _ in _ids(later) for i in ids) == [1, 2, 3, 4]


def test_an_hourly_digest_waits_for_the_end_of_its_hour_then_goes_out_as_one_message() -> None:
    alerts = [
        story_alert(1, "hourly-rule", NOW.replace(minute=5)),
        story_alert(2, "hourly-rule", NOW.replace(minute=15)),
        story_alert(3, "now-rule", NOW),
        story_alert(4, "hourly-rule", NOW - timedelta(hours=1)),  # its hour has ended
    ]
    digests = {"hourly-rule": "hourly", "now-rule": "immediate"}
    batches, waiting = plan(alerts, digests=digests, mutes={}, now=NOW)
    assert _ids(batches) == [
        ("mail", [3], None),
        ("mail", [4], "hourly digest of rule hourly-rule, 2025-03-01 13:00–14:00 UTC"),
    ]
    assert [a.alert_id for a in waiting] == [1, 2]
    batches, waiting = plan(alerts[:2], digests=digests, mutes={}, now=NOW.replace(hour=15, minute=0))
    assert waiting == []
    ((channel, ids, heading),) = _ids(batches)
    assert ids == [1, 2] and heading == "hourly digest of rule hourly-rule, 2025-03-01 14:00–15:00 UTC"
    text = render_console(list(batches[0].alerts), batches[0].heading)
    assert text.startswith(
        "newswatch: hourly digest of rule hourly-rule, 2025-03-01 14:00–15:00 UTC: 2 stories"
    )
    assert subject_for(list(batches[0].alerts), batches[0].heading) == (
        "[newswatch] hourly digest of rule hourly-rule, 2025-03-01 14:00–15:00 UTC: 2 stories"
    )


def test_a_daily_digest_after_a_long_mute_is_one_message_for_the_days_it_held() -> None:
    alerts = [
        story_alert(1, "daily-rule", NOW - timedelta(days=2)),
        story_alert(2, "daily-rule", NOW - timedelta(days=1)),
        story_alert(3, "daily-rule", NOW),
    ]
    batches, waiting = plan(alerts, digests={"daily-rule": "daily"}, mutes={}, now=NOW)
    assert _ids(batches) == [("mail", [1, 2], "daily digest of rule daily-rule, 2025-02-27 to 2025-02-28")]
    assert [a.alert_id for a in waiting] == [3]
