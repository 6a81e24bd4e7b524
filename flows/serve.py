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
that is safe because the warehouse publishes by atomic rename only after a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from flows.runner import prefect_defaults, task_runner
from flows.settings import Settings, resolve_db_path

PORT_ENV = "NEWSWATCH_PREFECT_PORT"
DEFAULT_PORT = 4200
HOST = "127.0.0.1"
SERVER_START_TIMEOUT_S = 120.0  # measured ~12-15 s here; generous for a loaded machine
SERVER_STOP_TIMEOUT_S = 15.0
DEFAULT_INTERVAL_MINUTES = 15.0
WATCH_EVERY_S = 5.0
NOTHING_SCHEDULED_AFTER = timedelta(seconds=45)
# The state message Prefect's server gives a run it cancels under CANCEL_NEW (core_policy.py).
CONCURRENCY_SKIP_MESSAGE = "Deployment concurrency limit reached."
EXIT_OK, EXIT_FAILED, EXIT_SIGINT = 0, 1, 130


class ServeError(Exception):
    """serve cannot start or keep going (port taken, server would not start, API unreachable)."""


class _Stopped(BaseException):
    """A stop signal (SIGTERM/SIGHUP) arrived while serve was still starting."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


# ---- what to serve ------------------------------------------------------------------------------


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

        from flows.cli import UsageError

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


def local_port(environ: dict[str, str] | os._Environ = os.environ) -> int:
    """The port of the local Prefect server: $NEWSWATCH_PREFECT_PORT, else 4200."""
    raw = environ.get(PORT_ENV, "").strip()
    if not raw:
        return DEFAULT_PORT
    from flows.cli import UsageError

    try:
        port = int(raw)
    except ValueError:
        raise UsageError(f"{PORT_ENV}={raw!r}: expected a port number") from None
    if not 1 <= port <= 65535:
        raise UsageError(f"{PORT_ENV}={raw!r}: expected a port number between 1 and 65535")
    return port


def prefect_home(environ: dict[str, str] | os._Environ = os.environ) -> Path:
    return Path(environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


# ---- what serve prints --------------------------------------------------------------------------


def _stamp(at: datetime | None = None) -> str:
    return (at or datetime.now()).astimezone().isoformat(timespec="seconds")


def run_line(result: Any, seconds: float, at: datetime | None = None) -> str:
    """One log-friendly line for a finished run (a flows.ingest.RunResult)."""
    c = result.counts
    line = (
        f"{_stamp(at)} run {result.run_id} {result.status.replace('_', ' ')}: "
        f"{c['articles_stored']} stored, {c['copies']} copies, "
        f"{c['feeds_failed']} of {c['feeds_due']} feeds failed, "
        f"{c['alerts_sent']} alerts sent ({seconds:.1f} s)"
    )
    return line + ("  OUTAGE: every feed failed without an answer" if c.get("outage") else "")


def skip_line(due: datetime | None, at: datetime | None = None) -> str:
    when = f" (due {_stamp(due)})" if due else ""
    return f"{_stamp(at)} run skipped{when}: previous run still in progress"


def _say(line: str, out: IO[str] | None = None) -> None:
    print(line, file=out or sys.stdout, flush=True)


# ---- the flow the deployment runs ---------------------------------------------------------------


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

    from flows.ingest import ingest, shutdown_workers
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


# ---- the local Prefect server -------------------------------------------------------------------


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def api_healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as r:
            return r.status == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


class LocalPrefectServer:
    """`prefect server start` on 127.0.0.1 as a child process group; `start()` waits for /api/health.

    Its output goes to `log_path` (PREFECT_HOME/newswatch-server.log), not to the terminal.
    """

    def __init__(self, port: int, home: Path, host: str = HOST):
        self.host, self.port, self.home = host, port, home
        self.log_path = home / "newswatch-server.log"
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api"

    def _command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]

    def start(self, timeout: float = SERVER_START_TIMEOUT_S) -> None:
        """Raises ServeError when the port is taken, or the server exits or stays silent."""
        if not _port_free(self.host, self.port):
            raise ServeError(
                f"port {self.port} on {self.host} is already in use (another Prefect server?). "
                f"To use that server: PREFECT_API_URL=http://{self.host}:{self.port}/api newswatch serve; "
                f"to start ours elsewhere: {PORT_ENV}=<port> newswatch serve"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PREFECT_HOME": str(self.home)}
        env.pop("PREFECT_API_URL", None)
        with open(self.log_path, "ab") as log:
            # Own session: a terminal's Ctrl-C must not stop the server before serve has paused
            # the schedule and cancelled a run in flight through it.
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not api_healthy(self.api_url, timeout=1.0):
            if self._proc.poll() is not None:
                self._proc = None
                raise ServeError(
                    f"the local Prefect server exited at start; its log is {self.log_path}:\n"
                    + self._log_tail()
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServeError(
                    f"the local Prefect server did not answer {self.api_url}/health within "
                    f"{timeout:.0f} s; its log is {self.log_path}"
                )
            time.sleep(0.25)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join("  " + ln for ln in text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL if it lingers. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, SERVER_STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> LocalPrefectServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- serving ------------------------------------------------------------------------------------


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
