"""What `newswatch run` does, in a process of its own, with the figures the throughput bench needs.

    python -m bench.newswatch_driver run CONFIG   # load_settings and run_ingest, as `newswatch run`
    python -m bench.newswatch_driver noop         # a trivial flow run the same way: Prefect's fixed cost

`run` does what the command does (the config read with its secrets checked, one ingest, the run's
summary printed) through newswatch's stable entry points rather than the command line, whose
output may change, and prints last a line `BENCH {json}`: the run's stage timings and counts, and
epoch stamps (started, imported, returned) that split the process's wall time into interpreter
start-up, imports, the run, and what comes after it (Prefect stopping its ephemeral server).
"""

from __future__ import annotations

import time

STARTED = time.time()

import json  # noqa: E402
import sys  # noqa: E402


def _noop() -> None:
    from flows.ingest.oneshot import prefect_api

    with prefect_api() as api:  # the Prefect API a run gets, as run_ingest gets it
        from prefect import flow, task
        from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        @task
        def one() -> int:
            return 1

        @flow(name="bench-noop")
        def noop() -> int:
            return one.submit().result()

        updates = {PREFECT_API_URL: api.url, **({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None} if api.own else {})}
        with temporary_settings(updates=updates):
            noop()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "noop") or (argv[0] == "run") != (len(argv) == 2):
        print("usage: python -m bench.newswatch_driver run CONFIG | noop", file=sys.stderr)
        return 2
    from flows.runtime.prefect_env import prefect_defaults

    prefect_defaults()  # before Prefect is imported, as run_ingest does
    out: dict = {"started": STARTED}
    if argv[0] == "noop":
        out["imported"] = time.time()
        _noop()
    else:
        # Prefect is imported while the run's own server starts, as `newswatch run` does it: the
        # "imports" stage is then only newswatch's own modules.
        from flows.ingest.oneshot import run_ingest
        from flows.ingest.summary import print_run
        from flows.settings import load_settings

        out["imported"] = time.time()
        settings = load_settings(argv[1], check_secrets=True)
        result = run_ingest(settings, argv[1], None)
        print_run(result)
        out.update(status=result.status, timings=result.timings, counts=result.counts)
    out["returned"] = time.time()
    print("BENCH " + json.dumps(out), flush=True)
    return 0


def parse_output(text: str) -> dict | None:
    """The `BENCH {json}` line of a driver's output, or None when it has none (it failed)."""
    for line in reversed(text.splitlines()):
        if line.startswith("BENCH "):
            return json.loads(line[len("BENCH ") :])
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
