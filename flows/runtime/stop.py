"""Stopping a run cleanly: on Ctrl-C, SIGTERM or its time limit, a run stops taking new work,
stores what it has judged, records why it stopped, publishes, and returns.

One `Stop` per process (`STOP`): signal handlers and the time-limit timer set it; the flow reads it
between batches. A second Ctrl-C while stopping ends the process at once (the next run closes the
run's row as crashed and takes it from there).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager


class Stop:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.status: str | None = None  # interrupted | timed_out
        self.why = ""
        self.signum: int | None = None

    def request(self, status: str, why: str, signum: int | None = None) -> bool:
        """Ask the run to stop; the first request wins. False if one was already made."""
        if self._event.is_set():
            return False
        self.status, self.why, self.signum = status, why, signum
        self._event.set()
        return True

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    def reset(self) -> None:
        self.__init__()

    def clear_time_limit(self) -> None:
        """Forget a time limit's request once its run is over (the next run has its own)."""
        if self.status == "timed_out":
            self.reset()

    def exit_code(self, default: int) -> int:
        """130 after SIGINT, 143 after SIGTERM, else `default`."""
        if self.signum is None:
            return default
        return 128 + self.signum


STOP = Stop()
_SAY: dict = {}  # the line-printer of the outermost on_signals (the command's)


@contextmanager
def on_signals(say=None):
    """Route SIGINT and SIGTERM to STOP while in the block; `say(line)` is told once. The previous
    handlers come back after. Outside the main thread nothing changes (signals go to it only).

    The ingest flow enters it again inside its run: Prefect's flow engine installs its own SIGTERM
    handler for a flow run (it raises an exception wherever the run is), and a stop must be clean."""
    say = say or _SAY.get("say")
    if say is not None:
        _SAY["say"] = say

    def handler(signum, _frame):
        name = signal.Signals(signum).name
        if STOP.request("interrupted", f"stopped by {name}", signum):
            if say:
                say(f"{name} received: stopping after the work in hand is stored ...")
        elif signum == signal.SIGINT:  # a second Ctrl-C: the user does not want to wait
            os._exit(128 + signum)

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield STOP
        return
    try:
        yield STOP
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def time_limit(minutes: float) -> threading.Timer:
    """A started timer that asks the run to stop as timed out after `minutes`."""
    timer = threading.Timer(
        minutes * 60, lambda: STOP.request("timed_out", f"went past run_timeout_minutes = {minutes:g}")
    )
    timer.daemon = True
    timer.start()
    return timer


def stderr_line(line: str) -> None:
    print(f"newswatch run: {line}", file=sys.stderr, flush=True)
