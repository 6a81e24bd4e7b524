"""End-to-end throughput of one full `ingest` over a generated local site, against the extraction ceiling.

A site of N article pages (built from the extraction benchmark's real pages, see bench/site.py)
across M feeds on several loopback hosts is served by its own process. The bench times a trivial
flow first (Prefect's fixed start-up: the ephemeral API server), then one full ingest, and prints
pages/s, the run's stage timings, CPU per process, peak RSS, and the extraction ceiling:
`extract_page` alone over a sample of the same pages in one process, times the number of cores.

    python -m bench.throughput [--quick] [--pages 2000] [--feeds 100]
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.connection
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import psutil

from bench.site import (
    MARKER_CODE,
    ROOT,
    Site,
    SiteServer,
    build_site,
    loopback_hosts,
    shared_available,
    write_config,
)

STAGES = (
    "open_and_seed",
    "poll",
    "ledger",
    "fetch_extract_judge",
    "write",
    "revisions",
    "alerts",
    "publish",
    "artifacts",
)
INSIDE = {
    "fetch_extract_judge": ("fetch_task_s", "extract_task_s", "build_s", "judge", "match", "write_batches")
}
TARGET_RATIO = 0.8


STEADY_SPREAD = 0.10  # the two ceiling measurements of a run differ by more: the host's speed moved


class Ratios(NamedTuple):
    """End to end / ceiling, two ways. `whole`: pages over the ingest call's whole wall time.
    `beyond_prefect`: over that time less Prefect's own cost of one flow run (creating it, setting
    its states: the wall time of a trivial flow run just before), which is fixed like its start-up
    and not counted either. Both 0.0 when the bench was skipped. `rate` (pages/s end to end) and
    `ceilings` (the one-process ceiling, pages/s, before and after the run) let several runs be
    pooled."""

    whole: float
    beyond_prefect: float
    rate: float = 0.0
    ceilings: tuple[float, ...] = ()
    vs_parallel: float = 0.0  # end to end / all cores extracting at once (not the target's ceiling)

    @property
    def steady(self) -> bool:
        """The host ran at one speed around this run: its two ceiling measurements agree."""
        return bool(self.ceilings) and ceiling_spread(self.ceilings) <= STEADY_SPREAD


def ceiling_spread(ceilings: tuple[float, ...]) -> float:
    """How far apart the ceiling measurements are, as a share of the faster one."""
    return (max(ceilings) - min(ceilings)) / max(ceilings)


def cores() -> int:
    return os.cpu_count() or 1


def print_cores() -> None:
    """Cores, and the load already on them (other work on the machine skews every figure)."""
    print(
        f"machine: {cores()} cores (os.cpu_count), {len(os.sched_getaffinity(0))} usable by this process;"
        f" load average before: {os.getloadavg()[0]:.1f} (1 min)"
    )


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


@dataclass
class Usage:
    """Peak RSS and CPU seconds of a group of processes over a measured interval."""

    peak_rss: float = 0.0  # peak of the group's summed RSS
    cpu_s: float = 0.0
    processes: int = 0


@dataclass
class ProcessMonitor:
    """Samples this process and its descendants (minus `exclude`) in a thread.

    Groups: "flow" (this process), "prefect server" (the ephemeral API server), "workers"
    (everything else: extraction workers and their forkserver, Dask scheduler/nanny/workers).
    A process started after the monitor counts all its CPU, though it is found up to `rescan_every`
    late; one alive before counts what it used after the monitor started. One that ends first
    loses what it used after its last sample (at most `interval` of its CPU): the extraction workers
    stop right after the run, so the end of their last work may go uncounted and read as idle (in a
    run of session 17, ~0.35 core-seconds, against the idle time in /proc/stat). The sampler runs in
    the flow process and its CPU counts as the flow's, so it is kept cheap: the list of descendants
    (a scan of all of /proc) is renewed every `rescan_every`, memory and CPU of the known ones read
    every `interval`. Measured beside five processes: ~10 ms of CPU
    a second with 0.2 s and 1 s, ~4 with 0.5 s and 3 s (0.2 s less of the flow's CPU in a run).
    """

    exclude: set[int] = field(default_factory=set)
    interval: float = 0.5
    rescan_every: float = 3.0
    usage: dict[str, Usage] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _cpu0: dict[int, float] = field(default_factory=dict)
    _cpu: dict[int, tuple[str, float]] = field(default_factory=dict)
    _procs: dict[int, tuple[psutil.Process, str]] = field(default_factory=dict)
    _scanned: float = 0.0
    _before: set[int] = field(default_factory=set)  # the processes alive when the monitor started

    def _group(self, proc: psutil.Process) -> str:
        if proc.pid == os.getpid():
            return "flow"
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            return "workers"
        return "prefect server" if "uvicorn" in cmd else "workers"

    def _rescan(self) -> None:
        me = psutil.Process()
        for proc in [me, *me.children(recursive=True)]:
            if proc.pid not in self.exclude and proc.pid not in self._procs:
                self._procs[proc.pid] = (proc, self._group(proc))
        self._scanned = time.monotonic()

    def sample(self) -> None:
        if time.monotonic() - self._scanned >= self.rescan_every:
            self._rescan()
        rss: dict[str, float] = {}
        for pid, (proc, group) in list(self._procs.items()):
            try:
                with proc.oneshot():
                    mem = proc.memory_info().rss
                    times = proc.cpu_times()
            except psutil.Error:
                del self._procs[pid]
                continue
            cpu = times.user + times.system
            if pid not in self._cpu0:
                self._cpu0[pid] = cpu if pid in self._before else 0.0
            self._cpu[pid] = (group, cpu - self._cpu0[pid])
            rss[group] = rss.get(group, 0.0) + mem
        for group, value in rss.items():
            u = self.usage.setdefault(group, Usage())
            u.peak_rss = max(u.peak_rss, value)
        total = self.usage.setdefault("total", Usage())
        total.peak_rss = max(total.peak_rss, sum(rss.values()))

    def cpu_of(self, pid: int) -> float:
        """CPU seconds counted for one process so far (0.0 if it was never found)."""
        return self._cpu.get(pid, ("", 0.0))[1]

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> ProcessMonitor:
        self._rescan()
        self._before = set(self._procs)
        self.sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
        for group, cpu in self._cpu.values():
            u = self.usage.setdefault(group, Usage())
            u.cpu_s += cpu
            u.processes += 1
            self.usage["total"].cpu_s += cpu
            self.usage["total"].processes += 1


def cpu_seconds(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def machine_cpu_seconds() -> float:
    """CPU seconds used on the whole machine so far (every process, every core)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def prefect_startup() -> tuple[float, float]:
    """(first trivial flow run, second trivial flow run) in seconds: start-up, then per-run overhead."""
    from flows.ingest.oneshot import one_shot_settings, prefect_defaults

    prefect_defaults()
    from prefect import flow, task

    @task
    def one() -> int:
        return 1

    @flow(name="bench-noop")
    def noop() -> int:
        return one.submit().result()

    out = []
    for _ in range(2):
        start = time.perf_counter()
        with one_shot_settings():  # as run_ingest runs the ingest flow
            noop()
        out.append(time.perf_counter() - start)
    return out[0], out[1]


def extraction_ceiling(site: Site, sample: int) -> tuple[int, float]:
    """(pages, pages/s) of `extract_page` in this process over the first `sample` pages of the site,
    given as the workers get them: the bytes as served, with the Content-Type the site sends."""
    paths = [site.root / p.path.lstrip("/") for p in site.pages[:sample]]
    extract, bodies = _extraction_of(paths)
    start = time.perf_counter()
    extract(bodies)
    return len(bodies), len(bodies) / (time.perf_counter() - start)


def _extraction_of(paths: list[Path]):
    """(a function extracting a list of page bodies, the bodies), imports done and caches warm."""
    from extractors.extract import extract_page
    from flows.demo.replay import CONTENT_TYPES

    content_type = CONTENT_TYPES[".html"]
    bodies = [p.read_bytes() for p in paths]

    def extract(pages: list[bytes]) -> None:
        for i, body in enumerate(pages):
            extract_page(body, f"http://example.org/{i}", content_type)

    extract(bodies[:1])  # imports and caches
    return extract, bodies


def parallel_extraction(site: Site, sample: int, processes: int) -> tuple[int, float]:
    """(pages, pages/s) of the same pages as `extraction_ceiling`, split between `processes`
    processes that extract at once, timed from when all are ready; pages as the processes counted
    them, so a share lost on the way cannot pass for a fast measurement. The ceiling assumes that N cores extract N times
    as fast as one; this shows what they deliver on this machine at this moment."""
    ctx = multiprocessing.get_context("spawn")  # this process has threads (Prefect, after the run)
    paths = [site.root / p.path.lstrip("/") for p in site.pages[:sample]]
    ready = ctx.Barrier(processes + 1)
    children, pending = [], set()
    for i in range(processes):
        mine, theirs = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_extract_share, args=(paths[i::processes], ready, theirs))
        child.start()
        theirs.close()
        children.append(child)
        pending.add(mine)
    try:
        try:
            ready.wait(timeout=120)
        except threading.BrokenBarrierError:
            raise RuntimeError("a process of the parallel extraction measurement failed to start") from None
        start = time.perf_counter()
        extracted = 0
        while pending:  # each child says how many pages it did; one that dies says nothing
            for conn in multiprocessing.connection.wait(list(pending)):
                try:
                    extracted += conn.recv()
                except EOFError:
                    raise RuntimeError("a process of the parallel extraction measurement failed") from None
                pending.discard(conn)
        return extracted, extracted / (time.perf_counter() - start)
    finally:
        for child in children:
            child.join(10)


