"""kill -9 of `newswatch run` at every stage of a run, again and again: no process outlives the run
(the extraction workers end with it), the lock is never stale (the next run starts), and once a
run completes, the warehouse holds exactly what one uninterrupted run stores (no row lost, none
doubled). The real command in a subprocess against the demo site, a real Prefect server."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from tests.e2e import NEWSWATCH, demo_config, user_env

pytestmark = pytest.mark.slow

CYCLES = 5  # kills spread over the length of a run (25 cycles, run once by hand, gave the same result)
ORPHAN_WAIT_S = 15.0


def start(cfg: Path, db: Path, env: dict, cwd: Path) -> subprocess.Popen:
    # A session of its own: every process the run starts stays in it, even once orphaned.
    return subprocess.Popen(
        [str(NEWSWATCH), "run", "--config", str(cfg), "--db", str(db)],
        env=env, cwd=cwd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def session_members(sid: int) -> list[int]:
    """Live processes of session `sid` (zombies awaiting their parent do not count)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def orphans_after_kill(proc: subprocess.Popen) -> list[int]:
    """kill -9 the run; the processes of its session still alive after ORPHAN_WAIT_S (killed then,
    so a failing test leaves nothing behind)."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    deadline = time.monotonic() + ORPHAN_WAIT_S
    while (left := session_members(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


def contents(db: Path) -> dict[str, list]:
    """What a run stores, without ids and times (which differ between runs)."""
    queries = {
        "articles": "SELECT url, feed, title, text_source, text_hash FROM articles",
        "duplicates": "SELECT d.url, d.feed, a.url, d.method FROM duplicates d "
        "JOIN articles a ON a.article_id = d.duplicate_of",
        "entries": "SELECT feed, entry_key, outcome, retry FROM entries",
        "mentions": "SELECT a.url, m.kind, m.name, m.count FROM mentions m JOIN articles a USING (article_id)",
        "alerts": "SELECT al.rule, a.url, al.channel FROM alerts al LEFT JOIN articles a USING (article_id)",
        "feeds": "SELECT name, etag, last_modified FROM feeds",
    }
    with duckdb.connect(str(db), read_only=True) as con:
        return {name: sorted(con.execute(sql).fetchall(), key=repr) for name, sql in queries.items()}


def test_kill_9_at_any_moment_loses_nothing_and_leaves_nothing(tmp_path, demo_site, prefect_harness):
    cfg = demo_config(tmp_path, demo_site)
    env = user_env(
        tmp_path / "prefect-home", api_url=prefect_harness,
        NEWSWATCH_DEMO_SLACK_WEBHOOK="http://127.0.0.1:9/hook",  # nothing listens: alerts stay pending
    )  # fmt: skip

    # One uninterrupted run: what must be stored, and how long a run takes.
    reference = tmp_path / "reference.duckdb"
    started = time.monotonic()
    done = start(cfg, reference, env, tmp_path)
    out = done.communicate(timeout=300)[0].decode(errors="replace")
    length = time.monotonic() - started
    assert done.returncode == 0, out

    killed = tmp_path / "killed.duckdb"
    problems = []
    for cycle in range(CYCLES):
        run = start(cfg, killed, env, tmp_path)
        time.sleep(length * (cycle + 0.5) / CYCLES)  # from start-up to publishing
        if run.poll() is not None:  # it finished before the kill: a fine run, still checked below
            output = run.communicate()[0].decode(errors="replace")
            if run.returncode != 0:
                problems.append(f"cycle {cycle}: exit {run.returncode}: {output[-500:]}")
            continue
        left = orphans_after_kill(run)
        if left:
            problems.append(f"cycle {cycle}: processes {left} outlived the killed run")
    assert problems == []

    # The lock is not stale and the writer file is sound: the next run completes.
    final = start(cfg, killed, env, tmp_path)
    out = final.communicate(timeout=300)[0].decode(errors="replace")
    assert final.returncode == 0, out
    assert "another newswatch run" not in out

    want, got = contents(reference), contents(killed)
    for table in want:
        assert len(got[table]) == len(set(got[table])), f"{table}: a row stored twice"
        if table == "feeds":  # validators: the site sends the same ETag/Last-Modified to every run
            assert got[table] == want[table]
        else:
            assert got[table] == want[table], f"{table} differs from an uninterrupted run's"
