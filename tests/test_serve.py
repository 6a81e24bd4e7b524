"""`newswatch serve`: the schedule it reads, what it prints, how it refuses to start, and one real
session (a local Prefect server, a short interval, a replay site) stopped with SIGINT / SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from flows.errors import UsageError
from flows.serve.deployment import ScheduleSpec, deployment_name, schedule_of
from flows.serve.output import run_line, skip_line
from flows.serve.prefect_server import PORT_ENV, LocalPrefectServer, ServeError, local_port
from flows.settings import Settings
from tests.conftest import DEMO_SITE
from tests.e2e import NEWSWATCH

AT = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


# ---- the schedule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "expected", "described"),
    [
        ({"interval_minutes": 15}, ScheduleSpec(interval=timedelta(minutes=15)), "every 15 min"),
        ({"interval_minutes": 0.1}, ScheduleSpec(interval=timedelta(seconds=6)), "every 6 s"),
        ({"cron": "*/15 * * * *"}, ScheduleSpec(cron="*/15 * * * *"), "cron '*/15 * * * *' (UTC)"),
        (
            {},
            ScheduleSpec(interval=timedelta(minutes=15), defaulted=True),
            "every 15 min (default: the config has no [schedule])",
        ),
    ],
)
def test_schedule_of(schedule, expected, described):
    spec = schedule_of(Settings.model_validate({"schedule": schedule}))
    assert spec == expected
    assert spec.describe() == described


def test_a_cron_prefect_cannot_read_is_a_usage_error():
    with pytest.raises(UsageError, match=r"\[schedule\] cron: not a valid cron expression: 'every monday'"):
        schedule_of(Settings.model_validate({"schedule": {"cron": "every monday"}}))


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, 4200),
        ({PORT_ENV: ""}, 4200),
        ({PORT_ENV: "4711"}, 4711),
        ({PORT_ENV: " 4711 "}, 4711),
        ({PORT_ENV: "http"}, UsageError),
        ({PORT_ENV: "0"}, UsageError),
        ({PORT_ENV: "70000"}, UsageError),
    ],
)
def test_local_port(environ, expected):
    if expected is UsageError:
        with pytest.raises(UsageError, match=PORT_ENV):
            local_port(environ)
    else:
        assert local_port(environ) == expected


def test_one_deployment_per_config_file(tmp_path):
    a, b = tmp_path / "a" / "newswatch.toml", tmp_path / "b" / "newswatch.toml"
    assert deployment_name(a) == deployment_name(a)
    assert deployment_name(a) != deployment_name(b)
    assert deployment_name(a).startswith("newswatch-")


def test_the_deployment_entrypoint_names_the_flow():
    from prefect.flows import load_flow_from_entrypoint

    flow = load_flow_from_entrypoint("flows.serve.deployment.scheduled_ingest", use_placeholder_flow=False)
    assert flow.name == "newswatch-scheduled-ingest"


# ---- what it prints -----------------------------------------------------------------------------


@dataclass
class _Result:  # the fields of flows.ingest.result.RunResult that run_line reads
    run_id: int
    status: str
    counts: dict


COUNTS = {"articles_stored": 3, "copies": 2, "feeds_failed": 1, "feeds_due": 6, "alerts_sent": 4}


@pytest.mark.parametrize(
    ("result", "line"),
    [
        (
            _Result(7, "completed", COUNTS),
            "2026-03-01T12:00:05+00:00 run 7 completed: 3 stored, 2 copies, 1 of 6 feeds failed, "
            "4 alerts sent (8.2 s)",
        ),
        (
            _Result(8, "no_feed_polled", {**COUNTS, "feeds_failed": 6, "outage": True}),
            "2026-03-01T12:00:05+00:00 run 8 no feed polled: 3 stored, 2 copies, 6 of 6 feeds failed, "
            "4 alerts sent (8.2 s)  OUTAGE: every feed failed without an answer",
        ),
    ],
)
def test_run_line(result, line):
    assert run_line(result, 8.24, at=AT) == line


def test_skip_line():
    assert skip_line(AT - timedelta(seconds=5), at=AT) == (
        "2026-03-01T12:00:05+00:00 run skipped (due 2026-03-01T12:00:00+00:00): previous run still in progress"
    )


# ---- refusing to start --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_a_taken_port_is_reported_before_anything_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = LocalPrefectServer(port, tmp_path / "prefect")
        with pytest.raises(ServeError, match=rf"port {port} on 127.0.0.1 is already in use") as e:
            server.start()
    assert "PREFECT_API_URL=" in str(e.value) and PORT_ENV in str(e.value)
    assert not server.log_path.exists()  # no server process was started


def _write_config(tmp: Path, base_url: str, interval_minutes: float = 0.1) -> Path:
    cfg = tmp / "serve.toml"
    cfg.write_text(
        f"""
