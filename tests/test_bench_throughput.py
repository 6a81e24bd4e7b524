"""The throughput bench: its CPU accounting (ProcessMonitor) and the summary of repeated runs."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from bench.throughput import ProcessMonitor, Ratios, print_repeats

# Burns ~0.6 s of CPU at once, then stays alive, idle, until the monitor has found it.
BURN_THEN_WAIT = (
    "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\ntime.sleep(3)"
)


def test_a_process_started_during_the_run_counts_the_cpu_it_used_before_it_was_found():
    """Extraction workers start with the run and are found at the next scan of the process tree, up
    to a second later: the CPU they used before that is theirs, not "other processes"'."""
    child = None
    try:
        with ProcessMonitor(interval=0.1, rescan_every=1.0) as monitor:
            child = subprocess.Popen([sys.executable, "-c", BURN_THEN_WAIT])
            time.sleep(1.6)  # the child burns its CPU before the first scan that can see it
        assert monitor.cpu_of(child.pid) >= 0.5
        assert monitor.usage["workers"].cpu_s >= monitor.cpu_of(child.pid)
    finally:
        if child is not None:
            child.kill()
            child.wait()


def test_repeats_are_summed_up_for_both_ratios(capsys):
    print_repeats([Ratios(0.78, 0.79), Ratios(0.81, 0.82), Ratios(0.79, 0.805)])
    out = capsys.readouterr().out
    assert re.search(r"whole ingest wall: median +0\.790 \(min 0\.780, max 0\.810\); 1 of 3 runs", out)
    assert re.search(r"per-run overhead: median +0\.805 \(min 0\.790, max 0\.820\); 2 of 3 runs", out)
