"""Runs the ingest flow from the command line: quiet Prefect, the chosen task runner, clean exit."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from flows.settings import Settings, resolve_db_path
from warehouse.errors import WarehouseBusy
from warehouse.store import lock_path


def prefect_defaults() -> None:
    """Prefect settings for a command-line run and the servers it starts (the ephemeral one, and
    `serve`'s): no INFO chatter, no telemetry, task runs recorded in batches. Users may override."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "false")
    # The server writes task runs from their events one event per transaction by default: ~50-60 ms
    # of its CPU per task run (measured: 15-17 ms in batches), and when the ephemeral server stops
    # with the run, the events still queued were lost (with an ERROR) instead of written. In batches
    # they are written every 5 s (flush_interval) and, all that is left, when the server stops.
    os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE", "100")


def ensure_not_busy(db: Path) -> None:
    """Fail fast, before starting Prefect, when another run holds the warehouse."""
    db.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(db), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BlockingIOError:
        raise WarehouseBusy(
            f"{db}: another newswatch run is writing this warehouse; this run is skipped"
        ) from None
    finally:
        os.close(fd)


def task_runner(settings: Settings):
    """The Dask task runner when [runner] asks for one, else None (Prefect's default thread pool)."""
    r = settings.runner
    if not (r.dask_address or r.workers):
        return None
    from prefect_dask import DaskTaskRunner

    if r.dask_address:
        return DaskTaskRunner(address=r.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": r.workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )


def run_ingest(settings: Settings, config_path: Path | str, db: Path | str | None, *, force: bool = False):
    """Run the ingest flow once and return its RunResult."""
    prefect_defaults()
    ensure_not_busy(resolve_db_path(settings, db))
    from flows.ingest.expected_errors import quiet_expected_errors
    from flows.ingest.flow import ingest
    from flows.ingest.tasks import shutdown_workers

    quiet_expected_errors()

    runner = task_runner(settings)
    flow_fn = ingest.with_options(task_runner=runner) if runner else ingest
    try:
        with one_shot_settings():
            return flow_fn(str(config_path), str(db) if db else None, force, runner is not None)
    finally:
        shutdown_workers()


def one_shot_settings():
    """Prefect settings for a flow run called in this process (`run`, `demo`), as a context manager.

    Against an ephemeral API server (no PREFECT_API_URL), which lives and dies with this process,
    flow-run heartbeats (they let a server notice a crashed run) serve nothing, and their thread,
    which sleeps in 1-second steps and is joined at the end, adds up to a second to every run.
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, get_current_settings, temporary_settings

    ephemeral = get_current_settings().api.url is None
    return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None} if ephemeral else {})
