"""Prefect settings for newswatch's processes, set in the environment before Prefect is imported
(Prefect reads them once), so that the servers newswatch starts inherit them too. Users may override
every one of them by setting it themselves."""

from __future__ import annotations

import contextlib
import os

# A busy host can take more than Prefect's 20 s to start an API server; a run that dies for it
# helps nobody. Prefect's own variable wins when the user set it.
STARTUP_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
DEFAULT_STARTUP_TIMEOUT_S = 120.0


def prefect_defaults() -> None:
    """Quiet terminals, full logs in Prefect: the flow's INFO lines (one per stage) go to the API,
    so the UI's Logs tab shows what a run did, while the console handler shows warnings only. No
    telemetry; task runs recorded in batches."""
    if "PREFECT_LOGGING_LEVEL" not in os.environ:
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "false")
    os.environ.setdefault(STARTUP_TIMEOUT_ENV, f"{DEFAULT_STARTUP_TIMEOUT_S:g}")
    # The server writes task runs from their events one event per transaction by default: ~50-60 ms
    # of its CPU per task run (measured: 15-17 ms in batches), and when a run's own server stops
    # with the run, the events still queued were lost (with an ERROR) instead of written. In batches
    # they are written every 5 s (flush_interval) and, all that is left, when the server stops.
    os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE", "100")


def startup_timeout() -> float:
    """Seconds a Prefect API server may take to start: Prefect's own setting, else 120."""
    raw = os.environ.get(STARTUP_TIMEOUT_ENV, "")
    with contextlib.suppress(ValueError):
        return max(1.0, float(raw))
    return DEFAULT_STARTUP_TIMEOUT_S


def quiet_console() -> None:
    """A flow's and its tasks' log lines go to Prefect's API (the UI's Logs tab), not to the
    terminal: newswatch prints its own summary, and one line for an error."""
    import logging

    import prefect.logging.configuration  # noqa: F401  (Prefect's logging is set up on import)

    for name in ("prefect.flow_runs", "prefect.task_runs", "prefect.flow_engine", "prefect.task_engine"):
        logging.getLogger(name).propagate = False


def task_runner(settings):
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
