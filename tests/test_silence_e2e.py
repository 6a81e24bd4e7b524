"""Silent sources end to end: a feed that answers 200 but whose newest entry is far older than its
usual gap (daily entries, none for six days) raises ONE operational alert to a real local Slack
endpoint while another feed is fine, none on the next run, and a note when it publishes again.
Time is in the entries' dates, not in sleeping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from flows.cli.main import main
from flows.demo.sinks import SlackSink
from tests.e2e import ingest
from tests.news_site import NewsSite

pytestmark = pytest.mark.slow


def write_config(path: Path, feeds: dict[str, str]) -> Path:
    feed_tables = "".join(f'\n[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in feeds.items())
    path.write_text(
        f"""
[warehouse]
path = "{path.parent / "newswatch.duckdb"}"

[fetch]
allow_private_hosts = true
retries = 0

[extract]
workers = 0

[health]
alert_channels = ["ops"]
silence_factor = 4          # silent after 4 x its usual gap between entries ...
silence_min_hours = 24      # ... and at least a day

[channels.ops]
type = "slack"
webhook_url_env = "NEWSWATCH_TEST_OPS_WEBHOOK"
{feed_tables}
""",
        encoding="utf-8",
    )
    return path


def test_a_silent_feed_alerts_once_and_its_resumption_is_noted(tmp_path, prefect_harness, capsys):
    now = datetime.now(UTC).replace(microsecond=0)
    mp = pytest.MonkeyPatch()
    with NewsSite(paging=None) as sleepy, NewsSite(paging=None) as steady, SlackSink() as ops:
        mp.setenv("NEWSWATCH_TEST_OPS_WEBHOOK", ops.url)
        try:
            sleepy.publish(8, start=now - timedelta(days=13), step=timedelta(days=1))  # the last 6 days ago
            steady.publish(8, start=now - timedelta(hours=43), step=timedelta(hours=6))  # the last 1 hour ago
            cfg = write_config(
                tmp_path / "newswatch.toml", {"sleepy": sleepy.feed_url, "steady": steady.feed_url}
            )
            db = tmp_path / "newswatch.duckdb"
            ingest(cfg)
            after_first = list(ops.posts)
            capsys.readouterr()
            assert main(["feeds", "--config", str(cfg), "--format", "json"]) == 0
            shown = {f["name"]: f for f in json.loads(capsys.readouterr().out)}
            ingest(cfg)  # still silent: nothing more
            after_second = list(ops.posts)
            sleepy.publish(1, start=now - timedelta(minutes=20), step=timedelta(0))
            ingest(cfg)
            after_third = list(ops.posts)
        finally:
            mp.undo()
    with duckdb.connect(str(db), read_only=True) as con:
        silent_since = con.execute("SELECT name, silent_since FROM feeds ORDER BY name").fetchall()
        alerts = con.execute("SELECT rule, status FROM alerts ORDER BY alert_id").fetchall()

    assert len(after_first) == 1 and len(after_second) == 1 and len(after_third) == 2
    first, resumed = str(after_third[0]), str(after_third[1])
    assert (
        "feed sleepy answers but has published nothing since" in first and "usually an entry every" in first
    )
    assert "steady" not in first
    assert "feed sleepy publishes again" in resumed
    assert shown["sleepy"]["silent_since"] is not None and shown["steady"]["silent_since"] is None
    assert silent_since == [("sleepy", None), ("steady", None)]  # the silence ended
    assert alerts == [("feed-silence", "sent"), ("feed-silence", "sent")]


def test_silence_needs_a_feed_that_is_fine():
    """When every answering feed looks silent, the cause is more likely ours (a clock, a proxy
    serving stale copies): no silence is alerted."""
    from flows.ingest.silence import find_silent
    from warehouse.coverage import FeedHistory

    now = datetime(2025, 3, 1, tzinfo=UTC)
    daily_until = lambda days_ago: FeedHistory(  # noqa: E731
        tuple(now - timedelta(days=days_ago + i) for i in range(10)), more=False
    )
    both_old = {"a": daily_until(6), "b": daily_until(7)}
    assert find_silent(both_old, ["a", "b"], now, 4, 24) == {}
    one_fine = {"a": daily_until(6), "b": daily_until(0)}
    assert set(find_silent(one_fine, ["a", "b"], now, 4, 24)) == {"a"}
    assert find_silent({"a": daily_until(6)}, ["a"], now, 4, 24) == {}  # no other feed to compare
