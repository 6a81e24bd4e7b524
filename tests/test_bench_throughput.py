"""The throughput bench's measuring pieces, run for real on small things: the process-tree measure
(real processes, orphans included), the baseline script against a local site, and the summary."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psutil
import pytest

from bench.contenders import Stored
from bench.figures import percentiles, sparkline
from bench.newswatch_driver import parse_output
from bench.proctree import TreeRun, busy_shares, measure
from bench.site import ROOT, SiteServer
from bench.throughput import Outcome, summary

SEEDS = ROOT / "corpus" / "seed"


def burn(seconds: float) -> str:
    """Python code that uses `seconds` of CPU."""
    return f"import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"


def test_the_tree_cpu_counts_grandchildren_waited_for_and_orphaned():
    """The child runs one grandchild to its end (its CPU comes back through the child's rusage) and
    leaves another running when it exits without waiting (an orphan: the bench adopts and waits for
    it). Both grandchildren's CPU counts; the child's own is next to nothing."""
    child = (
        "import subprocess, sys\n"
        f"subprocess.run([sys.executable, '-c', {burn(0.4)!r}], check=True)\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(0.3)\\n' + {burn(0.4)!r}])\n"
    )
    run = measure([sys.executable, "-c", child])
    assert run.returncode == 0
    assert run.adopted >= 1 and run.killed == 0
    assert run.cpu_s >= 0.8
    assert run.cpu_s < 0.8 + 1.0  # interpreters' start-up, not double counting


def test_peak_memory_is_the_tree_summed_rss():
    """A child holding 100 MiB while its own child holds 150 MiB: the tree's peak is their sum."""
    hold = "import sys, time\nb = b'x' * ({} << 20)\nprint(flush=True)\ntime.sleep(2)\n"
    child = (
        "import subprocess, sys\n"
        f"kid = subprocess.Popen([sys.executable, '-c', {hold.format(150)!r}], stdout=subprocess.PIPE)\n"
        "kid.stdout.readline()\n"  # the kid holds its memory now
        "b = b'x' * (100 << 20)\n"
        "kid.wait()\n"
    )
    run = measure([sys.executable, "-c", child], interval=0.2)
    assert run.returncode == 0
    assert run.peak_rss >= 250 << 20
    assert run.samples and run.samples[-1][1] > 0  # the CPU over time, sampled


def test_an_orphan_still_running_after_the_linger_is_killed_and_counted():
    # The child leaves once its own child has burnt its CPU (so the linger, not the host's load,
    # decides when the orphan is killed).
    orphan = burn(0.3) + "print('burnt', flush=True); import time; time.sleep(60)"
    child = (
        "import subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, '-c', {orphan!r}], stdout=subprocess.PIPE)\n"
        "p.stdout.readline()\n"
    )
    start = time.monotonic()
    run = measure([sys.executable, "-c", child], linger=1.5)
    assert time.monotonic() - start < 15
    assert run.killed == 1 and run.adopted == 1
    assert run.cpu_s >= 0.3
    me = psutil.Process()
    assert not [
        c
        for c in me.children()
        if c.status() != psutil.STATUS_ZOMBIE and "sleep(60)" in " ".join(c.cmdline())
    ]


def test_busy_shares_read_the_sampled_cpu_on_a_one_second_grid():
    # one core busy for a second, then two cores for a second, then idle for half a second
    samples = [(0.5, 0.5), (1.0, 1.0), (2.0, 3.0), (2.5, 3.0)]
    assert busy_shares(samples, 2.5, cores=2, step=1.0) == pytest.approx([0.5, 1.0, 0.0])
    assert busy_shares([], 2.0, cores=2, step=1.0) == []


def test_sparkline_and_percentiles():
    assert sparkline([0.0] * 5 + [1.0] * 5, buckets=2) == " █"
    assert len(sparkline([0.5] * 37)) == 10
    assert percentiles([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]) == [0.1, 0.5, 0.9]


def test_the_newswatch_entry_points_the_driver_calls_exist():
    """The driver runs newswatch through these (a full run takes Prefect's start-up: not in a test)."""
    import inspect

    from flows.ingest.oneshot import prefect_api, run_ingest
    from flows.ingest.summary import print_run
    from flows.runtime.prefect_env import prefect_defaults
    from flows.settings import load_settings

    assert list(inspect.signature(run_ingest).parameters)[:3] == ["settings", "config_path", "db"]
    assert "check_secrets" in inspect.signature(load_settings).parameters
    assert callable(prefect_api) and callable(prefect_defaults) and callable(print_run)


def test_the_driver_output_is_its_last_bench_line():
    out = 'run 1: completed\nBENCH {"started": 1}\n  + [3] a story\nBENCH {"started": 2, "timings": {}}\n'
    assert parse_output(out) == {"started": 2, "timings": {}}
    assert parse_output("Traceback ...\n") is None


@pytest.fixture()
def seed_site(tmp_path: Path):
    """The seed documents as article pages, linked from one RSS feed, served on 127.0.0.1."""
    root = tmp_path / "site"
    (root / "a").mkdir(parents=True)
    items, texts = [], []
    for i, seed in enumerate(sorted(SEEDS.glob("*.txt"))):
        paras = [p for p in seed.read_text(encoding="utf-8").split("\n\n") if p.strip()]
        body = "".join(f"<p>{p}</p>" for p in paras)
        (root / "a" / f"p{i}.html").write_text(
            f"<html><head><title>Seed {i}</title></head><body><article>{body}</article></body></html>",
            encoding="utf-8",
        )
        items.append(f"<item><title>Seed {i}</title><link>{{{{BASE}}}}/a/p{i}.html</link></item>")
        texts.append(paras[0])
    (root / "feed.xml").write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{"".join(items)}</channel></rss>',
        encoding="utf-8",
    )
    with SiteServer(root, ["127.0.0.1"]) as server:
        feeds = tmp_path / "feeds.txt"
        feeds.write_text(f"http://127.0.0.1:{server.port}/feed.xml\n", encoding="utf-8")
        yield feeds, texts