def _extract_share(paths: list[Path], ready, done) -> None:
    try:
        extract, bodies = _extraction_of(paths)
    except BaseException:
        ready.abort()  # the parent stops waiting at once
        raise
    ready.wait(timeout=120)
    extract(bodies)
    done.send(len(bodies))


def fingerprint_cost(site: Site, sample: int) -> float:
    """Seconds per page of `fingerprint` (which the extraction workers run next to extraction, so the
    run's timings cannot show it apart) over the texts of the first `sample` pages, in this process."""
    from extractors.extract import extract_page
    from extractors.fingerprint import fingerprint
    from flows.demo.replay import CONTENT_TYPES

    texts = []
    for p in site.pages[:sample]:
        got = extract_page((site.root / p.path.lstrip("/")).read_bytes(), None, CONTENT_TYPES[".html"])
        if got is not None:
            texts.append(got.text)
    start = time.perf_counter()
    for text in texts:
        fingerprint(text)
    return (time.perf_counter() - start) / max(1, len(texts))


def check_articles(db: Path, site: Site) -> dict[str, int]:
    """Stored articles by whose marker their text holds: their own page's, another page's, none."""
    import duckdb

    by_path = {p.path: p for p in site.pages}
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT url, text FROM articles WHERE feed <> 'seed'").fetchall()
        copies = con.execute("SELECT count(*) FROM duplicates").fetchall()[0][0]
    finally:
        con.close()
    out = {"stored": len(rows), "own": 0, "other": 0, "none": 0, "duplicates": copies}
    for url, text in rows:
        page = by_path.get("/" + url.split("/", 3)[-1])
        found = set(MARKER_CODE.findall(text))
        if page is not None and page.code in found:
            out["own"] += 1
        elif found:
            out["other"] += 1
        else:
            out["none"] += 1
    return out


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


