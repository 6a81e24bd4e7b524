"""`newswatch run` as an operator stops it, with real processes and real signals, in the middle of
fetching from a site whose later pages answer slowly:

- Ctrl-C (SIGINT) ends it within 10 s with exit code 130 and one line (SIGTERM: 143), no traceback
  from any process; what was stored is published and the run is recorded as `interrupted`; the next
  run polls the feed afresh and stores the rest.
- kill -9 leaves no process behind (the run's own Prefect server, the extraction workers), and the
  next run closes the killed run's row as `crashed`.
- A second run while one writes ends within 2 s with exit code 75 and one line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psutil
import pytest

from tests.e2e import NEWSWATCH, user_env
from tests.helpers_http import LocalServer, Reply
from tests.test_alerts_e2e import article_html, rss, story_words

pytestmark = pytest.mark.slow
# Runs `newswatch` with Ctrl-C's default disposition, as in a terminal. A command started in the
# background of a non-interactive shell (`make test &`) inherits SIGINT ignored, and so would the run.
WITH_DEFAULT_SIGINT = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
FAST, SLOW = 4, 4  # stories answered at once, then stories whose pages answer after SLOW_S
SLOW_S = 60


def story(i: int) -> bytes:
    words = story_words(100 + i)
    paragraphs = [f"The missile defense interceptor test number {i} was watched by analysts."]
    paragraphs += [" ".join(words[k : k + 40]) + "." for k in range(0, 160, 40)]
    return article_html(f"Interceptor test {i}", paragraphs, chrome="Daily Wire")


def slow_site(slow: bool = True) -> LocalServer:
    site = LocalServer()
    items = [(f"Interceptor test {i}", site.url(f"/s{i}.html"), f"s{i}") for i in range(FAST + SLOW)]
    site.routes["/feed.xml"] = Reply(200, rss(items), {"Content-Type": "application/rss+xml", "ETag": '"v1"'})
    for i in range(FAST + SLOW):
        delay = SLOW_S if slow and i >= FAST else 0.0
        site.routes[f"/s{i}.html"] = Reply(
            200, story(i), {"Content-Type": "text/html; charset=utf-8"}, delay=delay
        )
    return site


def write_config(tmp: Path, site: LocalServer) -> Path:
    cfg = tmp / "newswatch.toml"
    cfg.write_text(
        f"""
