"""Throughput: newswatch against the scripts a user would write instead, on the same pages, in one run.

A site of N article pages (built from the extraction benchmark's real pages, see bench/site.py), 20
pages a feed by default, on 8 loopback hosts, is served by its own process. Each round runs every
contender (bench/contenders.py) as a command of its own, start-up included, with a fresh store; the
order alternates between rounds. For each run it prints wall time, CPU seconds of the whole process
tree (bench/proctree.py: exact, from the kernel's rusage), CPU and wall per page, peak memory of the
tree, the share of the cores busy second by second, the pages stored, and for newswatch where its
wall time went. Then each contender runs again over its own store: once with nothing new (every feed
unchanged: a quiet re-run) and once with `--new-share` more pages linked from the feeds. Figures
only: no target, no verdict.

    python -m bench.throughput [--quick] [--pages 2000] [--feeds N] [--rounds N] [--contenders a,b]
                               [--base OTHER_CHECKOUT]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.contenders import CONTENDERS, DEFAULT, Stored, command, stored
from bench.figures import (
    cores,
    machine_cpu_seconds,
    mib,
    percentiles,
    print_cores,
    print_grid,
    print_table,
    sparkline,
)
from bench.newswatch_driver import parse_output
from bench.proctree import TreeRun, measure
from bench.site import ROOT, Site, SiteServer, build_site, loopback_hosts, shared_available, write_feeds

KINDS = {"full": "full run", "quiet": "quiet re-run (nothing new)", "new": "re-run with new pages"}
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
LABELS = {
    "poll": "poll (until the first shard of feeds is in)",
    "fetch_task_s": "fetch (summed over the tasks, which overlap: not wall)",
    "extract_task_s": "extract (summed over the tasks, which overlap: not wall)",
    "build_s": "build articles (topic, records)",
    "judge": "judge copies",
    "match": "match the watchlist",
    "write_batches": "write each batch",
}


@dataclass
class Outcome:
    """One run of one contender."""

    contender: str
    round: int
    kind: str  # a key of KINDS
    tree: TreeRun
    report: dict | None  # what the command printed last (`BENCH {json}`), None if nothing
    stored: Stored | None
    server_cpu: float  # the site server's CPU during the run
    others_cpu: float  # the rest of the machine's CPU during the run: other work on the host
    errors: list[str]  # distinct lines the command wrote to stderr
    prefect_cpu: float = 0.0  # newswatch-warm: the running Prefect server's CPU during the run

    @property
    def cpu_s(self) -> float:
        """The tree's CPU, and that of the running Prefect server it used (newswatch-warm)."""
        return self.tree.cpu_s + self.prefect_cpu

    @property
    def ok(self) -> bool:
        return self.tree.returncode == 0 and (self.report is not None or self.contender == "newswatch-cli")


