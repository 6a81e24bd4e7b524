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
from pathlib import Path

from flows.errors import EXIT_FAILED, EXIT_OK, EXIT_SIGINT
from flows.runtime.prefect_env import prefect_defaults, startup_timeout, task_runner
from flows.runtime.servers import (
    SERVER_STOP_TIMEOUT_S,
    LocalPrefectServer,
    PrefectServerError,
    api_healthy,
    local_port,
    prefect_home,
)
from flows.serve.deployment import (
    DEPLOYMENT,
    REPORT_DEPLOYMENT,
    ScheduleSpec,
    report_schedule,
    schedule_of,
    scheduled_ingest_flow,
    scheduled_report_flow,
)
from flows.serve.health import RunHealth, health_path
from flows.serve.output import _say
from flows.serve.watch import watch_runs
from flows.settings import Settings, resolve_db_path


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
    os.environ.setdefault("NEWSWATCH_NO_PROGRESS", "1")  # scheduled runs draw no progress lines
    config = Path(config_path).resolve()
    warehouse = resolve_db_path(settings, db).resolve()
    port = local_port()
    api_url = os.environ.get("PREFECT_API_URL")
    server = None if api_url else LocalPrefectServer(port, prefect_home())
    # Prefect reads its settings once, on first import (checking a cron expression imports it): the
    # API address must be in the environment before that.
    os.environ["PREFECT_API_URL"] = api_url or server.api_url
    schedule = schedule_of(settings)
    report_cron = report_schedule(settings)

    def stop_while_starting(signum, _frame):
        raise _Stopped(signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop_while_starting)
    try:
        if server is None:
            if not api_healthy(api_url, timeout=10.0):
                raise PrefectServerError(f"cannot reach the Prefect API at {api_url} (PREFECT_API_URL)")
            where = f"Prefect server {api_url} (PREFECT_API_URL)"
        else:
            _say(f"starting a local Prefect server on {server.url} (log: {server.log_path}) ...")
            server.start(startup_timeout())
            where = f"local Prefect server {server.url}, stopped with serve"
        return asyncio.run(
            _serve_async(
                settings,
                config,
                warehouse,
                None if db is None else str(warehouse),
                schedule,
                report_cron,
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
    except PrefectServerError as e:
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
    report_cron: str | None,
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

    _check_secret_blocks(settings)
    runner_kind = task_runner(settings)
    served = scheduled_ingest_flow()
    to_serve = served.with_options(task_runner=runner_kind) if runner_kind else served
    runner = Runner(name="newswatch", pause_on_shutdown=True)
    # Runner.start() installs its own SIGTERM handler (stop, then sys.exit); route it to ours.
    runner.handle_sigterm = lambda *_: loop.call_soon_threadsafe(request_stop, signal.SIGTERM)  # type: ignore[method-assign]
    deployment_id = await runner.aadd_flow(
        to_serve,
        name=DEPLOYMENT,
        interval=schedule.interval,
        cron=schedule.cron,
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        parameters={"config_path": str(config), "db_path": db_param, "on_dask": runner_kind is not None},
        description=f"newswatch ingest of {config}",
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    report_line = "none ([report] cron is not set)"
    if report_cron:
        await runner.aadd_flow(
            scheduled_report_flow(),
            name=REPORT_DEPLOYMENT,
            cron=report_cron,
            parameters={"config_path": str(config), "db_path": db_param},
            description=f"newswatch report of {config}",
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        r = settings.report
        report_line = f"cron {report_cron!r} (UTC): last {r.since} to {r.out}" + (
            f", emailed via {r.channel}" if r.channel else ""
        )
    ui = get_current_settings().ui_url or os.environ["PREFECT_API_URL"].removesuffix("/api")
    _say(
        "newswatch serve\n"
        f"  config     {config}\n"
        f"  warehouse  {warehouse}\n"
        f"  schedule   {schedule.describe()}; each run stops after {settings.schedule.run_timeout_minutes:g} min\n"
        f"  report     {report_line}\n"
        f"  prefect    {where}\n"
        f"  ui         {ui}/deployments/deployment/{deployment_id}\n"
        "  overlap    a run due while the previous one is still going is skipped\n"
        f"  alerts     failed, crashed or timed-out runs: {', '.join(settings.health.alert_channels) or 'none ([health] alert_channels)'}\n"
        "stop with Ctrl-C (or SIGTERM)"
    )
    if stop.is_set():
        return _exit_code(received)
    runner_task = asyncio.create_task(runner.start())
    health = RunHealth.load(health_path(warehouse))
    watch_task = asyncio.create_task(
        watch_runs(deployment_id, settings, health, schedule.interval, _say, server_log)
    )
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({runner_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    watch_task.cancel()
    if runner_task.done():
        stop_task.cancel()
        exc = runner_task.exception() if not runner_task.cancelled() else None
        raise PrefectServerError(f"the Prefect runner stopped: {exc or 'no reason given'}")
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


def _check_secret_blocks(settings: Settings) -> None:
    """Every Prefect Secret block the channels name exists: found now, not at the first alert."""
    from flows.channels import SecretUnavailable, read_secret_block
    from flows.errors import UsageError

    for key, block in settings.secret_blocks():
        try:
            read_secret_block(block)
        except SecretUnavailable as e:
            raise UsageError(f"{settings.source}: {key}: {e}") from None
