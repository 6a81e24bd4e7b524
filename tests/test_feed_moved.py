"""A feed that moved (a 301/308 on its URL) is recorded in the feeds table and shown by the
feed_health view until the config names the new URL or the old one stops redirecting."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from warehouse.store import Warehouse


def poll(outcome: str, status: int | None, moved_to: str | None = None) -> dict:
    return {
        "name": "wire", "outcome": outcome, "status": status, "etag": None, "last_modified": None,
        "error": None if outcome == "ok" else "timed out", "items": 0, "next_poll_at": None,
        "disable": False, "polled_at": datetime.now(UTC), "moved_to": moved_to,
    }  # fmt: skip


def moved(wh: Warehouse) -> str | None:
    return wh.feed_states()["wire"].moved_to


def test_a_moved_feed_is_recorded_until_the_config_follows(tmp_path):
    new = "https://wire.example/new.xml"
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        wh.sync_feeds([("wire", "https://wire.example/old.xml", True)])
        wh.record_polls([poll("ok", 200, new)])
        assert moved(wh) == new
        wh.record_polls([poll("failed", None)])  # no answer: says nothing about the move
        assert moved(wh) == new
        wh.record_polls([{k: v for k, v in poll("ok", 200).items() if k != "moved_to"}])  # as before
        assert moved(wh) is None  # answered without redirecting: not moved (any more)
        wh.record_polls([poll("not_modified", 304, new)])
        wh.sync_feeds([("wire", new, True)])  # the operator updated the config
        assert moved(wh) is None
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("SELECT name, moved_to FROM feed_health").fetchall() == [("wire", None)]
