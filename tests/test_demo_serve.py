"""`newswatch demo --serve` as a real process: its site, SMTP server and Slack endpoint answer at
what its config names, what they receive is printed, a real `run` works with that config, and
Ctrl-C (SIGINT) or SIGTERM ends it with one line and 130 or 143."""

from __future__ import annotations

import fcntl
import json
import os
import queue
import re
import signal
import smtplib
import subprocess
import threading
import time
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import pytest

from flows.settings import load_settings
from tests.e2e import NEWSWATCH, user_env

READY = "What the alert channels receive shows here:"


class DemoServe:
    """`newswatch demo --serve` in a process; its stdout read line by line in a thread."""

    def __init__(self, tmp_path: Path, env: dict | None = None):
        self.db = tmp_path / "demo" / "newswatch.duckdb"
        self.proc = subprocess.Popen(
            [str(NEWSWATCH), "demo", "--serve", "--db", str(self.db)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.banner = self.until(READY)
        self.config = Path(re.search(r"^  config\s+(\S+)$", self.banner, re.M).group(1))
        self.slack_url = re.search(r"^  export NEWSWATCH_DEMO_SLACK_WEBHOOK=(\S+)$", self.banner, re.M).group(
            1
        )

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def until(self, text: str, timeout: float = 60) -> str:
        """Everything printed up to and including the first line holding `text`."""
        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.proc.poll() is None, f"demo --serve ended: {self.proc.stderr.read()}"
                continue
            seen.append(line)
            if text in line:
                return "".join(seen)
        raise AssertionError(f"{text!r} not printed within {timeout} s; printed: {''.join(seen)!r}")

    def stop(self, signum: int) -> tuple[int, str]:
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=30)
        return code, self.proc.stderr.read()


@pytest.fixture
def demo(tmp_path):
    d = DemoServe(tmp_path)
    yield d
    if d.proc.poll() is None:
        d.proc.kill()
        d.proc.wait()


def test_the_config_names_a_working_site_smtp_server_and_slack_endpoint(demo, monkeypatch):
    monkeypatch.setenv("NEWSWATCH_DEMO_SLACK_WEBHOOK", demo.slack_url)
    settings = load_settings(demo.config)  # secrets checked: the printed export line is enough
    assert settings.warehouse.path == demo.db and settings.schedule.interval_minutes
    statuses = {}
    for feed in settings.feeds:
        try:
            with urllib.request.urlopen(feed.url, timeout=10) as r:
                statuses[feed.name] = r.status
        except urllib.error.HTTPError as e:
            statuses[feed.name] = e.code
    assert statuses["wire"] == statuses["defense"] == 200 and statuses["gone"] == 500

    email = settings.channels["demo-email"]
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = (
        email.sender,
        email.recipients[0],
        "Hello \x1b[2Jthere",
    )
    message.set_content("body")
    with smtplib.SMTP(email.smtp_host, email.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)
    line = demo.until("email")
    assert "Hello" in line and "there" in line and "\x1b" not in line

    body = json.dumps({"text": "posted \x07to slack"}).encode()
    request = urllib.request.Request(demo.slack_url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200
    line = demo.until("slack")
    assert "posted" in line and "to slack" in line and "\x07" not in line


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_stops_it_with_one_line(demo, signum, code):
    got, err = demo.stop(signum)
    assert got == code
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "stopped" in err


def test_a_warehouse_in_use_is_not_reset(tmp_path):
    db = tmp_path / "demo" / "newswatch.duckdb"
    db.parent.mkdir()
    db.write_bytes(b"in use")
    lock = os.open(f"{db}.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        done = subprocess.run(
            [str(NEWSWATCH), "demo", "--serve", "--db", str(db)], capture_output=True, text=True, timeout=60
        )
    finally:
        os.close(lock)
    assert done.returncode == 1 and "another newswatch process is writing" in done.stderr
    assert db.read_bytes() == b"in use"


@pytest.mark.slow
def test_run_works_with_the_printed_config(tmp_path, prefect_harness):
    demo = DemoServe(tmp_path)
    try:
        env = user_env(tmp_path / "prefect-home", api_url=prefect_harness)
        env["NEWSWATCH_DEMO_SLACK_WEBHOOK"] = demo.slack_url
        done = subprocess.run(
            [str(NEWSWATCH), "run", "--config", str(demo.config)],
            cwd=tmp_path / "demo",
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert "stored" in done.stdout
        demo.until("email")  # the alerts reached the demo's SMTP server and Slack endpoint
        demo.until("slack")
        assert demo.db.exists()
    finally:
        code, err = demo.stop(signal.SIGINT)
    assert code == 130