LABELS = {
    "judge": "judge (dedup)",
    "build_s": "build (topic, records)",
    "write_batches": "write (each batch, as judged)",
}


def print_timings(timings: dict[str, float], wall: float, fingerprint_s: float, pages: int) -> None:
    print("stage timings (RunResult.timings, wall seconds; indented: inside the stage above)")
    rows = []
    for stage in STAGES:
        if stage in timings:
            rows.append((stage, f"{timings[stage]:8.2f} s  {100 * timings[stage] / wall:5.1f} %"))
        for inner in INSIDE.get(stage, ()):
            if inner in timings:
                label = f"  {LABELS.get(inner, inner)}" + (
                    " (summed over tasks)" if inner.endswith("_task_s") else ""
                )
                rows.append((label, f"{timings[inner]:8.2f} s"))
            if inner == "extract_task_s":
                rows.append(
                    (
                        "    of which fingerprint (in the workers; timed apart)",
                        f"{fingerprint_s * pages:8.2f} s CPU ({1000 * fingerprint_s:.2f} ms/page)",
                    )
                )
    accounted = sum(timings.get(s, 0.0) for s in STAGES)
    rows.append(("Prefect, per run (wall - stages)", f"{wall - accounted:8.2f} s"))
    print_table(rows)


def run(
    pages: int,
    feeds: int,
    hosts: int,
    per_host: int,
    ceiling_sample: int,
    page_batch: int | None,
    extract_workers: int | None = None,
) -> Ratios | None:
    """Print the figures; the ratios to the ceiling, (0.0, 0.0) when skipped, None when the ingest
    itself failed (a missed target is not a failure)."""
    print(f"== end-to-end throughput: {pages} pages, {feeds} feeds, {hosts} hosts ==")
    print_cores()
    if not shared_available():
        print("skipped: ../shared/benchmarks/extraction is absent (the site is built from its pages)")
        return Ratios(0.0, 0.0)
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp:
        tmp_path = Path(tmp)
        start = time.perf_counter()
        site = build_site(tmp_path / "site", pages=pages, feeds=feeds, hosts=loopback_hosts(hosts))
        sizes = [(tmp_path / "site" / p.path.lstrip("/")).stat().st_size for p in site.pages]
        print(
            f"site: {pages} pages from {site.templates} real page templates ({site.copies} planted copies), median page {statistics.median(sizes) / 1024:.0f} KB,"
            f" generated in {time.perf_counter() - start:.1f} s"
        )
        n_ceiling, ceiling_before = extraction_ceiling(site, min(ceiling_sample, pages))
        _, parallel_before = parallel_extraction(site, n_ceiling, cores())
        fingerprint_s = fingerprint_cost(site, min(200, pages))
        with SiteServer(site.root, site.hosts) as server:
            db = tmp_path / "wh" / "newswatch.duckdb"
            cfg = write_config(
                tmp_path / "bench.toml",
                site,
                server.port,
                db,
                per_host=per_host,
                page_batch=page_batch,
                extract_workers=extract_workers,
            )
            first, second = prefect_startup()
            from flows.ingest.oneshot import run_ingest
            from flows.settings import load_settings

            settings = load_settings(cfg)
            server_cpu0, machine_cpu0 = cpu_seconds(server.pid), machine_cpu_seconds()
            with ProcessMonitor(exclude={server.pid}) as monitor:
                start = time.perf_counter()
                try:
                    result = run_ingest(settings, cfg, None)
                except Exception as exc:  # a benchmark reports a failed run; it does not hide it
                    print(
                        f"ingest FAILED after {time.perf_counter() - start:.1f} s: {type(exc).__name__}: {exc}"
                    )
                    print(
                        "(to time one page batch, without concurrent extract tasks: --page-batch N >= pages)"
                    )
                    return None
                wall = time.perf_counter() - start
            server_cpu = cpu_seconds(server.pid) - server_cpu0
            machine_cpu = machine_cpu_seconds() - machine_cpu0
        # Measured again after the run; the faster of the two counts (the stricter ceiling), so a
        # moment of other load on the machine during one measurement cannot flatter the ratio.
        _, ceiling_after = extraction_ceiling(site, min(ceiling_sample, pages))
        _, parallel_after = parallel_extraction(site, n_ceiling, cores())
        ceiling_one = max(ceiling_before, ceiling_after)
        parallel = max(parallel_before, parallel_after)
        ceiling = ceiling_one * cores()
        check = check_articles(db, site)
    c = result.counts
    processed = c["pages_fetched"]
    rate = processed / wall
    beyond = wall - second  # the ingest's wall time beyond Prefect's cost of a trivial flow run
    ratios = Ratios(
        rate / ceiling,
        processed / beyond / ceiling if beyond > 0 else 0.0,
        rate,
        (ceiling_before, ceiling_after),
        rate / parallel,
    )
    print(f"run: status {result.status}, {c['feeds_polled']} feeds polled, {c['entries_new']} new entries")
    print_table(
        [
            ("pages fetched", f"{processed}"),
            ("articles stored", f"{c['articles_stored']} (seed documents not counted)"),
            ("copies found", f"{c['copies']} (planted {site.copies})"),
            ("off topic / empty / failed", f"{c['off_topic']} / {c['extract_empty']} / {c['fetch_failed']}"),
            (
                "stored text holds the marker of",
                f"its own page {check['own']}, another page {check['other']}, none {check['none']}"
                f" (of {check['stored']})",
            ),
        ]
    )
    print_timings(result.timings, wall, fingerprint_s, processed)
    print("throughput")
    print_table(
        [
            ("Prefect start-up (first trivial flow)", f"{first:.2f} s (not counted below)"),
            ("Prefect per-run overhead (2nd trivial flow)", f"{second:.2f} s"),
            ("ingest wall (call to return)", f"{wall:.2f} s"),
            ("end to end", f"{rate:.1f} pages/s, {c['articles_stored'] / wall:.1f} stored articles/s"),
            (
                "extraction ceiling",
                f"{ceiling_one:.1f} pages/s in one process ({n_ceiling} pages; before the run"
                f" {ceiling_before:.1f}, after {ceiling_after:.1f}, the faster counts) x {cores()} cores"
                f" = {ceiling:.1f} pages/s",
            ),
            *(
                []
                if ratios.steady
                else [
                    (
                        "  HOST UNSTEADY",
                        f"the two ceiling measurements differ by {ceiling_spread(ratios.ceilings):.1%}: the"
                        " machine's speed moved, so the ratio below measures the host as much as newswatch",
                    )
                ]
            ),
            (
                f"  {cores()} processes extracting at once",
                f"{parallel:.1f} pages/s (the same pages split between them; before the run"
                f" {parallel_before:.1f}, after {parallel_after:.1f}, the faster counts) ="
                f" {parallel / ceiling_one:.2f} x the one-process ceiling, of {cores()} assumed",
            ),
            ("ratio end to end / ceiling", f"{ratios.whole:.3f} ({verdict(ratios.whole)})"),
            (
                "  beyond Prefect's per-run overhead",
                f"{ratios.beyond_prefect:.3f} ({verdict(ratios.beyond_prefect)}; {processed} pages in"
                f" {beyond:.2f} s, the ingest wall less the 2nd trivial flow)",
            ),
            (
                f"  end to end / {cores()} processes at once",
                f"{ratios.vs_parallel:.3f} (what the cores deliver now, for reading the ratio above;"
                " not the target's ceiling)",
            ),
        ]
    )
    print("processes (during the ingest call)")
    rows = []
    for group in ("flow", "workers", "prefect server", "total"):
        u = monitor.usage.get(group)
        if u:
            rows.append(
                (group, f"peak RSS {mib(u.peak_rss):>9}   CPU {u.cpu_s:7.1f} s   ({u.processes} processes)")
            )
    rows.append(("site server (own process)", f"CPU {server_cpu:7.1f} s"))
    others = machine_cpu - monitor.usage["total"].cpu_s - server_cpu
    rows.append(
        ("other processes on the machine", f"CPU {others:7.1f} s (not ours: other work skews the figures)")
    )
    rows.append(("CPU available (wall x cores)", f"CPU {wall * cores():7.1f} s"))
    print_table(rows)
    print_core_budget(
        core_budget(processed, ceiling_one, wall, cores(), monitor.usage, server_cpu, fingerprint_s)
    )
    return ratios


