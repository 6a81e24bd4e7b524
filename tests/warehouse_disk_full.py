"""Runs of the Warehouse on a nearly full filesystem, for tests/test_warehouse_disk_full.py.

`python -m tests.warehouse_disk_full DIR` expects DIR to be a small filesystem of its own (the
test mounts a tmpfs of a few MB in a private mount namespace). It writes a warehouse, fills the
disk with a ballast file, runs again (the disk fills up in the run, or only when publishing), frees
the ballast and runs a third time, and prints what happened at each step as JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

from warehouse.errors import WarehouseError
from warehouse.store import Warehouse

TEXT_BYTES = 4000  # per article; random hex, so it does not compress away


def articles(run: str, count: int, first_id: int) -> list[dict]:
    return [
        {
            "article_id": first_id + i,
            "url": f"https://example.org/{run}/{i}",
            "title": f"{run} {i}",
            "published_at": None,
            "feed": "wire",
            "lang": "en",
            "author": None,
            "text": os.urandom(TEXT_BYTES // 2).hex(),
            "text_source": "page",
            "text_hash": f"{run}-{i}",
            "word_count": 1,
            "guid": None,
            "first_seen": datetime.now(UTC),
            "run_id": None,
        }
        for i in range(count)
    ]


def run(db: Path, name: str, batches: int, per_batch: int = 50) -> dict:
    """One run writing `batches` committed batches; what it committed and how it ended."""
    committed = 0
    outcome: dict = {"run": name}
    try:
        with Warehouse.open(db) as wh:
            for _ in range(batches):
                rows = articles(f"{name}-{committed}", per_batch, wh.reserve_article_ids(1)[0] * 1000)
                with wh.transaction():
                    wh.insert_articles(rows, [])
                committed += 1
        outcome["ended"] = "ok"
    except WarehouseError as e:
        outcome["ended"] = "WarehouseError"
        outcome["error"] = str(e)
        outcome["chained"] = e.__cause__ is not None or (
            e.__context__ is not None and not e.__suppress_context__
        )
    except Exception as e:  # the defect this checks for: anything else, with its traceback
        outcome["ended"] = type(e).__name__
        outcome["error"] = "".join(traceback.format_exception(e))
    outcome["committed_batches"] = committed
    return outcome


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def titles(db: Path) -> list[str]:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return [r[0] for r in con.execute("SELECT title FROM articles ORDER BY title").fetchall()]


def fill(directory: Path, leave: int) -> Path:
    """A ballast file taking all free space on `directory`'s filesystem but `leave` bytes."""
    ballast = directory / "ballast"
    stat = os.statvfs(directory)
    size = max(0, stat.f_bavail * stat.f_frsize - leave)
    with open(ballast, "wb") as f:
        f.write(b"\0" * size)
    return ballast


def main(directory: Path, where: str) -> dict:
    db = directory / "newswatch.duckdb"
    steps = [run(db, "first", batches=4)]
    before = digest(db)
    # "run": the disk fills up while the run writes; "publish": the run fits, its publishing not.
    ballast = fill(directory, leave=1_500_000 if where == "run" else 3_000_000)
    steps.append(run(db, "second", batches=400 if where == "run" else 1))
    steps[-1]["published_unchanged"] = digest(db) == before
    steps[-1]["left_beside"] = sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))
    ballast.unlink()
    steps.append(run(db, "third", batches=2))
    return {"steps": steps, "titles": titles(db)}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), sys.argv[2])))
