"""The local Prefect server serve starts when PREFECT_API_URL is not set: `prefect server start` on
127.0.0.1 in its own session, its output to a log file, stopped on the way out.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from flows.errors import UsageError

PORT_ENV = "NEWSWATCH_PREFECT_PORT"
DEFAULT_PORT = 4200
HOST = "127.0.0.1"
SERVER_START_TIMEOUT_S = 120.0  # measured ~12-15 s here; generous for a loaded machine
SERVER_STOP_TIMEOUT_S = 15.0


class ServeError(Exception):
    """serve cannot start or keep going (port taken, server would not start, API unreachable)."""


def local_port(environ: dict[str, str] | os._Environ = os.environ) -> int:
    """The port of the local Prefect server: $NEWSWATCH_PREFECT_PORT, else 4200."""
    raw = environ.get(PORT_ENV, "").strip()
    if not raw:
        return DEFAULT_PORT

    try:
        port = int(raw)
    except ValueError:
        raise UsageError(f"{PORT_ENV}={raw!r}: expected a port number") from None
    if not 1 <= port <= 65535:
        raise UsageError(f"{PORT_ENV}={raw!r}: expected a port number between 1 and 65535")
    return port


def prefect_home(environ: dict[str, str] | os._Environ = os.environ) -> Path:
    return Path(environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


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