def core_budget(
    pages: int,
    ceiling_one: float,
    wall: float,
    n_cores: int,
    usage: dict[str, Usage],
    server_cpu: float,
    fingerprint_s: float,
) -> list[tuple[str, float, str]]:
    """Where the run's core-seconds (wall x cores) went, as (what, seconds, how it was found). The
    first row is the ceiling's own cost of the run's pages, so its share of the whole is the ratio
    end to end / ceiling; the rest is what keeps the ratio below 1, and the rows add up to the whole."""
    available = wall * n_cores
    extraction = pages / ceiling_one
    workers = usage["workers"].cpu_s if "workers" in usage else 0.0
    beside = sum(usage[g].cpu_s for g in ("flow", "prefect server") if g in usage) + server_cpu
    fingerprints = fingerprint_s * pages
    return [
        ("extraction at the ceiling's speed", extraction, f"{pages} pages / {ceiling_one:.1f} pages/s"),
        ("fingerprints, in the workers", fingerprints, "timed apart, per page, times the pages"),
        (
            "the rest of the workers' CPU",
            workers - extraction - fingerprints,
            "feed parsing, pipes, and each process slower while all cores work (negative: faster)",
        ),
        ("flow, Prefect server, site server", beside, "their CPU during the ingest call"),
        (
            "idle, or other processes",
            available - workers - beside,
            "what the cores did not give to the run, and the workers' CPU after their last sample",
        ),
    ]


