"""`newswatch serve`: the schedule it reads, what it prints, how it refuses to start, and one real
session (a local Prefect server, a short interval, a replay site) stopped with SIGINT / SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from flows.errors import UsageError
from flows.runtime.servers import PORT_ENV, LocalPrefectServer, PrefectServerError, local_port
from flows.serve.deployment import ScheduleSpec, schedule_of
from flows.serve.output import run_line, skip_line
from flows.settings import Settings
from tests.conftest import DEMO_SITE
from tests.e2e import NEWSWATCH, user_env

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


def test_the_deployment_entrypoint_names_the_flow():
    from prefect.flows import load_flow_from_entrypoint

    flow = load_flow_from_entrypoint("flows.serve.deployment.scheduled_ingest", use_placeholder_flow=False)
    assert flow.name == "newswatch-scheduled-ingest"
    report = load_flow_from_entrypoint("flows.serve.deployment.scheduled_report", use_placeholder_flow=False)
    assert report.name == "newswatch-report"


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
        with pytest.raises(PrefectServerError, match=rf"port {port} on 127.0.0.1 is already in use") as e:
            server.start()
    assert "PREFECT_API_URL=" in str(e.value) and PORT_ENV in str(e.value)
    assert not server.log_path.exists()  # no server process was started


def _write_config(tmp: Path, base_url: str, interval_minutes: float = 0.1, extra: str = "") -> Path:
    cfg = tmp / "serve.toml"
    cfg.write_text(
        extra
        + f"""
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
    """A user's environment: none of the test session's Prefect settings."""
    return user_env(tmp / "prefect", **extra)


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


def _runs(db: Path, status: str = "completed") -> int:
    if not db.exists():
        return 0
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:  # replaced at this very moment
        return 0
    try:
        return con.execute("SELECT count(*) FROM runs WHERE status = ?", [status]).fetchone()[0]
    except duckdb.Error:
        return 0
    finally:
        con.close()


