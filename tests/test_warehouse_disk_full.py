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
