"""Run every benchmark in turn, each in its own process (its own Prefect start-up, memory and CPU).

python -m bench [--quick] [NAME ...]     NAME: throughput quiet_rerun copy_scale
                                               extraction_quality copy_quality rule_matching
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# name -> accepts --quick
BENCHMARKS = {
    "extraction_quality": False,
    "copy_quality": False,
    "copy_scale": True,
    "quiet_rerun": True,
    "throughput": True,
    "rule_matching": True,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run the benchmarks in turn.")
    parser.add_argument("--quick", action="store_true", help="smaller sizes where a benchmark has them")
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS) + " (default: all)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    names = args.names or list(BENCHMARKS)
    env = {**os.environ, "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING")}
    failed = []
    for name in names:
        cmd = [sys.executable, "-m", f"bench.{name}"] + (
            ["--quick"] if args.quick and BENCHMARKS[name] else []
        )
        print(f"\n$ {' '.join(['python', *cmd[1:]])}", flush=True)
        start = time.perf_counter()
        code = subprocess.call(cmd, cwd=ROOT, env=env)
        print(
            f"({name}: {time.perf_counter() - start:.0f} s{'' if code == 0 else f', exit code {code}'})",
            flush=True,
        )
        if code:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks that did not run to the end: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
