"""The Prefect API servers newswatch starts, as child processes that cannot outlive it.

- `LocalPrefectServer`: `prefect server start` (UI and scheduler) on a fixed port, for `serve` when
  PREFECT_API_URL is not set. The UI's own API address follows the port.
- `RunServer`: the API alone (no UI, no scheduler: what Prefect's own "ephemeral" mode starts) on a
  free port, for one run of `newswatch run` or `demo` when no server is given. newswatch starts it
  itself, instead of letting Prefect do it, so that it can start while the run's other start-up
  work goes on, take the time a busy host needs, and die with the run.

Both run in their own session (a terminal's Ctrl-C reaches newswatch alone, which stops them in
order) and, on Linux, get SIGTERM from the kernel when newswatch dies, even by kill -9. Their output
goes to a log file in PREFECT_HOME, never to the terminal.
"""

from __future__ import annotations

import ctypes
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
SERVER_STOP_TIMEOUT_S = 15.0
_PR_SET_PDEATHSIG = 1


class PrefectServerError(Exception):
    """A Prefect API server cannot be started or reached; the message says what to do."""


def local_port(environ: dict[str, str] | os._Environ = os.environ) -> int:
    """The port of serve's local Prefect server: $NEWSWATCH_PREFECT_PORT, else 4200."""
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


def api_healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as r:
            return r.status == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


try:  # looked up here, not in the child between fork and exec
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: servers are stopped on newswatch's way out instead
    _prctl = None


def die_with_parent() -> None:
    """In a child before exec: its own session, and SIGTERM when the parent dies (Linux)."""
    os.setsid()
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


class _ServerProcess:
    """A Prefect API server in a child process; `launch()` starts it, `wait_ready()` waits for
    /api/health, `stop()` ends it (safe to call twice)."""

    log_name = "newswatch-server.log"
    what = "the Prefect server"

    def __init__(self, port: int, home: Path, host: str = HOST):
        self.host, self.port, self.home = host, port, home
        self.log_path = home / self.log_name
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api"

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "PREFECT_HOME": str(self.home)}
        env.pop("PREFECT_API_URL", None)
        return env

    def launch(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                preexec_fn=die_with_parent,
            )

    def wait_ready(self, timeout: float, give_up=None) -> bool:
        """True once the API answers; False if `give_up()` became true first (the server is then
        stopped). Raises PrefectServerError when it exits or stays silent past `timeout`."""
        deadline = time.monotonic() + timeout
        while not api_healthy(self.api_url, timeout=1.0):
            if give_up is not None and give_up():
                self.stop()
                return False
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                self._proc = None
                raise PrefectServerError(
                    f"{self.what} exited while starting (exit code {code}): {self._last_line()} "
                    f"(its log: {self.log_path})"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise PrefectServerError(
                    f"{self.what} did not answer within {timeout:.0f} s (a busy host?); its log is "
                    f"{self.log_path}. Try again, allow more time with "
                    f"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or point PREFECT_API_URL at a "
                    "running Prefect server"
                )
            time.sleep(0.2)
        return True

    def start(self, timeout: float = 120.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def _last_line(self) -> str:
        """The last non-empty line of the server's log: usually the error that stopped it."""
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return "no log"
        return next((ln.strip() for ln in reversed(lines) if ln.strip()), "empty log")[:300]

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL if it lingers."""
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

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalPrefectServer(_ServerProcess):
    """`prefect server start` with its UI on a fixed port (serve's)."""

    what = "the local Prefect server"

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

    def _env(self) -> dict[str, str]:
        # Without these the UI's settings endpoint tells the browser to call the API on 4200.
        return {
            **super()._env(),
            "PREFECT_UI_API_URL": self.api_url,
            "PREFECT_SERVER_API_HOST": self.host,
            "PREFECT_SERVER_API_PORT": str(self.port),
        }

    def launch(self) -> None:
        if not port_free(self.host, self.port):
            raise PrefectServerError(
                f"port {self.port} on {self.host} is already in use (another Prefect server?). "
                f"To use that server: PREFECT_API_URL=http://{self.host}:{self.port}/api newswatch serve; "
                f"to start ours elsewhere: {PORT_ENV}=<port> newswatch serve"
            )
        super().launch()


class RunServer(_ServerProcess):
    """The API alone on a free port, for one run (the same server Prefect's ephemeral mode starts)."""

    log_name = "newswatch-run-server.log"
    what = "the run's Prefect API server"

    def __init__(self, home: Path):
        super().__init__(free_port(), home)

    def _command(self) -> list[str]:
        import importlib.util

        prefect_dir = Path(importlib.util.find_spec("prefect").origin).parent  # no import of prefect
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(prefect_dir.parent),
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ]

    def _env(self) -> dict[str, str]:
        return {
            **super()._env(),
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
        }
