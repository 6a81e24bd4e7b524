"""What serve deploys: the scheduled ingest (one run and one line about it) and, when configured, the
scheduled report; and their schedules.

A scheduled run runs in a child process that Prefect's runner starts. It leaves the terminal's
process group (Ctrl-C reaches serve alone, which stops runs through Prefect), stops cleanly on
SIGTERM (what Prefect's cancellation sends) and at its time limit, and ends in a Prefect state that
says what happened: Completed, Cancelled ("skipped: ..." when another run holds the warehouse;
"interrupted" when stopped), or Failed (named "TimedOut" past its time limit).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
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
        _check_cron("[schedule] cron", s.cron)
        return ScheduleSpec(cron=s.cron)
    if s.interval_minutes:
        return ScheduleSpec(interval=timedelta(minutes=s.interval_minutes))
    return ScheduleSpec(interval=timedelta(minutes=DEFAULT_INTERVAL_MINUTES), defaulted=True)


DEPLOYMENT = "newswatch"
REPORT_DEPLOYMENT = "newswatch-report"
INGEST_FLOW = "newswatch-scheduled-ingest"
REPORT_FLOW = "newswatch-report"


def _leave_terminal_group() -> None:
    """Ctrl-C in a terminal signals the whole foreground process group; serve stops a run itself
    (through Prefect's cancellation), so a served run leaves the group."""
    if os.getpid() != os.getpgrp():
        try:
            os.setsid()
        except OSError:
            pass


def _scheduled_ingest(config_path: str, db_path: str | None = None, on_dask: bool = False):
    """One scheduled ingest run (the body of the `ingest` flow, so that its logs and artifacts belong
    to this flow run) and one line of output about it; NEWSWATCH_DEBUG=1 re-raises an error."""
    from prefect.states import Cancelled, Failed

    from flows.ingest.flow import ingest
    from flows.ingest.tasks import shutdown_workers
    from flows.runtime.prefect_env import quiet_console
    from flows.runtime.stop import STOP, on_signals, time_limit
    from flows.settings import load_settings
    from warehouse.errors import WarehouseBusy

    _leave_terminal_group()
    quiet_console()  # the run's log lines go to Prefect (its Logs tab); serve prints one line a run
    started = time.perf_counter()
    timer = time_limit(load_settings(config_path).schedule.run_timeout_minutes)
    try:
        with on_signals():  # Prefect cancels a run with SIGTERM: it stops as cleanly as on Ctrl-C
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
        timer.cancel()
        shutdown_workers()
        STOP.clear_time_limit()
    _say(run_line(result, time.perf_counter() - started))
    if result.status == "timed_out":
        return Failed(name="TimedOut", message=f"run {result.run_id} {result.note}")
    if result.status == "interrupted":
        return Cancelled(message=f"run {result.run_id} interrupted: {result.note}")
    return result


def _scheduled_report(config_path: str, db_path: str | None = None) -> str:
    """The configured report ([report] since, out, channel), written and emailed."""
    from argparse import Namespace

    from prefect.states import Failed

    from flows.report.command import write_report
    from flows.settings import load_settings

    _leave_terminal_group()
    report = load_settings(config_path).report
    args = Namespace(
        config=Path(config_path), db=db_path, since=report.since, out=report.out, email=report.channel
    )
    code = write_report(args)
    if code:
        return Failed(
            message=f"the report could not be written or sent (exit code {code}); see serve's output"
        )
    _say(
        f"{_stamp()} report written to {report.out}"
        + (f" and sent via {report.channel}" if report.channel else "")
    )
    return str(report.out)


def _run_name() -> str:
    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")


# Prefect names a deployment's entrypoint after the function (`flows.serve.deployment.scheduled_ingest`),
# which the module __getattr__ below resolves to the flow.
_scheduled_ingest.__name__ = "scheduled_ingest"
_scheduled_report.__name__ = "scheduled_report"
_FLOWS: dict[str, object] = {}


def _flow(name: str, fn):
    """Made on first use: importing prefect freezes its settings, and serve must set PREFECT_API_URL
    (and the quiet logging) before that."""
    if name not in _FLOWS:
        from prefect import flow

        _FLOWS[name] = flow(name=name, flow_run_name=_run_name, log_prints=False, validate_parameters=False)(
            fn
        )
    return _FLOWS[name]


def scheduled_ingest_flow():
    return _flow(INGEST_FLOW, _scheduled_ingest)


def scheduled_report_flow():
    return _flow(REPORT_FLOW, _scheduled_report)


def report_schedule(settings: Settings) -> str | None:
    """The report's cron expression, checked; None when serve schedules no report."""
    cron = settings.report.cron
    if cron:
        _check_cron("[report] cron", cron)
    return cron


def _check_cron(key: str, cron: str) -> None:
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron)
    except ValueError as e:  # pydantic's ValidationError is a ValueError
        raise UsageError(f"{key}: not a valid cron expression: {cron!r} ({e})") from None


def __getattr__(name: str):
    if name == "scheduled_ingest":
        return scheduled_ingest_flow()
    if name == "scheduled_report":
        return scheduled_report_flow()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