[warehouse]
path = "{tmp / "wh" / "newswatch.duckdb"}"

[fetch]
allow_private_hosts = true

[extract]
workers = 1

[schedule]
interval_minutes = {interval_minutes}

[[feeds]]
name = "wire"
url = "{base_url}/feeds/wire.xml"

[[feeds]]
name = "misc"
url = "{base_url}/feeds/misc.xml"
""",
        encoding="utf-8",
    )
    return cfg


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
    env.update(PREFECT_HOME=str(tmp / "prefect"), **extra)
    return env


@pytest.mark.parametrize(
    ("case", "expected_message"),
    [
        ("api_unreachable", "cannot reach the Prefect API at http://127.0.0.1:{port}/api"),
        ("port_taken", "port {port} on 127.0.0.1 is already in use"),
    ],
)
def test_serve_refuses_to_start_with_one_line(tmp_path, case, expected_message):
    cfg = _write_config(tmp_path, "http://127.0.0.1:9")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        if case == "api_unreachable":  # bound, not listening: connections are refused
            env = _env(tmp_path, PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
        else:
            taken.listen()
            env = _env(tmp_path, **{PORT_ENV: str(port)})
        proc = subprocess.run(
            [str(NEWSWATCH), "serve", "--config", str(cfg)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert f"newswatch serve: {expected_message.format(port=port)}" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


# ---- a real session ------------------------------------------------------------------------------


def _completed_runs(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:  # replaced at this very moment
        return 0
    try:
        return con.execute("SELECT count(*) FROM runs WHERE status = 'completed'").fetchone()[0]
    except duckdb.Error:
        return 0
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stop_with", "exit_code", "own_server"),
    [(signal.SIGINT, 130, True), (signal.SIGTERM, 0, False)],
    ids=["SIGINT-own-server", "SIGTERM-PREFECT_API_URL"],
)
def test_serve_runs_on_schedule_and_stops_cleanly(tmp_path, stop_with, exit_code, own_server, request):
    """With its own local server (started and stopped by serve) and with the server PREFECT_API_URL
    names (the session's: serve starts none)."""
    from flows.demo.replay import ReplayServer

    port = _free_port() if own_server else None
    api = None if own_server else request.getfixturevalue("prefect_server")
    db = tmp_path / "wh" / "newswatch.duckdb"
    with ReplayServer(DEMO_SITE) as site:
        cfg = _write_config(tmp_path, site.base_url)
        # The runner polls for due runs every 2 s instead of 10 s: the test waits less.
        where = {PORT_ENV: str(port)} if own_server else {"PREFECT_API_URL": api.api_url}
        env = _env(tmp_path, **where, PREFECT_RUNNER_POLL_FREQUENCY="2")
        proc = subprocess.Popen(
            [str(NEWSWATCH), "serve", "--config", str(cfg)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 150
            while _completed_runs(db) < 1 and proc.poll() is None and time.monotonic() < deadline:
                if any("has scheduled no run" in ln for ln in lines):
                    break  # the server's scheduler is not working: no run will come
                time.sleep(1)
            assert _completed_runs(db) >= 1, "no scheduled run completed; serve said:\n" + "".join(lines)
            proc.send_signal(stop_with)
            assert proc.wait(60) == exit_code
        finally:
            if proc.poll() is None:  # a failed test still stops serve properly (and so its server)
                proc.terminate()
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        reader.join(10)
    out = "".join(lines)
    assert "Traceback" not in out and "CancelledError" not in out, out
    for expected in (
        f"  config     {cfg}",
        f"  warehouse  {db}",
        "  schedule   every 6 s",
        f"  ui         {api.url if api else f'http://127.0.0.1:{port}'}/deployments/deployment/",
        f"newswatch serve: {stop_with.name} received, stopping ...",
        "newswatch serve: stopped",
    ):
        assert expected in out, out
    assert " run 1 completed: " in out, out
    if own_server:
        assert not _port_open(port), "the local Prefect server outlived serve"
