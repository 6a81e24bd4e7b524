"""The warehouse on a full disk: a real, small filesystem (a tmpfs mounted in a private mount
namespace by `unshare`), filled up during a run or only when it publishes. The run ends with one
WarehouseError naming the cause, the published copy is the previous one, whole, no temporary copy
is left beside it, the lock is free, and the next run (space freed) keeps every committed row."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _on_a_small_disk(tmp_path, where: str) -> dict:
    if not shutil.which("unshare"):
        pytest.skip("needs unshare(1) to mount a small tmpfs of its own")
    mount = tmp_path / "disk"
    mount.mkdir()
    script = f"mount -t tmpfs -o size=16m tmpfs {mount} && exec {sys.executable} -m tests.warehouse_disk_full {mount} {where}"
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if done.returncode and "mount" in done.stderr and not done.stdout:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("where", ["run", "publish"])
def test_disk_full_ends_in_one_line_and_the_next_run_recovers(tmp_path, where):
    result = _on_a_small_disk(tmp_path, where)
    first, second, third = result["steps"]
    assert first["ended"] == "ok"
    assert second["ended"] == "WarehouseError", second["error"]  # not a DuckDB traceback
    assert "no space left on device" in second["error"] and "\n" not in second["error"]
    assert not second["chained"]  # no "during handling of the above exception" behind it
    assert second["published_unchanged"] and second["left_beside"] == []
    assert third["ended"] == "ok"  # the lock was released and the writer file is sound
    # Nothing committed is lost, nothing is doubled: every batch the failed run committed is there.
    expected = {f"first-{b}" for b in range(4)} | {f"third-{b}" for b in range(2)}
    expected |= {f"second-{b}" for b in range(second["committed_batches"])}
    titles = result["titles"]
    assert len(titles) == len(set(titles)) == 50 * len(expected)
    assert {t.rsplit(" ", 1)[0] for t in titles} == expected


CLI_ON_A_SMALL_DISK = """
mount -t tmpfs -o size=16m tmpfs "$1" || exit 97
dd if=/dev/zero of="$1/ballast" bs=1M count=13 2>/dev/null
"$2" run --config "$3" --db "$1/newswatch.duckdb" > "$4/first.out" 2>&1; echo $? > "$4/first.code"
ls -a "$1" > "$4/first.files"
rm "$1/ballast"
"$2" run --config "$3" --db "$1/newswatch.duckdb" > "$4/second.out" 2>&1; echo $? > "$4/second.code"
"$2" sql --db "$1/newswatch.duckdb" --format csv \
  "SELECT outcome, count(*) FROM entries WHERE feed <> 'seed' GROUP BY ALL ORDER BY 1" > "$4/ledger.csv"
"""


@pytest.mark.slow
def test_newswatch_run_on_a_full_disk_says_so_in_one_line(tmp_path, demo_site, prefect_harness):
    """The command a user runs: the disk fills up during the run; one line names the cause, exit 1;
    the next run, with space freed, completes and publishes what the first one committed."""
    from tests.e2e import NEWSWATCH, demo_config, user_env

    if not shutil.which("unshare"):
        pytest.skip("needs unshare(1) to mount a small tmpfs of its own")
    cfg = demo_config(tmp_path, demo_site)
    mount = tmp_path / "disk"
    mount.mkdir()
    env = user_env(
        tmp_path / "prefect-home",
        api_url=prefect_harness,
        NEWSWATCH_DEMO_SLACK_WEBHOOK="http://127.0.0.1:9/x",
    )
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", CLI_ON_A_SMALL_DISK, "sh",
         str(mount), str(NEWSWATCH), str(cfg), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode == 97:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    first = (tmp_path / "first.out").read_text()
    assert (tmp_path / "first.code").read_text().strip() == "1", first
    errors = [line for line in first.splitlines() if line.startswith("newswatch run:")]
    assert len(errors) == 1 and "no space left on device" in errors[0]
    assert "Traceback" not in first and "ERROR" not in first  # neither DuckDB's nor Prefect's
    assert not [f for f in (tmp_path / "first.files").read_text().split() if f.endswith(".tmp")]
    second = (tmp_path / "second.out").read_text()
    assert (tmp_path / "second.code").read_text().strip() == "0", second
    assert "run 2: completed" in second
    # Every item of the demo site has its outcome once (flows/demo/site/expected.json), whichever
    # run stored it: nothing lost, nothing twice.
    ledger = (tmp_path / "ledger.csv").read_text().split()
    assert ledger == ["outcome,count_star()", "copy,6", "no_link,1", "off_topic,1", "stored,7"]
