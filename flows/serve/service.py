"""`newswatch serve`: the ingest flow on the configured schedule, as a Prefect deployment.

Prefect's scheduler runs only in a real server (not in ephemeral mode). When PREFECT_API_URL is not
set, serve starts `prefect server start` on 127.0.0.1 itself, in its own session (so a terminal's
Ctrl-C reaches serve alone, which then stops everything in order), and stops it on the way out.

Overlap: the deployment has a concurrency limit of 1 with the CANCEL_NEW collision strategy, so the
server cancels a run that comes due while the previous one is still going; serve watches for those
and prints "run skipped". A second guard is the warehouse lock: a run that finds another newswatch
process writing the warehouse (a manual `newswatch run`, another serve) skips itself and says so.

Each run executes in a child process started by Prefect's runner (stdout is shared, so the run's
one-line summary lands in serve's output). A stop (SIGINT, SIGTERM, SIGHUP) cancels a run in flight;
that is safe because the warehouse publishes by atomic rename only after a run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from flows.errors import EXIT_FAILED, EXIT_OK, EXIT_SIGINT
from flows.ingest.oneshot import prefect_defaults, task_runner
from flows.serve.deployment import ScheduleSpec, deployment_name, schedule_of, scheduled_ingest_flow
from flows.serve.output import _say, _stamp, skip_line
from flows.serve.prefect_server import (
    SERVER_STOP_TIMEOUT_S,
    LocalPrefectServer,
    ServeError,
    api_healthy,
    local_port,
    prefect_home,
)
from flows.settings import Settings, resolve_db_path

WATCH_EVERY_S = 5.0
NOTHING_SCHEDULED_AFTER = timedelta(seconds=45)
# The state message Prefect's server gives a run it cancels under CANCEL_NEW (core_policy.py).
CONCURRENCY_SKIP_MESSAGE = "Deployment concurrency limit reached."


class _Stopped(BaseException):
    """A stop signal (SIGTERM/SIGHUP) arrived while serve was still starting."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def serve(settings: Settings, config_path: Path | str, db: Path | str | None) -> int:
    """Run the ingest flow on the configured schedule until stopped.

    Returns 0 after SIGTERM/SIGHUP, 130 after SIGINT (Ctrl-C), 1 when serve cannot start or the
    runner stops on its own. Raises flows.cli.UsageError for a bad schedule or port variable.
    """
    prefect_defaults()
    config = Path(config_path).resolve()
    warehouse = resolve_db_path(settings, db).resolve()
    schedule = schedule_of(settings)
    port = local_port()

    def stop_while_starting(signum, _frame):
        raise _Stopped(signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop_while_starting)
    server: LocalPrefectServer | None = None
    try:
        api_url = os.environ.get("PREFECT_API_URL")
        if api_url:
            if not api_healthy(api_url, timeout=10.0):
                raise ServeError(f"cannot reach the Prefect API at {api_url} (PREFECT_API_URL)")
            where = f"Prefect server {api_url} (PREFECT_API_URL)"
        else:
            server = LocalPrefectServer(port, prefect_home())
            _say(f"starting a local Prefect server on {server.url} (log: {server.log_path}) ...")
            server.start()
            os.environ["PREFECT_API_URL"] = server.api_url
            where = f"local Prefect server {server.url}, stopped with serve"
        return asyncio.run(
            _serve_async(
                settings,
                config,
                warehouse,
                None if db is None else str(warehouse),
                schedule,
                where,
                server.log_path if server else None,
            )
        )
    except KeyboardInterrupt:
        _say("newswatch serve: stopped (interrupted while starting)")
        return EXIT_SIGINT
    except _Stopped as e:
        _say(f"newswatch serve: stopped ({signal.Signals(e.signum).name} while starting)")
        return EXIT_OK
    except ServeError as e:
        print(f"newswatch serve: {e}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    finally:
        # No second signal may interrupt the clean-up: the server must not be left running.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if server is not None:
            server.stop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)


