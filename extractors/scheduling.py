"""Thread scheduling for work that must not cut into page extraction."""

from __future__ import annotations

import os


def yield_on_wakeup() -> None:
    """Schedule the calling thread as SCHED_BATCH (Linux; elsewhere nothing changes): the same share
    of the CPU, but its wake-ups do not preempt a running process, whose caches would otherwise be
    refilled after each one. For threads that feed extraction rather than do it: fetching (a
    thread wakes about a dozen times a page: socket reads, the GIL, host slots) and a worker's
    thread that receives its next pages.

    Measured beside two extraction processes, pages fetched at 100 a second, six alternating rounds:
    the workers were preempted ~2 times a page instead of 6-9, and fetching took 0.51-0.61 ms of CPU
    a page instead of 0.67-0.78 (fewer switches between the fetching threads themselves). In the
    throughput bench, the workers' preemptions: 17.0-19.1k a run with neither, 12.4-14.5k with the
    fetching threads, 10.5-11.7k with the receiving threads as well. The dispatcher thread, or the
    bench's site server, as SCHED_BATCH made no difference to them."""
    if hasattr(os, "SCHED_BATCH"):
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError:  # not allowed here (a sandbox): the work is the same, only costs more
            pass