class Bench:
    """The site, its server and a scratch directory; runs contenders and keeps their outcomes."""

    def __init__(self, tmp: Path, site: Site, server: SiteServer, base: Path | None = None):
        self.tmp, self.site, self.server, self.base = tmp, site, server, base
        self.env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect-home")}  # this bench's alone
        self.outcomes: list[Outcome] = []

    def where(self, contender: str) -> tuple[Path, dict[str, str]]:
        """The directory a contender runs in, and its environment: newswatch-base imports newswatch
        from the --base checkout (with this checkout's interpreter and libraries); newswatch-warm
        uses a Prefect server already running (PREFECT_API_URL), as one-shot runs beside a service do."""
        if contender == "newswatch-base" and self.base is not None:
            return self.base, {**self.env, "PYTHONPATH": str(self.base)}
        if contender == "newswatch-warm":
            return ROOT, {**self.env, "PREFECT_API_URL": self.prefect.api_url}
        return ROOT, self.env

    @contextmanager
    def running_prefect(self, wanted: bool) -> Iterator[None]:
        """A Prefect API server up for the whole bench, for newswatch-warm (its CPU during each of
        that contender's runs is counted with the run's)."""
        if not wanted:
            yield
            return
        from flows.runtime.prefect_env import prefect_defaults
        from flows.runtime.servers import RunServer

        prefect_defaults()  # the settings a run's own server gets
        self.prefect = RunServer(self.tmp / "prefect-running")
        self.prefect.start()
        try:
            yield
        finally:
            self.prefect.stop()

    def workdir(self, contender: str, round_no: int) -> Path:
        path = self.tmp / f"round{round_no}" / contender
        path.mkdir(parents=True, exist_ok=True)
        return path

    def run(self, contender: str, round_no: int, kind: str) -> Outcome:
        workdir = self.workdir(contender, round_no)
        cmd = command(contender, workdir, self.site, self.server.port, cores())
        out, err = workdir / f"{kind}.out", workdir / f"{kind}.err"
        server = psutil.Process(self.server.pid)
        server0, machine0 = _cpu(server), machine_cpu_seconds()
        cwd, env = self.where(contender)
        prefect = psutil.Process(self.prefect._proc.pid) if contender == "newswatch-warm" else None
        prefect0 = _tree_cpu(prefect) if prefect else 0.0
        tree = measure(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        prefect_cpu = _tree_cpu(prefect) - prefect0 if prefect else 0.0
        server_cpu, machine = _cpu(server) - server0, machine_cpu_seconds() - machine0
        errors = list(dict.fromkeys(line.strip() for line in err.read_text(errors="replace").splitlines()))
        outcome = Outcome(
            contender,
            round_no,
            kind,
            tree,
            parse_output(out.read_text(errors="replace")),
            stored(contender, workdir, self.site),
            server_cpu,
            machine - tree.cpu_s - server_cpu - prefect_cpu,
            [e for e in errors if e],
            prefect_cpu,
        )
        self.outcomes.append(outcome)
        return outcome

    def warm_up(self) -> None:
        """One trivial flow, not measured: Prefect creates its database in the fresh PREFECT_HOME (a
        user's first run only), and the interpreter's and libraries' files get into the page cache."""
        measure(command("prefect", self.tmp, self.site, self.server.port, cores()), cwd=ROOT, env=self.env)


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def _tree_cpu(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += _cpu(p)
    return total


# ---- printing one run -------------------------------------------------------------------------


def print_outcome(o: Outcome, pages: int) -> None:
    t = o.tree
    title = f"{o.contender}, round {o.round}, {KINDS[o.kind]}"
    if not o.ok:
        print(f"  {title}: FAILED (exit code {t.returncode}) after {t.wall_s:.1f} s")
        for line in o.errors[-8:]:
            print(f"      {line[:200]}")
        return
    busy = t.busy(cores())
    p10, p50, p90 = percentiles(busy)
    per_page = o.kind == "full" and o.contender != "prefect"
    rows = [
        (
            "wall",
            f"{t.wall_s:7.2f} s" + (f"   {1000 * t.wall_s / pages:6.2f} ms/page" if per_page else ""),
        ),
        (
            "CPU, whole tree",
            f"{t.cpu_s:7.2f} s   (user {t.user_s:.1f} + system {t.sys_s:.1f})"
            + (f"   {1000 * t.cpu_s / pages:6.2f} ms/page" if per_page else ""),
        ),
        ("peak memory", f"{mib(t.peak_rss):>9} (sum of the tree's RSS, sampled every 0.5 s)"),
        (
            "cores busy",
            f"{t.cpu_s / t.wall_s / cores():6.1%} mean;  1-s samples p10 {p10:.0%}  p50 {p50:.0%}  p90 {p90:.0%}"
            f"   [{sparkline(busy)}] (10 parts of the wall time)",
        ),
    ]
    if o.stored is not None:
        s = o.stored
        copies = f", {s.copies} copies recognised" if o.contender.startswith("newswatch") else ""
        rows.append(("stored", f"{s.articles} pages ({s.own_text} with their own page's text){copies}"))
    if o.report and "counts" in o.report:
        c = o.report["counts"]
        rows.append(
            (
                "the run's counts",
                f"{c['feeds_polled']} feeds polled ({c['feeds_unchanged']} unchanged), {c['entries_new']}"
                f" new entries, {c['pages_fetched']} pages fetched, {c['off_topic']} off topic,"
                f" {c['extract_empty']} empty, {c['fetch_failed']} failed",
            )
        )
    if o.report and "steps" in o.report:
        steps = o.report["steps"]
        rows.append(
            (
                "the script's steps",
                f"{o.report['entries']} pages to fetch; feeds {steps['feeds']:.2f} s, pages"
                f" {steps['pages']:.2f} s, store {steps['store']:.2f} s (wall)",
            )
        )
    rows.append(
        (
            "beside it",
            (
                f"the running Prefect server's CPU {o.prefect_cpu:.1f} s (counted below); "
                if o.prefect_cpu
                else ""
            )
            + f"site server CPU {o.server_cpu:.1f} s; other processes on the machine {o.others_cpu:.1f} s CPU"
            + (f"; {t.adopted} orphans waited for" if t.adopted else "")
            + (f"; {t.killed} left running, killed" if t.killed else ""),
        )
    )
    if t.roles:
        rows.append(
            (
                "by process (sampled)",
                ";  ".join(f"{name} {cpu:.1f} s CPU, {mib(rss)}" for name, (cpu, rss) in t.roles.items()),
            )
        )
    if o.errors:
        rows.append(("stderr", f"{len(o.errors)} distinct lines, e.g. {o.errors[0][:150]}"))
    print(f"  {title}")
    print_table(rows, indent="    ")
    if o.report and "timings" in o.report:
        print_stages(o)
    elif o.report and o.contender == "prefect":
        print_table(phases(o, {}), indent="    ")


def phases(o: Outcome, timings: dict[str, float]) -> list[tuple[str, str]]:
    """The driver's wall time cut at its stamps: start-up, imports, the call, after it."""
    r, t = o.report or {}, o.tree
    end = t.started + t.wall_s
    inside = sum(timings.get(s, 0.0) for s in STAGES)
    call = r["returned"] - r["imported"]
    rows = [
        ("interpreter start-up", r["started"] - t.started),
        ("imports (Prefect, newswatch)", r["imported"] - r["started"]),
    ]
    if timings:
        rows.append(("run_ingest outside its stages (Prefect: server start-up, flow run)", call - inside))
        rows.append(("run_ingest's stages, below", inside))
    else:
        rows.append(("the trivial flow run (Prefect: server start-up, flow and task run)", call))
    rows.append(("after the call returned, to exit", end - r["returned"]))
    return [(k, f"{v:7.2f} s {v / t.wall_s:6.1%}") for k, v in rows]


def print_stages(o: Outcome) -> None:
    """Where newswatch's wall time went: the driver's phases, then RunResult.timings."""
    timings: dict[str, float] = o.report["timings"]
    wall = o.tree.wall_s
    rows = phases(o, timings)
    after = rows.pop()  # after the call: printed below the stages
    inner = {k for ks in INSIDE.values() for k in ks}
    for stage in [*STAGES, *(k for k in timings if k not in STAGES and k not in inner)]:
        if stage in timings:
            rows.append(
                (f"  {LABELS.get(stage, stage)}", f"{timings[stage]:7.2f} s {timings[stage] / wall:6.1%}")
            )
        for sub in INSIDE.get(stage, ()):
            if sub in timings:
                rows.append((f"    {LABELS.get(sub, sub)}", f"{timings[sub]:7.2f} s"))
    rows.append(after)
    print("    where the wall time went (stages: RunResult.timings; indented twice: inside the stage above)")
    print_table(rows, indent="      ")


# ---- the summary ---------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary(outcomes: list[Outcome], pages: int, rounds: int) -> None:
    n = cores()
    full = [o for o in outcomes if o.kind == "full" and o.ok]
    by = {c: [o for o in full if o.contender == c] for c in dict.fromkeys(o.contender for o in full)}
    label = "median of " + str(rounds) + " rounds" if rounds > 1 else "one round"
    print(f"\n== full runs: {pages} pages ({label}; CPU: whole process tree; per page of the site) ==")
    header = [
        "contender",
        "wall s",
        "CPU s",
        "CPU ms/page",
        "wall ms/page",
        "peak memory",
        "cores busy",
        "stored",
        "others' CPU s",
    ]
    rows = []
    for c, runs in by.items():
        wall, cpu = _median([o.tree.wall_s for o in runs]), _median([o.cpu_s for o in runs])
        rows.append(
            [
                c,
                f"{wall:.1f}",
                f"{cpu:.1f}",
                "" if c == "prefect" else f"{1000 * cpu / pages:.1f}",
                "" if c == "prefect" else f"{1000 * wall / pages:.1f}",
                mib(_median([o.tree.peak_rss for o in runs])),
                f"{cpu / wall / n:.0%}",
                "" if runs[0].stored is None else str(runs[0].stored.articles),
                f"{_median([o.others_cpu for o in runs]):.0f}",
            ]
        )
    if by.get("newswatch") and by.get("prefect"):
        # each round's newswatch less that round's trivial flow, then the median
        pairs = [
            (a.tree.wall_s - b.tree.wall_s, a.tree.cpu_s - b.tree.cpu_s)
            for a in by["newswatch"]
            for b in by["prefect"]
            if a.round == b.round
        ]
        wall, cpu = _median([w for w, _ in pairs]), _median([c for _, c in pairs])
        rows.insert(
            list(by).index("newswatch") + 1,
            ["newswatch less Prefect's fixed cost", f"{wall:.1f}", f"{cpu:.1f}", f"{1000 * cpu / pages:.1f}",
             f"{1000 * wall / pages:.1f}", "", "", "", ""],
        )  # fmt: skip
    print_grid(header, rows)
    print(
        "(others' CPU s: the rest of the machine's CPU during the run, other work on the host: the more"
        " of it, the less the wall times say)"
    )
    if rounds > 1:
        print("each round (wall s / CPU s):")
        print_table(
            [
                (c, "   ".join(f"r{o.round} {o.tree.wall_s:.1f} / {o.cpu_s:.1f}" for o in runs))
                for c, runs in by.items()
            ]
        )
    reruns = [o for o in outcomes if o.kind != "full" and o.ok]
    if reruns:
        print(f"\n== re-runs over each contender's own store ({label}) ==")
        kinds = [k for k in ("quiet", "new") if any(o.kind == k for o in reruns)]
        header = ["contender"] + [f"{KINDS[k]}: wall s / CPU s" for k in kinds]
        rows = []
        for c in dict.fromkeys(o.contender for o in reruns):
            row = [c]
            for k in kinds:
                runs = [o for o in reruns if o.contender == c and o.kind == k]
                row.append(
                    f"{_median([o.tree.wall_s for o in runs]):.2f} / {_median([o.cpu_s for o in runs]):.2f}"
                    if runs
                    else ""
                )
            rows.append(row)
        print_grid(header, rows)
    failed = [o for o in outcomes if not o.ok]
    if failed:
        print("runs that failed: " + ", ".join(f"{o.contender} round {o.round} {o.kind}" for o in failed))


# ---- the extraction reference -------------------------------------------------------------------


def extraction_reference(site: Site, sample: int) -> None:
    """CPU per page of newswatch's `extract_page` and of `trafilatura.extract` (its defaults, as the
    scripts call it) alone, in this process, over the first `sample` pages of the site, interleaved
    page by page so a change in the host's speed touches both alike."""
    import trafilatura

    from extractors.extract import extract_page
    from flows.demo.replay import CONTENT_TYPES

    content_type = CONTENT_TYPES[".html"]
    bodies = [(site.root / p.path.lstrip("/")).read_bytes() for p in site.pages[:sample]]
    url = "http://bench.example/article.html"
    extract_page(bodies[0], url, content_type), trafilatura.extract(bodies[0], url=url)  # imports, caches
    ours = theirs = 0.0
    for body in bodies:
        t0 = time.process_time()
        extract_page(body, url, content_type)
        t1 = time.process_time()
        trafilatura.extract(body, url=url)
        ours, theirs = ours + t1 - t0, theirs + time.process_time() - t1
    print(
        f"extraction alone, one process, {len(bodies)} pages of the site: newswatch's extract_page"
        f" {1000 * ours / len(bodies):.1f} ms CPU/page, trafilatura.extract (defaults)"
        f" {1000 * theirs / len(bodies):.1f} ms CPU/page"
    )


# ---- the whole bench -----------------------------------------------------------------------------


def run(
    pages: int,
    feeds: int,
    hosts: int,
    rounds: int,
    contenders: list[str],
    new_share: float,
    reruns: bool,
    sample: int,
    base: Path | None = None,
) -> int:
    extra = round(pages * new_share) if reruns else 0
    print(f"== throughput: {pages} pages, {feeds} feeds, {hosts} hosts, {rounds} round(s) ==")
    print_cores()
    if not shared_available():
        print("skipped: ../shared/benchmarks/extraction is absent (the site is built from its pages)")
        return 0
    for c in contenders:
        print(f"  {c}: {CONTENDERS[c].what}")
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp_name:
        tmp = Path(tmp_name)
        start = time.perf_counter()
        site = build_site(
            tmp / "site", pages=pages + extra, feeds=feeds, hosts=loopback_hosts(hosts), linked=pages
        )
        sizes = sorted((site.root / p.path.lstrip("/")).stat().st_size for p in site.pages[:pages])
        print(
            f"site: {pages} pages from {site.templates} real page templates ({site.copies} planted copies;"
            f" {extra} more pages for the re-run with new pages), median page"
            f" {sizes[len(sizes) // 2] / 1024:.0f} KB, generated in {time.perf_counter() - start:.1f} s"
        )
        if sample:
            extraction_reference(site, min(sample, pages))
        with SiteServer(site.root, site.hosts) as server:
            bench = Bench(tmp, site, server, base)
            with bench.running_prefect("newswatch-warm" in contenders):
                bench.warm_up()
                for r in range(1, rounds + 1):
                    order = contenders if r % 2 else contenders[::-1]  # alternate: no one always goes first
                    print(f"\n-- round {r} of {rounds}: {', '.join(order)} --")
                    for c in order:
                        print_outcome(bench.run(c, r, "full"), pages)
                    keep = [c for c in order if CONTENDERS[c].keeps_state]
                    if reruns:
                        for c in keep:
                            print_outcome(bench.run(c, r, "quiet"), pages)
                    if extra and keep:
                        written = write_feeds(site, pages + extra)
                        server.reload()
                        print(f"  ({extra} pages more linked from {len(written)} feeds)")
                        for c in keep:
                            print_outcome(bench.run(c, r, "new"), pages)
                        write_feeds(site, pages)
                        server.reload()
                    shutil.rmtree(tmp / f"round{r}", ignore_errors=True)  # the stores: disk, not figures
        summary(bench.outcomes, pages, rounds)
    return 1 if any(not o.ok for o in bench.outcomes) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 pages")
    parser.add_argument("--pages", type=int, help="article pages linked from the feeds (default 2000)")
    parser.add_argument("--feeds", type=int, help="feeds (default: one for 20 pages)")
    parser.add_argument("--hosts", type=int, default=8, help="loopback addresses to spread the feeds over")
    parser.add_argument("--rounds", type=int, default=1, help="rounds; the contenders' order alternates")
    parser.add_argument(
        "--contenders",
        default=",".join(DEFAULT),
        help=f"comma-separated, of {', '.join(CONTENDERS)} (default: {','.join(DEFAULT)})",
    )
    parser.add_argument(
        "--new-share", type=float, default=0.05, help="pages added for the last re-run, as a share (0: none)"
    )
    parser.add_argument("--no-reruns", action="store_true", help="full runs only")
    parser.add_argument(
        "--sample", type=int, default=200, help="pages for the extraction reference (0: leave it out)"
    )
    parser.add_argument(
        "--base",
        type=Path,
        help="another checkout of newswatch (e.g. `git worktree add /tmp/base main`): adds the contender"
        " newswatch-base, run from it, for a before/after comparison in the same rounds",
    )
    args = parser.parse_args(argv)
    if args.base is not None:
        if not (args.base / "flows" / "ingest" / "flow.py").exists():
            parser.error(f"--base {args.base}: not a newswatch checkout (no flows/ingest/flow.py)")
        args.base = args.base.resolve()
        if "newswatch-base" not in args.contenders:
            args.contenders = "newswatch-base," + args.contenders
    pages = args.pages or (300 if args.quick else 2000)
    feeds = args.feeds or max(1, pages // 20)
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = [c for c in contenders if c not in CONTENDERS]
    if "newswatch-base" in contenders and args.base is None:
        parser.error("--contenders newswatch-base needs --base DIR")
    if unknown or not contenders:
        parser.error(
            f"--contenders: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(CONTENDERS)}"
        )
    if pages < 1 or feeds < 1 or args.rounds < 1 or args.hosts < 1 or not 0 <= args.new_share <= 1:
        parser.error("--pages, --feeds, --rounds and --hosts must be >= 1, --new-share within 0..1")
    os.chdir(ROOT)
    return run(
        pages, feeds, args.hosts, args.rounds, contenders, args.new_share, not args.no_reruns, args.sample,
        args.base,
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
