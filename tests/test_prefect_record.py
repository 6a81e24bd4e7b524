"""A one-shot run (`newswatch run` with no Prefect server given) starts a Prefect API server of its own
and leaves a complete record in it, although that server stops as soon as the run ends: every task
run with its states, the flow run under a readable name, and the run's log lines (one per stage)."""

from __future__ import annotations

import sqlite3
import subprocess

import psutil
import pytest

from tests.e2e import NEWSWATCH, demo_config, user_env


@pytest.mark.slow
def test_one_shot_run_records_every_task_run_its_name_and_its_logs_in_prefect(tmp_path, demo_site):
    cfg = demo_config(tmp_path, demo_site)
    # Small shards and batches, so the run has many task runs for Prefect to record, the last of
    # them ending together just before the server stops.
    cfg.write_text(cfg.read_text(encoding="utf-8") + "\n[runner]\npoll_batch = 2\npage_batch = 2\n")
    # Alerts to Slack stay pending (nobody listens on port 1); they are not what this test is about.
    env = user_env(tmp_path / "prefect-home", NEWSWATCH_DEMO_SLACK_WEBHOOK="http://127.0.0.1:1/hook")
    done = subprocess.run(
        [str(NEWSWATCH), "run", "--config", str(cfg)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stored" in done.stdout, done.stdout
    assert "ERROR" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "INFO" not in done.stderr, done.stderr  # the stage lines went to Prefect, not the terminal

    with sqlite3.connect(tmp_path / "prefect-home" / "prefect.db") as db:
        runs = db.execute("SELECT name, state_type FROM task_run").fetchall()
        states = db.execute("SELECT count(*) FROM task_run_state").fetchone()[0]
        flow_runs = db.execute("SELECT name, state_type FROM flow_run").fetchall()
        logs = [m for (m,) in db.execute("SELECT message FROM log WHERE level = 20 ORDER BY timestamp")]
    names = sorted(name.rsplit("-", 1)[0] for name, _ in runs)
    assert names.count("poll-feeds") == 2  # six demo feeds: a shard of two, then one of four (shards double)
    assert names.count("fetch-extract-pages") >= 4  # the demo's pages, two per batch
    assert [state for _, state in runs] == ["COMPLETED"] * len(runs)
    assert states == 3 * len(runs)  # pending, running, completed
    ((flow_name, flow_state),) = flow_runs
    assert flow_name.startswith("ingest 20") and flow_state == "COMPLETED"  # "ingest 2026-12-06 17:05:09"
    for stage in ("polled 6 feeds", "fetched ", "alerts: ", "published "):
        assert any(m.startswith(stage) for m in logs), (stage, logs)

    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    assert not leftovers, leftovers  # the run's server stopped with it
