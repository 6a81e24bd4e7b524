"""Quiet re-run: ingest a site of 1,000 feeds once, then again with nothing changed (every feed 304).

The second run's wall time is what a scheduled run costs on a quiet day. Prefect's fixed start-up
(the ephemeral API server, paid once per process) is timed on its own with a trivial flow first;
its per-run overhead (a flow and task runs created through the API) is inside the second run and
also reported alone. The first run is set-up, not measured: it uses one page batch.

    python -m bench.quiet_rerun [--quick] [--feeds 1000] [--items 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.site import ROOT, SiteServer, build_site, loopback_hosts, shared_available, write_config
from bench.throughput import STAGES as STAGE_NAMES
from bench.throughput import ProcessMonitor, cpu_seconds, mib, prefect_startup, print_cores, print_table

TARGET_S = 5.0


def run(feeds: int, items: int, hosts: int, per_host: int) -> None:
    pages = feeds * items
    print(f"== quiet re-run: {feeds} feeds x {items} items, {hosts} hosts ==")
    print_cores()
    if not shared_available():
        print("skipped: ../shared/benchmarks/extraction is absent (the site is built from its pages)")
        return
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp:
        tmp_path = Path(tmp)
        site = build_site(
            tmp_path / "site", pages=pages, feeds=feeds, hosts=loopback_hosts(hosts), copy_share=0.0
        )
        with SiteServer(site.root, site.hosts) as server:
            db = tmp_path / "wh" / "newswatch.duckdb"
            cfg = write_config(
                tmp_path / "bench.toml", site, server.port, db, per_host=per_host, page_batch=pages
            )
            first, second = prefect_startup()
            from flows.ingest.oneshot import run_ingest
            from flows.settings import load_settings

            settings = load_settings(cfg)
            start = time.perf_counter()
            run1 = run_ingest(settings, cfg, None)
            wall1 = time.perf_counter() - start
            server_cpu0 = cpu_seconds(server.pid)
            with ProcessMonitor(exclude={server.pid}) as monitor:
                start = time.perf_counter()
                run2 = run_ingest(settings, cfg, None)
                wall2 = time.perf_counter() - start
            server_cpu = cpu_seconds(server.pid) - server_cpu0
    c1, c2 = run1.counts, run2.counts
    print(
        f"run 1 (set-up): {wall1:.1f} s, {c1['feeds_polled']} feeds polled, {c1['pages_fetched']} pages fetched,"
        f" {c1['articles_stored']} stored, {c1['copies']} copies, {c1['off_topic']} off topic,"
        f" {c1['extract_empty']} empty"
    )
    print(
        f"run 2: status {run2.status}, {c2['feeds_due']} feeds due, {c2['feeds_unchanged']} answered 304,"
        f" {c2['feeds_failed']} failed, {c2['entries_new']} new entries, {c2['pages_fetched']} pages fetched"
    )
    t = run2.timings
    accounted = sum(t.get(s, 0.0) for s in STAGE_NAMES)
    rows = [(stage, f"{t[stage]:6.2f} s") for stage in STAGE_NAMES if stage in t]
    rows += [
        ("Prefect, this run (wall - stages)", f"{wall2 - accounted:6.2f} s"),
        ("run 2 wall (call to return)", f"{wall2:6.2f} s"),
        ("Prefect start-up (first trivial flow)", f"{first:6.2f} s (not counted in run 2)"),
        ("Prefect per-run overhead (2nd trivial flow)", f"{second:6.2f} s (counted in run 2)"),
        (
            f"target: under {TARGET_S:g} s for {feeds} feeds",
            f"{'met' if wall2 < TARGET_S else 'MISSED'} ({wall2:.2f} s; {wall2 / feeds * 1000:.2f} ms per feed)",
        ),
    ]
    for group in ("flow", "workers", "prefect server"):
        u = monitor.usage.get(group)
        if u:
            rows.append((f"{group} (run 2)", f"peak RSS {mib(u.peak_rss):>9}   CPU {u.cpu_s:6.1f} s"))
    rows.append(("site server CPU (run 2)", f"{server_cpu:6.1f} s"))
    print_table(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quiet_rerun", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one item per feed (run 1 is quicker)")
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, help="items (pages) per feed; default 2, 1 with --quick")
    parser.add_argument("--hosts", type=int, default=10, help="loopback addresses to spread feeds over")
    parser.add_argument("--per-host", type=int, default=4, help="[fetch] per_host")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    run(args.feeds, args.items or (1 if args.quick else 2), args.hosts, args.per_host)


if __name__ == "__main__":
    main()