async def _serve_async(
    settings: Settings,
    config: Path,
    warehouse: Path,
    db_param: str | None,
    schedule: ScheduleSpec,
    where: str,
    server_log: Path | None = None,
) -> int:
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.runner import Runner
    from prefect.settings import get_current_settings
    from prefect.types.entrypoint import EntrypointType

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[int] = []

    def request_stop(signum: int) -> None:
        received.append(signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, request_stop, sig)

    runner_kind = task_runner(settings)
    served = scheduled_ingest_flow()
    to_serve = served.with_options(task_runner=runner_kind) if runner_kind else served
    name = deployment_name(config)
    runner = Runner(name=f"newswatch-{name}", pause_on_shutdown=True)
    # Runner.start() installs its own SIGTERM handler (stop, then sys.exit); route it to ours.
    runner.handle_sigterm = lambda *_: loop.call_soon_threadsafe(request_stop, signal.SIGTERM)  # type: ignore[method-assign]
    deployment_id = await runner.aadd_flow(
        to_serve,
        name=name,
        interval=schedule.interval,
        cron=schedule.cron,
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        parameters={"config_path": str(config), "db_path": db_param, "on_dask": runner_kind is not None},
        description=f"newswatch ingest of {config}",
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    ui = get_current_settings().ui_url or os.environ["PREFECT_API_URL"].removesuffix("/api")
    _say(
        "newswatch serve\n"
        f"  config     {config}\n"
        f"  warehouse  {warehouse}\n"
        f"  schedule   {schedule.describe()}\n"
        f"  prefect    {where}\n"
        f"  ui         {ui}/deployments/deployment/{deployment_id}\n"
        "  overlap    a run due while the previous one is still going is skipped\n"
        "stop with Ctrl-C (or SIGTERM)"
    )
    if stop.is_set():
        return _exit_code(received)
    runner_task = asyncio.create_task(runner.start())
    watch_task = asyncio.create_task(
        _watch_runs(deployment_id, datetime.now().astimezone(), _say, server_log)
    )
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({runner_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    watch_task.cancel()
    if runner_task.done():
        stop_task.cancel()
        exc = runner_task.exception() if not runner_task.cancelled() else None
        raise ServeError(f"the Prefect runner stopped: {exc or 'no reason given'}")
    _say(f"newswatch serve: {signal.Signals(received[0]).name} received, stopping ...")
    try:
        if runner.started:
            await asyncio.wait_for(runner.astop(), SERVER_STOP_TIMEOUT_S)
        await asyncio.wait_for(runner_task, SERVER_STOP_TIMEOUT_S)
    except (TimeoutError, asyncio.CancelledError, RuntimeError):
        runner_task.cancel()  # shutdown noise is not the user's business; the server goes next
    for t in (watch_task, runner_task):
        # A cancelled task at shutdown has nothing to tell the user.
        with contextlib.suppress(BaseException):
            await t
    _say("newswatch serve: stopped")
    return _exit_code(received)


def _exit_code(received: list[int]) -> int:
    return EXIT_SIGINT if received and received[0] == signal.SIGINT else EXIT_OK


async def _watch_runs(
    deployment_id, since: datetime, say: Callable[[str], None], server_log: Path | None = None
) -> None:
    """Print the next run time once, then one line per run the server skipped (CANCEL_NEW).

    Warns once when the server has scheduled nothing after a while: its scheduler service is off or
    failing (Prefect 3.8.8 with SQLAlchemy 2.1 fails there), and no run would ever start.
    """
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

    def runs_in(*types: StateType) -> FlowRunFilter:
        return FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(types))),
            expected_start_time=FlowRunFilterExpectedStartTime(after_=since - timedelta(minutes=1)),
        )

    reported: set = set()
    announced = warned = False
    async with get_client() as client:
        while True:
            # A missed poll is retried; the runs themselves go on.
            with contextlib.suppress(Exception):
                if not announced:
                    upcoming = await client.read_flow_runs(
                        flow_run_filter=runs_in(StateType.SCHEDULED),
                        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                        limit=1,
                    )
                    if upcoming and upcoming[0].expected_start_time:
                        say(f"{_stamp()} next run due {_stamp(upcoming[0].expected_start_time)}")
                        announced = True
                    elif not warned and datetime.now().astimezone() - since > NOTHING_SCHEDULED_AFTER:
                        warned = True
                        log = f" (server log: {server_log})" if server_log else ""
                        say(
                            f"{_stamp()} warning: the Prefect server has scheduled no run after "
                            f"{NOTHING_SCHEDULED_AFTER.seconds} s: is its scheduler service running?{log}"
                        )
                cancelled = await client.read_flow_runs(
                    flow_run_filter=runs_in(StateType.CANCELLED),
                    sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                    limit=50,
                )
                for run in reversed(cancelled):
                    if run.id not in reported and run.state and run.state.message == CONCURRENCY_SKIP_MESSAGE:
                        reported.add(run.id)
                        say(skip_line(run.expected_start_time))
            await asyncio.sleep(WATCH_EVERY_S)
