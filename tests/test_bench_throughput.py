"""The throughput bench: its CPU accounting (ProcessMonitor) and the summary of repeated runs."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from bench.throughput import ProcessMonitor, Ratios, cores, print_repeats

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


def test_a_run_is_steady_when_its_two_ceilings_agree_within_a_tenth():
    assert Ratios(0.8, 0.8, 80.0, (50.0, 46.0)).steady
    assert not Ratios(0.8, 0.8, 80.0, (39.0, 23.0)).steady
    assert not Ratios(0.0, 0.0).steady  # skipped: nothing was measured


def test_repeats_pool_every_run_rate_against_every_ceiling_and_count_the_steady_runs(capsys):
    n = cores()
    runs = [
        Ratios(0.70, 0.71, 35.0 * n, (50.0, 40.0)),  # unsteady: 20% apart
        Ratios(0.80, 0.81, 40.0 * n, (50.0, 48.0)),
        Ratios(0.90, 0.91, 45.0 * n, (50.0, 49.0)),
    ]
    print_repeats(runs)
    out = capsys.readouterr().out
    assert re.search(r"steady host \(ceilings within 10%\) +2 of 3; their median 0\.850", out)
    # the median rate, 40 pages/s a core, against the median of the six ceilings, 49.5
    assert re.search(r"pooled: median rate / \(median ceiling x cores\) +0\.808 ", out)
