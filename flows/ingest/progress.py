"""Progress of a long run on a terminal; silent when stderr is not a terminal (logs, cron, serve)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, stream=None, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = 0.0

    def update(self, stage: str, done: int, total: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and done < total and now - self._last < 0.1:
            return  # redraw at most ten times a second
        self._last = now
        self.stream.write(f"\r\x1b[K  {stage}: {done}/{total}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
