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


def test_the_run_summary_names_a_moved_feed_on_a_terminal_and_in_the_log_line():
    from flows.ingest.summary import print_run, run_line
    from tests.test_run_output import Tty, result

    run = result(stories=0)
    run.polls.append(
        {
            "feed": "wire",
            "outcome": "ok",
            "status": 200,
            "error": None,
            "moved_to": "https://wire.example/new.xml",
        }
    )
    shown = Tty()
    print_run(run, shown)
    assert (
        "moved   wire: moved to https://wire.example/new.xml (update its url in the config)"
        in shown.getvalue()
    )
    assert (
        "feeds 5 due, 5 polled, 0 unchanged, 0 failed, moved: wire to https://wire.example/new.xml;"
        in run_line(run)
    )
