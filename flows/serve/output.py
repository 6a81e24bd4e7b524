"""What serve prints: one log-friendly line per event, stamped with local time."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import IO, Any


def _stamp(at: datetime | None = None) -> str:
    return (at or datetime.now()).astimezone().isoformat(timespec="seconds")


def run_line(result: Any, seconds: float, at: datetime | None = None) -> str:
    """One log-friendly line for a finished run (a flows.ingest.result.RunResult)."""
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
