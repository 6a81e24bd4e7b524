"""The ingest on a local Dask cluster stores the same warehouse contents as on the default runner.

The demo site is ingested twice, into two warehouses: with the default task runner, and with
`[runner] workers = 2` (a local Dask cluster of two worker processes). That the second run really
ran on Dask is checked from the cluster itself: this module is loaded as a Dask scheduler preload
(distributed's documented hook), which logs every task the scheduler sees finish and the process
id of the worker that ran it.
"""

from __future__ import annotations

import os
from pathlib import Path

import dask
import duckdb
import pytest
from distributed.diagnostics.plugin import SchedulerPlugin
from distributed.utils import key_split

from flows.demo.sinks import SlackSink, SmtpSink
from tests.e2e import demo_config, ingest

pytestmark = pytest.mark.slow

# (task name, pid of the worker that ran it) for every task a preloaded scheduler saw finish
FINISHED_ON_DASK: list[tuple[str, int]] = []

CONTENTS = {
    "articles": "SELECT url, title, feed, text_source, text_hash FROM articles",
    "duplicates": (
        "SELECT d.url, d.feed, d.method, o.url FROM duplicates d JOIN articles o ON o.article_id = d.duplicate_of"
    ),
    "entries": "SELECT feed, entry_key, outcome FROM entries",
    "mentions": "SELECT a.url, m.kind, m.name, m.alias, m.count FROM mentions m JOIN articles a USING (article_id)",
}


class _TaskLog(SchedulerPlugin):
    def __init__(self, scheduler):
        self.scheduler = scheduler

    def transition(self, key, start, finish, *args, **kwargs):
        if start == "processing" and finish == "memory":
            worker = self.scheduler.workers.get(kwargs.get("worker"))
            FINISHED_ON_DASK.append((key_split(key), worker.pid if worker else -1))


def dask_setup(scheduler) -> None:
    """Called by distributed when this module is a scheduler preload."""
    scheduler.add_plugin(_TaskLog(scheduler), name="newswatch-test-task-log")


def contents(db: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {name: sorted(con.execute(sql).fetchall()) for name, sql in CONTENTS.items()}


def test_dask_runner_stores_what_the_default_runner_stores(tmp_path, demo_site, prefect_harness, monkeypatch):
    FINISHED_ON_DASK.clear()
    with (
        dask.config.set({"distributed.scheduler.preload": [__name__]}),
        SmtpSink() as smtp,
        SlackSink() as slack,
    ):
        monkeypatch.setenv("NEWSWATCH_DEMO_SLACK_WEBHOOK", slack.url)
        default_cfg = demo_config(tmp_path / "default", demo_site, smtp.port)
        dask_cfg = demo_config(tmp_path / "dask", demo_site, smtp.port)
        dask_cfg.write_text(
            dask_cfg.read_text(encoding="utf-8") + "\n[runner]\nworkers = 2\n", encoding="utf-8"
        )

        default_run = ingest(default_cfg)
        assert FINISHED_ON_DASK == []  # the default runner never starts a Dask scheduler
        dask_run = ingest(dask_cfg)

    ran = {name for name, _ in FINISHED_ON_DASK}
    assert {"poll_shard", "fetch_extract"} <= ran, ran
    pids = {pid for _, pid in FINISHED_ON_DASK}
    assert os.getpid() not in pids and -1 not in pids  # every task ran in a worker process

    assert default_run.status == dask_run.status == "completed"
    assert default_run.counts == dask_run.counts
    a, b = (
        contents(tmp_path / "default" / "newswatch.duckdb"),
        contents(tmp_path / "dask" / "newswatch.duckdb"),
    )
    assert a["articles"] and a["duplicates"] and a["entries"] and a["mentions"]  # the demo exercises all four
    for table in CONTENTS:
        assert a[table] == b[table], table