def test_the_baseline_script_stores_the_pages_of_a_local_site_then_skips_them(seed_site, tmp_path):
    feeds, texts = seed_site
    db = tmp_path / "articles.duckdb"
    cmd = [sys.executable, "-m", "bench.baseline_script", "--db", str(db), "--skip-known", str(feeds)]
    first = subprocess.run(
        [*cmd, "--processes", "2"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert parse_output(first.stdout)["stored"] == len(texts) == 5
    con = duckdb.connect(str(db), read_only=True)
    rows = dict(con.execute("SELECT url, text FROM articles").fetchall())
    con.close()
    assert len(rows) == 5
    for i, text in enumerate(texts):
        url = next(u for u in rows if u.endswith(f"/a/p{i}.html"))
        assert " ".join(text.split())[:80] in " ".join(rows[url].split())  # each page's own text
    again = subprocess.run(
        [*cmd, "--processes", "1"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert parse_output(again.stdout)["entries"] == 0  # every URL known: nothing fetched


def _outcome(contender: str, rnd: int, wall: float, cpu: float, kind: str = "full") -> Outcome:
    tree = TreeRun(0, 0.0, wall, cpu, 0.0, 100 << 20)
    stored = None if contender == "prefect" else Stored(1000, 1000)
    return Outcome(contender, rnd, kind, tree, {"started": 0.0}, stored, 0.0, 0.0, [])


def test_the_summary_gives_medians_and_newswatch_less_prefect_per_round_and_no_verdict(capsys):
    outcomes = [
        _outcome("newswatch", 1, 40.0, 60.0),
        _outcome("prefect", 1, 10.0, 9.0),
        _outcome("script", 1, 30.0, 45.0),
        _outcome("newswatch", 2, 30.0, 50.0),
        _outcome("prefect", 2, 8.0, 10.0),
        _outcome("script", 2, 34.0, 47.0),
        _outcome("newswatch", 1, 9.0, 8.0, kind="quiet"),
        _outcome("newswatch", 2, 11.0, 9.0, kind="quiet"),
    ]
    summary(outcomes, pages=1000, rounds=2)
    out = capsys.readouterr().out
    full, reruns = out.split("== re-runs")

    def rows(text: str) -> dict[str, str]:
        return {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}

    lines = rows(full)
    # medians: wall 35, CPU 55 -> 55 ms/page and 35 ms/page
    assert [c.strip() for c in lines["newswatch"].split("|")[2:6]] == ["35.0", "55.0", "55.0", "35.0"]
    # per round: 30 / 51 and 22 / 40 -> medians 26 and 45.5
    less = lines["newswatch less Prefect's fixed cost"]
    assert [c.strip() for c in less.split("|")[2:4]] == ["26.0", "45.5"]
    assert [c.strip() for c in lines["script"].split("|")[2:4]] == ["32.0", "46.0"]
    assert "10.00 / 8.50" in rows(reruns)["newswatch"]  # the quiet re-runs' medians
    assert "target" not in out.lower() and "verdict" not in out.lower()