def print_core_budget(rows: list[tuple[str, float, str]]) -> None:
    whole = sum(seconds for _, seconds, _ in rows)
    print(f"where the cores went ({whole:.1f} core-seconds: the ingest wall x cores)")
    print_table([(what, f"{seconds:6.1f} s {seconds / whole:6.1%}   {how}") for what, seconds, how in rows])


def verdict(ratio: float) -> str:
    return f"target >= {TARGET_RATIO:.2f}: {'met' if ratio >= TARGET_RATIO else 'MISSED'}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 pages, 20 feeds")
    parser.add_argument("--pages", type=int)
    parser.add_argument("--feeds", type=int)
    parser.add_argument("--hosts", type=int, default=8, help="loopback addresses to spread feeds over")
    parser.add_argument("--per-host", type=int, default=4, help="[fetch] per_host")
    parser.add_argument("--page-batch", type=int, help="[runner] page_batch (default: newswatch's)")
    parser.add_argument("--ceiling-sample", type=int, default=400, help="pages timed for the ceiling")
    parser.add_argument("--extract-workers", type=int, help="[extract] workers (default: one per core)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run N times, each in a fresh process with a fresh site and warehouse, and sum up the ratios",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    pages = args.pages or (300 if args.quick else 2000)
    feeds = args.feeds or (20 if args.quick else 100)
    os.chdir(ROOT)
    params = (
        pages,
        feeds,
        args.hosts,
        args.per_host,
        args.ceiling_sample,
        args.page_batch,
        args.extract_workers,
    )
    if args.repeat == 1:
        if run(*params) is None:
            raise SystemExit(1)
        return
    ratios = []
    for _ in range(args.repeat):
        ratio = run_in_fresh_process(params)
        if ratio is None:
            raise SystemExit(1)
        if not ratio.whole:  # skipped
            return
        ratios.append(ratio)
    print_repeats(ratios)


def run_in_fresh_process(params: tuple) -> Ratios | None:
    """`run` in a new interpreter, as `newswatch run` is: Prefect, its server and the extraction
    processes' forkserver all start anew (a second run in the same process would find the
    forkserver already started, which a one-shot run never does)."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.SimpleQueue()
    child = ctx.Process(target=_run_and_report, args=(params, out))
    child.start()
    child.join()
    return out.get() if child.exitcode == 0 and not out.empty() else None


def _run_and_report(params: tuple, out) -> None:
    out.put(run(*params))


def print_repeats(runs: list[Ratios]) -> None:
    """One run's ratio moves with the machine's other load (the ceiling is measured apart from the
    run): the spread of several runs, and how many met the target, for both ratios."""
    print(f"== ratio end to end / ceiling over {len(runs)} runs ==")
    rows = []
    for label, ratios in (
        ("whole ingest wall", [r.whole for r in runs]),
        ("beyond Prefect's per-run overhead", [r.beyond_prefect for r in runs]),
    ):
        met = sum(r >= TARGET_RATIO for r in ratios)
        rows += [
            (f"{label}: each run, in order", " ".join(f"{r:.3f}" for r in ratios)),
            (
                f"{label}: median",
                f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f});"
                f" {met} of {len(ratios)} runs >= {TARGET_RATIO:.2f}",
            ),
        ]
    if any(r.vs_parallel for r in runs):
        against = [r.vs_parallel for r in runs]
        rows += [
            ("end to end / all cores extracting at once: each run", " ".join(f"{r:.3f}" for r in against)),
            ("end to end / all cores extracting at once: median", f"{statistics.median(against):.3f}"),
        ]
    steady = [r.whole for r in runs if r.steady]
    rows.append(
        (
            f"runs on a steady host (ceilings within {STEADY_SPREAD:.0%})",
            f"{len(steady)} of {len(runs)}"
            + (f"; their median {statistics.median(steady):.3f}" if steady else ""),
        )
    )
    ceilings = [c for r in runs for c in r.ceilings]
    if ceilings:
        pooled = statistics.median(r.rate for r in runs) / (statistics.median(ceilings) * cores())
        rows.append(
            (
                "pooled: median rate / (median ceiling x cores)",
                f"{pooled:.3f} (the {len(runs)} runs' end-to-end rates against all {len(ceilings)}"
                " ceiling measurements: a run's own two count the faster, which a host whose speed"
                " moves biases low)",
            )
        )
    print_table(rows)


if __name__ == "__main__":
    main()
