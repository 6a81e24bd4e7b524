"""The throughput bench: its CPU accounting (ProcessMonitor), the parallel extraction measurement and the
summary of repeated runs."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.site import Site, SitePage
from bench.throughput import (
    ProcessMonitor,
    Ratios,
    Usage,
    core_budget,
    cores,
    parallel_extraction,
    print_repeats,
)

SEEDS = Path(__file__).resolve().parent.parent / "corpus" / "seed"

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


def test_the_core_budget_adds_up_to_the_wall_times_the_cores_and_opens_with_the_ratio():
    # 2,000 pages in 25 s on 2 cores against a one-process ceiling of 50 pages/s: ratio 0.8
    usage = {"flow": Usage(cpu_s=3.5), "workers": Usage(cpu_s=44.0), "prefect server": Usage(cpu_s=1.0)}
    rows = core_budget(2000, 50.0, 25.0, 2, usage, server_cpu=0.5, fingerprint_s=0.0007)
    seconds = {what: s for what, s, _ in rows}
    assert sum(seconds.values()) == pytest.approx(50.0)
    assert rows[0][1] / 50.0 == pytest.approx(0.8)
    assert seconds["fingerprints, in the workers"] == pytest.approx(1.4)
    assert seconds["the rest of the workers' CPU"] == pytest.approx(44.0 - 40.0 - 1.4)
    assert seconds["flow, Prefect server, site server"] == pytest.approx(5.0)
    assert seconds["idle, or other processes"] == pytest.approx(50.0 - 44.0 - 5.0)


def test_workers_faster_than_the_ceiling_show_as_a_negative_rest():
    usage = {"workers": Usage(cpu_s=38.0)}
    rows = core_budget(2000, 50.0, 25.0, 2, usage, server_cpu=0.0, fingerprint_s=0.0)
    assert dict((w, s) for w, s, _ in rows)["the rest of the workers' CPU"] == pytest.approx(-2.0)


def _seed_site(root: Path, missing: int = 0) -> Site:
    """A site of article pages made from the seed documents (`missing` of them not written)."""
    site = Site(root=root, hosts=["127.0.0.1"], feed_paths=[])
    for i, seed in enumerate(sorted(SEEDS.glob("*.txt"))):
        path = f"/p{i}.html"
        paras = "".join(f"<p>{p}</p>" for p in seed.read_text(encoding="utf-8").split("\n\n") if p.strip())
        if i >= missing:
            (root / path.lstrip("/")).write_text(
                f"<html><head><title>Seed {i}</title></head><body><article>{paras}</article></body></html>",
                encoding="utf-8",
            )
        site.pages.append(SitePage(path=path, feed=0, title=f"Seed {i}", source=i))
    return site


def test_all_cores_extract_the_ceiling_pages_at_once(tmp_path):
    """The same pages as the ceiling, split between processes that extract at the same time."""
    site = _seed_site(tmp_path)
    pages, rate = parallel_extraction(site, len(site.pages), 2)
    assert pages == len(site.pages) == 5  # both shares, every page once
    assert rate > 0


def test_a_process_that_cannot_start_its_share_fails_the_measurement_at_once(tmp_path):
    site = _seed_site(tmp_path, missing=1)  # the first share's first page is not there
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="failed to start"):
        parallel_extraction(site, len(site.pages), 2)
    assert time.perf_counter() - start < 60  # not the barrier's 120 s timeout
