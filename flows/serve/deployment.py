"""The flow the deployment runs (one scheduled ingest and one line about it), and its schedule."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flows.errors import UsageError
from flows.serve.output import _say, _stamp, run_line
from flows.settings import Settings

DEFAULT_INTERVAL_MINUTES = 15.0


@dataclass(frozen=True)
class ScheduleSpec:
    """The schedule of the deployment: exactly one of interval and cron is set."""

    interval: timedelta | None = None
    cron: str | None = None
    defaulted: bool = False  # the config has no [schedule]: the 15-minute default applies

    def describe(self) -> str:
        if self.cron:
            return f"cron {self.cron!r} (UTC)"
        assert self.interval is not None
        secs = self.interval.total_seconds()
        every = f"every {secs / 60:g} min" if secs >= 60 else f"every {secs:g} s"
        return every + (" (default: the config has no [schedule])" if self.defaulted else "")


def schedule_of(settings: Settings) -> ScheduleSpec:
    """The configured schedule; no [schedule] at all means every 15 minutes.

    Raises flows.cli.UsageError for a cron expression Prefect cannot read.
    """
    s = settings.schedule
    if s.cron:
        from prefect.client.schemas.schedules import CronSchedule

        try:
            CronSchedule(cron=s.cron)
        except ValueError as e:  # pydantic's ValidationError is a ValueError
            raise UsageError(f"[schedule] cron: not a valid cron expression: {s.cron!r} ({e})") from None
        return ScheduleSpec(cron=s.cron)
    if s.interval_minutes:
        return ScheduleSpec(interval=timedelta(minutes=s.interval_minutes))
    return ScheduleSpec(interval=timedelta(minutes=DEFAULT_INTERVAL_MINUTES), defaulted=True)


def deployment_name(config_path: Path) -> str:
    """One deployment per config file: '<stem>-<6 hex of its absolute path>' (stable across restarts)."""
    digest = hashlib.sha256(str(config_path.resolve()).encode()).hexdigest()[:6]
    return f"{config_path.stem}-{digest}"


def _leave_terminal_group() -> None:
    """Ctrl-C in a terminal signals the whole foreground process group. serve stops a run itself
    (through Prefect's cancellation); a run that got the SIGINT directly would die mid-stage with a
    traceback from it and from each extraction worker. So a served run leaves the group."""
    if os.getpid() != os.getpgrp():
        try:
            os.setsid()
        except OSError:
            pass


def _scheduled_ingest(config_path: str, db_path: str | None = None, on_dask: bool = False):
    """One scheduled ingest run (the body of the `ingest` flow) and one line of output about it.

    A busy warehouse ends the run as Cancelled ("skipped: ..."); an error as Failed with a one-line
    message (NEWSWATCH_DEBUG=1 re-raises it, traceback included).
    """
    from prefect.states import Cancelled, Failed

    from flows.ingest.flow import ingest
    from flows.ingest.tasks import shutdown_workers
    from warehouse.errors import WarehouseBusy

    _leave_terminal_group()
    started = time.perf_counter()
    try:
        # The body, not a subflow: one flow run per scheduled run, artifacts attached to it.
        result = ingest.fn(config_path, db_path, False, on_dask)
    except WarehouseBusy as e:
        _say(f"{_stamp()} run skipped: {e}")
        return Cancelled(message=f"skipped: {e}")
    except Exception as e:
        _say(f"{_stamp()} run failed: {type(e).__name__}: {e}")
        if os.environ.get("NEWSWATCH_DEBUG"):
            raise
        return Failed(message=f"{type(e).__name__}: {e}")
    finally:
        shutdown_workers()
    _say(run_line(result, time.perf_counter() - started))
    return result


# Prefect names the deployment's entrypoint after the function: `flows.serve.scheduled_ingest`,
# which module __getattr__ below resolves to the flow.
_scheduled_ingest.__name__ = "scheduled_ingest"
_FLOW = None


def scheduled_ingest_flow():
    """The Prefect flow served. Made on first use: importing prefect freezes its settings, and serve
    must set PREFECT_API_URL (and the quiet logging) before that."""
    global _FLOW
    if _FLOW is None:
        from prefect import flow

        _FLOW = flow(name="newswatch-scheduled-ingest", log_prints=False, validate_parameters=False)(
            _scheduled_ingest
        )
    return _FLOW


def __getattr__(name: str):
    if name == "scheduled_ingest":
        return scheduled_ingest_flow()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
