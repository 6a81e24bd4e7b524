"""Polling that follows each source, end to end (real local sites, a real warehouse): a quiet feed's
interval grows to the maximum and a busy one's shrinks toward the minimum, each from the dates of
its own entries; a feed not due is not polled; a feed that overflowed is polled at the minimum;
`newswatch feeds` shows each feed's interval and next poll. Time moves through the stored data
(the feeds' poll times are set back), never by sleeping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from flows.cli.main import main
from tests.e2e import ingest
from tests.news_site import NewsSite

pytestmark = pytest.mark.slow

BASE, LOW, HIGH = 15, 5, 240


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

[schedule]
interval_minutes = {BASE}
min_interval_minutes = {LOW}
max_interval_minutes = {HIGH}
{feed_tables}
""",
        encoding="utf-8",
    )
    return path


def feeds(db: Path) -> dict[str, tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT name, interval_minutes, next_poll_at, last_polled_at FROM feeds"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def move_clock_back(db: Path, minutes: float) -> None:
    """As if `minutes` had passed since the last run: the feeds' stored poll times move back (in the
    writer's file, which the next run opens; no run is holding it)."""
    with duckdb.connect(str(db.with_name(db.name + ".writer"))) as con:
        con.execute(
            "UPDATE feeds SET next_poll_at = next_poll_at - to_minutes(?), last_polled_at = last_polled_at - to_minutes(?)",
            [minutes, minutes],
        )


def test_each_feed_is_polled_at_its_own_pace(tmp_path, prefect_harness, capsys):
    now = datetime.now(UTC).replace(microsecond=0)
    with (
        NewsSite(paging=None, sitemap=False) as quiet,
        NewsSite(paging=None, sitemap=False) as busy,
        NewsSite(paging="rfc5005", sitemap=False) as burst,
    ):
        quiet.publish(6, start=now - timedelta(days=12), step=timedelta(days=2))  # one every 2 days
        busy.publish(8, start=now - timedelta(minutes=40), step=timedelta(minutes=5))  # 12 an hour
        burst.publish(10, start=now - timedelta(days=10), step=timedelta(days=1))
        cfg = write_config(
            tmp_path / "newswatch.toml",
            {"quiet": quiet.feed_url, "busy": busy.feed_url, "burst": burst.feed_url},
        )
        db = tmp_path / "newswatch.duckdb"
        first = ingest(cfg)
        after_first = feeds(db)
        second = ingest(cfg)  # at once: no feed is due yet
        move_clock_back(db, 10)  # ten minutes later: the busy feed is due, the others are not
        third = ingest(cfg)
        polled_third = {p["feed"] for p in third.polls}
        burst.publish(25, start=now - timedelta(hours=5), step=timedelta(minutes=10))
        fourth = ingest(cfg, force=True)  # burst overflows (and its paging fills the gap)
        after_fourth = feeds(db)
        capsys.readouterr()
        assert main(["feeds", "--config", str(cfg), "--format", "json"]) == 0
        shown = {f["name"]: f for f in json.loads(capsys.readouterr().out)}

    assert first.counts["feeds_polled"] == 3
    quiet_min, quiet_next, quiet_polled = after_first["quiet"]
    busy_min, busy_next, busy_polled = after_first["busy"]
    assert quiet_min == HIGH > BASE  # grows: ~0.02 entries an hour
    assert LOW <= busy_min < BASE  # shrinks: 8 entries in 40 minutes
    # due again after its interval from when it was polled (a little earlier: runs on a schedule of
    # the same interval must not miss it by seconds)
    assert (
        quiet_polled + timedelta(minutes=quiet_min - 3)
        < quiet_next
        < quiet_polled + timedelta(minutes=quiet_min)
    )
    assert (
        busy_polled + timedelta(minutes=busy_min * 0.85)
        < busy_next
        < busy_polled + timedelta(minutes=busy_min)
    )
    assert second.counts["feeds_due"] == 0
    assert polled_third == {"busy"}
    assert fourth.counts["gaps"] == 1 and fourth.counts["backfilled"] == 15
    assert after_first["burst"][0] == HIGH and after_fourth["burst"][0] == LOW  # overflowed: sooner
    assert shown["quiet"]["interval"] == f"{HIGH} min" and shown["burst"]["interval"] == f"{LOW} min"
    assert shown["busy"]["next_poll"] != "next run" and shown["burst"]["gaps_7d"] == 1