class Serve:
    """`newswatch serve` as a real process; its output collected line by line."""

    def __init__(self, cfg: Path, env: dict[str, str]):
        self.proc = subprocess.Popen(
            [str(NEWSWATCH), "serve", "--config", str(cfg)],
            env=env,
            cwd=cfg.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self._reader.start()

    @property
    def out(self) -> str:
        return "".join(self.lines)

    def wait_until(self, done, what: str, timeout: float = 150) -> None:
        deadline = time.monotonic() + timeout
        while not done() and self.proc.poll() is None and time.monotonic() < deadline:
            if "has scheduled no run" in self.out:
                break  # the server's scheduler is not working: no run will come
            time.sleep(0.5)
        assert done(), f"{what}; serve said:\n{self.out}"

    def stop(self, signum: int) -> int:
        self.proc.send_signal(signum)
        code = self.proc.wait(60)
        self._reader.join(10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:  # a failed test still stops serve properly (and so its server)
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _api(req: urllib.request.Request | str):
    """A call to Prefect's API, retried on 503 as Prefect's own client does (its SQLite database is
    briefly busy on a loaded host)."""
    for attempt in range(10):
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            if e.code != 503 or attempt == 9:
                raise
            time.sleep(1)


def _api_get(url: str):
    return _api(url)


def _api_post(url: str, body: dict):
    return _api(urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"}))


@pytest.mark.slow
def test_serve_with_its_own_server_on_another_port_as_prefect_users_expect(tmp_path):
    """Its own server on a non-default port, the UI calling the API on that port; the deployment
    named `newswatch`; runs with readable names and their stage lines in the Logs tab; Ctrl-C ends
    everything with 130 and no traceback, and the server goes with it."""
    from flows.demo.replay import ReplayServer
    from flows.demo.sinks import SmtpSink

    port = _free_port()
    db = tmp_path / "wh" / "newswatch.duckdb"
    report = tmp_path / "weekly.html"
    with ReplayServer(DEMO_SITE) as site, SmtpSink() as smtp:
        weekly = f"""
[report]
cron = "0 7 * * MON"
since = "4w"
channel = "desk"
out = "{report}"
[channels.desk]
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}
security = "none"
sender = "newswatch@example.org"
recipients = ["desk@example.org"]
"""
        cfg = _write_config(tmp_path, site.base_url, extra=weekly)
        # The runner polls for due runs every 2 s instead of 10 s: the test waits less.
        serve = Serve(cfg, _env(tmp_path, **{PORT_ENV: str(port)}, PREFECT_RUNNER_POLL_FREQUENCY="2"))
        try:
            serve.wait_until(lambda: _runs(db) >= 1, "no scheduled run completed")
            base = f"http://127.0.0.1:{port}"
            assert _api_get(f"{base}/ui-settings")["api_url"] == f"{base}/api"
            deployment = _api_get(f"{base}/api/deployments/name/newswatch-scheduled-ingest/newswatch")
            runs = _api_post(
                f"{base}/api/flow_runs/filter", {"deployments": {"id": {"any_": [deployment["id"]]}}}
            )
            done = [r for r in runs if r["state_type"] == "COMPLETED"]
            assert done and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", done[0]["name"]), runs

            def messages() -> list[str]:  # sent in batches: the last ones come as the run's process ends
                logs = _api_post(
                    f"{base}/api/logs/filter", {"logs": {"flow_run_id": {"any_": [done[0]["id"]]}}}
                )
                return [entry["message"] for entry in logs]

            serve.wait_until(lambda: any(m.startswith("published ") for m in messages()), "no log lines")
            messages = messages()
            for stage in ("polled 2 feeds", "fetched ", "alerts: ", "published "):
                assert any(m.startswith(stage) for m in messages), (stage, messages)

            # The weekly report is a deployment of its own; run it now instead of waiting for Monday.
            weekly = _api_get(f"{base}/api/deployments/name/newswatch-report/newswatch-report")
            assert weekly["schedules"][0]["schedule"]["cron"] == "0 7 * * MON"
            _api_post(f"{base}/api/deployments/{weekly['id']}/create_flow_run", {})
            serve.wait_until(lambda: report.exists() and smtp.messages, "no report written and sent")
            code = serve.stop(signal.SIGINT)
        finally:
            serve.kill()
    assert code == 130
    out = serve.out
    assert "Traceback" not in out and "CancelledError" not in out and "INFO" not in out, out
    for expected in (
        f"  config     {cfg}",
        f"  warehouse  {db}",
        "  schedule   every 6 s; each run stops after 30 min",
        f"  report     cron '0 7 * * MON' (UTC): last 4w to {report}, emailed via desk",
        f"  ui         http://127.0.0.1:{port}/deployments/deployment/",
        "newswatch serve: SIGINT received, stopping ...",
        "newswatch serve: stopped",
    ):
        assert expected in out, out
    assert " run 1 completed: " in out, out
    assert not _port_open(port), "the local Prefect server outlived serve"


@pytest.mark.slow
def test_a_run_past_its_time_limit_alerts_once_and_recovery_is_noted(tmp_path, prefect_server):
    """Under serve (on the Prefect server PREFECT_API_URL names): a run that goes past
    run_timeout_minutes is stopped, recorded as timed_out, and raises one operational alert to a
    local Slack endpoint; once runs complete again a recovery note follows. SIGTERM ends serve (0)."""
    from flows.demo.sinks import SlackSink
    from tests.helpers_http import LocalServer, Reply
    from tests.test_stop_and_crash import rss, story

    db = tmp_path / "wh" / "newswatch.duckdb"
    with LocalServer() as site, SlackSink() as slack:
        site.routes["/feed.xml"] = Reply(200, rss([("Interceptor test 1", site.url("/s1.html"), "s1")]), {})
        site.routes["/s1.html"] = Reply(200, story(1), {"Content-Type": "text/html"}, delay=60)  # hangs
        cfg = tmp_path / "serve.toml"
        cfg.write_text(
            f"""
[warehouse]
path = "{db}"
[fetch]
allow_private_hosts = true
timeout = 120
[extract]
workers = 1
[schedule]
interval_minutes = 0.1
run_timeout_minutes = 0.05
[health]
alert_channels = ["ops"]
[channels.ops]
type = "slack"
webhook_url_env = "NEWSWATCH_TEST_OPS_HOOK"
[[feeds]]
name = "wire"
url = "{site.url("/feed.xml")}"
""",
            encoding="utf-8",
        )
        env = _env(
            tmp_path,
            PREFECT_API_URL=prefect_server.api_url,
            PREFECT_RUNNER_POLL_FREQUENCY="2",
            NEWSWATCH_TEST_OPS_HOOK=slack.url,
        )
        serve = Serve(cfg, env)
        try:
            serve.wait_until(lambda: _runs(db, "timed_out") >= 1, "no run timed out")
            serve.wait_until(lambda: slack.posts, "no operational alert")
            site.routes["/s1.html"] = Reply(200, story(1), {"Content-Type": "text/html"})  # answers again
            serve.wait_until(
                lambda: _runs(db) >= 1 and any("recovered" in p.get("text", "") for p in slack.posts),
                "no recovery note",
            )
            code = serve.stop(signal.SIGTERM)
        finally:
            serve.kill()
    assert code == 0
    texts = [p.get("text", "") for p in slack.posts]
    assert "timed out" in texts[0] and "run_timeout_minutes" in texts[0], texts
    assert [x for x in texts if "recovered" in x], texts
    # Once per streak: runs that timed out meanwhile said nothing more. (On a slow host, 3 x the
    # interval may pass with no completed run: that is alerted once too.)
    assert len([x for x in texts if "timed out" in x]) == 1, texts
    out = serve.out
    assert "Traceback" not in out, out
    assert " timed out: " in out or "timed_out" in out, out
