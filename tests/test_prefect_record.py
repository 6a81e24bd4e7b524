"""A one-shot run (`newswatch run` without PREFECT_API_URL) leaves a complete record in Prefect:
every task run and its states, although the ephemeral API server stops as soon as the run ends."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.e2e import NEWSWATCH, demo_config, user_env


@pytest.mark.slow
def test_one_shot_run_records_every_task_run_in_prefect(tmp_path, demo_site):
    cfg = demo_config(tmp_path, demo_site)
    # Small shards and batches, so the run has many task runs for Prefect to record.
    cfg.write_text(cfg.read_text(encoding="utf-8") + "\n[runner]\npoll_batch = 2\npage_batch = 2\n")
    # Alerts to Slack stay pending (nobody listens on port 1); they are not what this test is about.
    env = user_env(tmp_path / "prefect-home", NEWSWATCH_DEMO_SLACK_WEBHOOK="http://127.0.0.1:1/hook")
    done = subprocess.run(
        [str(NEWSWATCH), "run", "--config", str(cfg)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stored" in done.stdout, done.stdout
    assert "ERROR" not in done.stderr and "Traceback" not in done.stderr, done.stderr

    with sqlite3.connect(tmp_path / "prefect-home" / "prefect.db") as db:
        runs = db.execute("SELECT name, state_type FROM task_run").fetchall()
        states = db.execute("SELECT count(*) FROM task_run_state").fetchone()[0]
    names = sorted(name.rsplit("-", 1)[0] for name, _ in runs)
    assert names.count("poll-feeds") == 3  # six demo feeds, two per shard
    assert names.count("fetch-extract-pages") >= 4  # the demo's pages, two per batch
    assert [state for _, state in runs] == ["COMPLETED"] * len(runs)
    assert states == 3 * len(runs)  # pending, running, completed


BURST = """
from flows.ingest.oneshot import one_shot_settings, prefect_defaults
prefect_defaults()
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

@task(cache_policy=NO_CACHE)
def one(i):
    return i

@flow(name="burst")
def burst(n):
    return [f.result() for f in [one.submit(i) for i in range(n)]]

with one_shot_settings():
    burst(20)
"""


@pytest.mark.slow
def test_task_runs_ending_just_before_the_server_stops_are_recorded(tmp_path):
    """The ephemeral server stops with the run: the task runs that end last, together, must be
    recorded too (with Prefect's defaults, one event per write, most of 20 were lost)."""
    done = subprocess.run(
        [sys.executable, "-c", BURST],
        cwd=ROOT,
        env=user_env(tmp_path / "prefect-home"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "ERROR" not in done.stderr, done.stderr
    with sqlite3.connect(tmp_path / "prefect-home" / "prefect.db") as db:
        runs = db.execute("SELECT state_type, count(*) FROM task_run GROUP BY 1").fetchall()
        states = db.execute("SELECT count(*) FROM task_run_state").fetchone()[0]
    assert runs == [("COMPLETED", 20)]
    assert states == 60
