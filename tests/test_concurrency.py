"""Analysts and ingests never get in each other's way (real processes, a real DuckDB file)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from tests.e2e import demo_config, ingest

pytestmark = pytest.mark.slow
DEAD_HOOK = "http://127.0.0.1:9/hook"  # nothing listens on the discard port

HOLD_SESSION = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print(con.execute("SELECT count(*) FROM runs").fetchone()[0], flush=True)
    sys.stdin.readline()  # until the test says the ingest has published a new snapshot
    # the old snapshot is still readable after the writer published a new one
    print(con.execute("SELECT count(*) FROM runs").fetchone()[0], flush=True)
    """
)

QUERY_LOOP = textwrap.dedent(
    """
    import sys, threading
    from warehouse.readonly import query
    ok = failed = 0
    errors = []
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    while not done.is_set():  # until the test closes stdin
        try:
            query(sys.argv[1], "SELECT count(*), max(run_id) FROM runs")
            query(sys.argv[1], "SELECT feed, count(*) FROM articles GROUP BY feed")
            ok += 1
        except Exception as e:
            failed += 1
            errors.append(repr(e))
    print(ok, failed, errors[:3], flush=True)
    """
)


def test_ingest_completes_while_a_session_holds_the_file(tmp_path, demo_site, prefect_harness, monkeypatch):
    monkeypatch.setenv("NEWSWATCH_DEMO_SLACK_WEBHOOK", DEAD_HOOK)  # alerts stay pending; irrelevant here
    cfg = demo_config(tmp_path, demo_site)
    db = tmp_path / "newswatch.duckdb"
    ingest(cfg)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SESSION, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "1"  # the analyst's session is open on the file
        result = ingest(cfg, force=True)  # must not wait for the session to close
        assert result.status == "completed"
        assert holder.poll() is None, "the session should still be open while the ingest completed"
        with duckdb.connect(str(db), read_only=True) as con:  # a new session sees the new run
            assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
        out, _ = holder.communicate("go\n", timeout=30)
        assert out.strip() == "1"  # the old session kept its consistent snapshot
    finally:
        holder.kill()


def test_queries_in_a_loop_during_an_ingest_never_fail(tmp_path, demo_site, prefect_harness, monkeypatch):
    monkeypatch.setenv("NEWSWATCH_DEMO_SLACK_WEBHOOK", DEAD_HOOK)
    cfg = demo_config(tmp_path, demo_site)
    db = tmp_path / "newswatch.duckdb"
    ingest(cfg)  # so the published file exists before the loop starts
    loop = subprocess.Popen(
        [sys.executable, "-c", QUERY_LOOP, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    time.sleep(0.5)
    for _ in range(2):
        assert ingest(cfg, force=True).status == "completed"
    out, _ = loop.communicate("", timeout=60)
    ok, failed, errors = out.split(" ", 2)
    assert int(failed) == 0, errors
    assert int(ok) > 10
