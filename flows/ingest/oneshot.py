"""One run of the ingest flow from the command line (`newswatch run`, `demo`): the warehouse lock
first, then a Prefect API, then the flow under its time limit, then a clean exit.

The Prefect API is, in order: the one PREFECT_API_URL names (it must answer); a local Prefect server
already up on $NEWSWATCH_PREFECT_PORT (e.g. serve's); else a server of the run's own, started at
once so that it comes up while Prefect and the flow's modules are imported, and stopped after the
run (it dies with the run even on kill -9).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flows.runtime.prefect_env import prefect_defaults, quiet_console, startup_timeout, task_runner
from flows.runtime.servers import (
    HOST,
    PrefectServerError,
    RunServer,
    api_healthy,
    local_port,
    prefect_home,
)
from flows.runtime.stop import STOP, time_limit
from flows.settings import Settings, resolve_db_path
from warehouse.lock import WriterLock


class Interrupted(Exception):
    """A stop signal came while the run was still starting: nothing was done."""


@dataclass(frozen=True)
class PrefectApi:
    url: str
    own: bool  # started for this run (and stopped after it)
    where: str  # for messages


def _configured_api_url() -> str | None:
    """PREFECT_API_URL as the user set it; or, once Prefect is set up in this process (a test
    session, a second run of the demo), the API its current settings name."""
    if "prefect.settings" in sys.modules:
        from prefect.settings import get_current_settings

        return get_current_settings().api.url
    return os.environ.get("PREFECT_API_URL") or None


@contextmanager
def prefect_api() -> Iterator[PrefectApi]:
    """The Prefect API for one or more runs in this process, ready to use."""
    url = _configured_api_url()
    if url:
        if not api_healthy(url, timeout=10.0):
            raise PrefectServerError(
                f"cannot reach the Prefect API at {url} (PREFECT_API_URL): start that server, or unset "
                "PREFECT_API_URL to let newswatch start one for the run"
            )
        yield PrefectApi(url, False, f"Prefect API {url} (PREFECT_API_URL)")
        return
    local = f"http://{HOST}:{local_port()}/api"
    if api_healthy(local, timeout=0.5):
        yield PrefectApi(local, False, f"local Prefect server {local}")
        return
    server = RunServer(prefect_home())
    server.launch()
    try:
        import prefect.flows  # noqa: F401  (imported while the server starts: ~2 s either way)

        from flows.ingest import flow  # noqa: F401

        if not server.wait_ready(startup_timeout(), give_up=STOP.is_set):
            raise Interrupted(STOP.why)
        yield PrefectApi(server.api_url, True, f"the run's own Prefect API server ({server.log_path})")
    finally:
        _drain_to_api()
        server.stop()  # it writes the task runs it still holds as it stops


def _drain_to_api(timeout: float = 15.0) -> None:
    """Send the log lines and events Prefect still holds in this process before the run's server
    goes (Prefect would send them at exit, when the server is gone)."""
    if "prefect.logging.handlers" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout)


def run_ingest(
    settings: Settings,
    config_path: Path | str,
    db: Path | str | None,
    *,
    force: bool = False,
    api: PrefectApi | None = None,
):
    """Run the ingest flow once and return its RunResult. Raises WarehouseBusy before anything
    else when another run writes the warehouse, PrefectServerError when no Prefect API can be had,
    Interrupted when stopped while starting."""
    prefect_defaults()
    with WriterLock(resolve_db_path(settings, db)):
        if api is None:
            with prefect_api() as api:
                return _run_flow(settings, config_path, db, force, api)
        return _run_flow(settings, config_path, db, force, api)


def _run_flow(settings: Settings, config_path: Path | str, db, force: bool, api: PrefectApi):
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.ingest.flow import ingest
    from flows.ingest.progress import close_all as close_progress
    from flows.ingest.tasks import shutdown_workers

    if STOP.is_set():
        raise Interrupted(STOP.why)
    quiet_console()
    runner = task_runner(settings)
    flow_fn = ingest.with_options(task_runner=runner) if runner else ingest
    timer = time_limit(settings.schedule.run_timeout_minutes)
    # Against a server of the run's own, flow-run heartbeats (they let a server notice a crashed
    # run) serve nothing, and their thread, joined at the end, adds up to a second to every run.
    updates = {PREFECT_API_URL: api.url, **({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None} if api.own else {})}
    try:
        with temporary_settings(updates=updates):
            return flow_fn(str(config_path), str(db) if db else None, force, runner is not None)
    finally:
        timer.cancel()
        shutdown_workers()
        STOP.clear_time_limit()  # a signal's stop request stays: it is the process's
        close_progress()
