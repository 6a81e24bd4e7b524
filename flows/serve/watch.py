"""What serve watches while it runs, through Prefect's API: the next run due (said once), runs the
server skipped (CANCEL_NEW), how each run ended (for operational alerts, see `health`), a run that
hangs past its time limit (cancelled through Prefect: its process is killed), and a scheduler that
schedules nothing (warned once: no run would ever start)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flows.serve.health import RunHealth, send_operational
from flows.serve.output import _stamp, skip_line
from flows.settings import Settings

WATCH_EVERY_S = 5.0
NOTHING_SCHEDULED_AFTER = timedelta(seconds=45)
# A run still running this long after its time limit does not answer its own timer: it is hung.
HUNG_GRACE = timedelta(minutes=2)
# The state message Prefect's server gives a run it cancels under CANCEL_NEW (core_policy.py).
CONCURRENCY_SKIP_MESSAGE = "Deployment concurrency limit reached."


def outcome_of(state_type: str, state_name: str | None) -> str | None:
    """completed / failed / crashed / timed_out for a finished run; None for one to ignore
    (cancelled: skipped, or stopped with serve)."""
    if state_type == "COMPLETED":
        return "completed"
    if state_type == "CRASHED":
        return "crashed"
    if state_type == "FAILED":
        return "timed_out" if state_name == "TimedOut" else "failed"
    return None


async def watch_runs(
    deployment_id,
    settings: Settings,
    health: RunHealth,
    interval: timedelta | None,
    say: Callable[[str], None],
    server_log: Path | None = None,
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.states import Cancelling

    since = datetime.now(UTC)

    def runs_in(*types: StateType) -> FlowRunFilter:
        return FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(types))),
            expected_start_time=FlowRunFilterExpectedStartTime(after_=since - timedelta(minutes=1)),
        )

    def alert(subjects: list[str]) -> None:
        for subject in subjects:
            say(f"{_stamp()} alert: {subject}")
            for error in send_operational(settings, subject):
                say(f"{_stamp()} the alert could not be sent: {error}")
        if subjects:
            health.save()

    limit = timedelta(minutes=settings.schedule.run_timeout_minutes)
    reported: set = set()
    hung: set = set()
    announced = warned = False
    said_errors: set[str] = set()
    async with get_client() as client:
        while True:
            try:
                upcoming = await client.read_flow_runs(
                    flow_run_filter=runs_in(StateType.SCHEDULED),
                    sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                    limit=2,
                )
                if not announced and upcoming and upcoming[0].expected_start_time:
                    say(f"{_stamp()} next run due {_stamp(upcoming[0].expected_start_time)}")
                    announced = True
                elif not announced and not warned and datetime.now(UTC) - since > NOTHING_SCHEDULED_AFTER:
                    warned = True
                    log = f" (server log: {server_log})" if server_log else ""
                    say(
                        f"{_stamp()} warning: the Prefect server has scheduled no run after "
                        f"{NOTHING_SCHEDULED_AFTER.seconds} s: is its scheduler service running?{log}"
                    )
                if interval is None and len(upcoming) == 2:  # a cron schedule: its current gap
                    interval = upcoming[1].expected_start_time - upcoming[0].expected_start_time

                for run in await client.read_flow_runs(
                    flow_run_filter=runs_in(StateType.RUNNING), sort=FlowRunSort.START_TIME_ASC, limit=10
                ):
                    started = run.start_time or run.expected_start_time
                    if run.id not in hung and started and datetime.now(UTC) - started > limit + HUNG_GRACE:
                        hung.add(run.id)
                        say(f"{_stamp()} run {run.name} is still running past its time limit: cancelling it")
                        await client.set_flow_run_state(
                            run.id, Cancelling(message="hung past run_timeout_minutes"), force=True
                        )

                finished = await client.read_flow_runs(
                    flow_run_filter=runs_in(
                        StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED
                    ),
                    sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                    limit=50,
                )
                for run in reversed(finished):
                    state = run.state
                    if state is None or run.id in reported:
                        continue
                    reported.add(run.id)
                    if state.type == StateType.CANCELLED and state.message == CONCURRENCY_SKIP_MESSAGE:
                        say(skip_line(run.expected_start_time))
                        continue
                    outcome = "timed_out" if run.id in hung else outcome_of(state.type.value, state.name)
                    if outcome is not None:
                        why = (state.message or state.name or "").splitlines()[0][:300] if state else ""
                        ended = run.end_time or datetime.now(UTC)
                        alert(health.observe(str(run.id), run.name, outcome, why, ended))
                if interval is not None and settings.health.alert_channels:
                    alert(health.check_stale(datetime.now(UTC), interval, since))
            except Exception as e:  # a missed look is retried; the runs go on. Said once.
                error = f"{type(e).__name__}: {e}".splitlines()[0][:200]
                if error not in said_errors:
                    said_errors.add(error)
                    say(f"{_stamp()} warning: cannot follow the runs through Prefect's API: {error}")
            await asyncio.sleep(WATCH_EVERY_S)