[warehouse]
path = "{tmp / "newswatch.duckdb"}"
[fetch]
allow_private_hosts = true
timeout = 120
retries = 0
per_host = 8  # every page at once: the fast batch is not held behind the slow one
[runner]
page_batch = {FAST}
[[feeds]]
name = "wire"
url = "{site.url("/feed.xml")}"
""",
        encoding="utf-8",
    )
    return cfg


def start_run(cfg: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WITH_DEFAULT_SIGINT, str(NEWSWATCH), "run", "--config", str(cfg)],
        env=env,
        cwd=cfg.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a job in a terminal has
    )


def wait_for_slow_pages(site: LocalServer, run: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not site.hits(f"/s{FAST}.html") and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.1)
    assert site.hits(f"/s{FAST}.html"), "the run never asked for the slow pages"
    time.sleep(1.0)  # the first batch is being judged and stored meanwhile


def runs_table(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT run_id, status, articles_stored, note FROM runs ORDER BY run_id"
        ).fetchall()


def stored(db: Path) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT count(*) FROM articles WHERE feed = 'wire'").fetchone()[0]


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_stops_the_run_within_10_s_keeping_what_was_stored(tmp_path, prefect_harness, signum, code):
    env = user_env(tmp_path / "prefect-home", api_url=prefect_harness)
    db = tmp_path / "newswatch.duckdb"
    with slow_site() as site:
        cfg = write_config(tmp_path, site)
        run = start_run(cfg, env)
        try:
            wait_for_slow_pages(site, run)
            sent = time.monotonic()
            os.killpg(run.pid, signum)  # as a terminal's Ctrl-C: to every process of the job
            out, err = run.communicate(timeout=30)
            took = time.monotonic() - sent
        finally:
            if run.poll() is None:
                run.kill()
        assert run.returncode == code, out + err
        assert took < 10, f"took {took:.1f} s to stop"
        assert "Traceback" not in out + err and "Error" not in err, err
        assert [ln for ln in err.splitlines() if "stored is published" in ln], err
        ((_, status, kept, note),) = runs_table(db)
        assert status == "interrupted" and note == f"stopped by {signal.Signals(signum).name}"
        assert kept == stored(db) == FAST  # the first batch was stored and published

        # The next run, the site answering at once: the feed polled afresh, the rest stored.
        for i in range(FAST, FAST + SLOW):
            site.routes[f"/s{i}.html"] = Reply(200, story(i), {"Content-Type": "text/html; charset=utf-8"})
        fetched_before = {i: len(site.hits(f"/s{i}.html")) for i in range(FAST)}
        again = subprocess.run(
            [str(NEWSWATCH), "run", "--config", str(cfg)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert site.hits("/feed.xml")[-1].headers.get("if-none-match") is None  # not a 304 on the old ETag
        assert {i: len(site.hits(f"/s{i}.html")) for i in range(FAST)} == fetched_before  # stored: not again
    assert stored(db) == FAST + SLOW
    assert [r[1] for r in runs_table(db)] == ["interrupted", "completed"]


def _tree(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_kill_9_leaves_no_process_and_the_next_run_closes_the_row_as_crashed(tmp_path, prefect_harness):
    home = tmp_path / "prefect-home"
    with slow_site() as site:
        cfg = write_config(tmp_path, site)
        run = start_run(cfg, user_env(home))  # no server given: the run starts its own
        try:
            wait_for_slow_pages(site, run)
            descendants = _tree(run.pid)  # `run` is newswatch itself (exec'd)
            assert len(descendants) >= 3, descendants  # its Prefect server, the extraction workers
            run.kill()
            run.wait(10)
        finally:
            if run.poll() is None:
                run.kill()
        deadline = time.monotonic() + 30
        while [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]:
            assert time.monotonic() < deadline, [p.cmdline() for p in descendants if p.is_running()]
            time.sleep(0.5)
        assert not (tmp_path / "newswatch.duckdb").exists()  # killed before anything was published

        for i in range(FAST, FAST + SLOW):  # the next run: the site answering at once
            site.routes[f"/s{i}.html"] = Reply(200, story(i), {"Content-Type": "text/html; charset=utf-8"})
        after = subprocess.run(
            [str(NEWSWATCH), "run", "--config", str(cfg)],
            env=user_env(home, api_url=prefect_harness),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=150,
        )
    assert after.returncode == 0, after.stdout + after.stderr
    rows = runs_table(tmp_path / "newswatch.duckdb")
    assert [r[1] for r in rows] == ["crashed", "completed"], rows
    assert "ended without closing" in rows[0][3]


def test_a_second_run_while_one_writes_ends_within_2_s_with_exit_75(tmp_path, prefect_harness):
    env = user_env(tmp_path / "prefect-home", api_url=prefect_harness)
    with slow_site() as site:
        cfg = write_config(tmp_path, site)
        first = start_run(cfg, env)
        try:
            wait_for_slow_pages(site, first)
            started = time.monotonic()
            second = subprocess.run(
                [str(NEWSWATCH), "run", "--config", str(cfg)],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
            took = time.monotonic() - started
        finally:
            first.send_signal(signal.SIGINT)
            first.communicate(timeout=30)
    assert second.returncode == 75, second.stdout + second.stderr
    assert took < 2, f"took {took:.1f} s"
    assert second.stderr.strip().splitlines() == [
        f"newswatch run: {tmp_path / 'newswatch.duckdb'}: another newswatch run is writing this warehouse; "
        "this run is skipped"
    ]
    assert second.stdout == ""
