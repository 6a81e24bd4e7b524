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
    from prefect import flow, task

    @task
    def one() -> int:
        return 1

    @flow(name="bench-noop")
    def noop() -> int:
        return one.submit().result()

    from flows.ingest.oneshot import one_shot_settings

    with one_shot_settings():  # as run_ingest runs the ingest flow
        noop()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "noop") or (argv[0] == "run") != (len(argv) == 2):
        print("usage: python -m bench.newswatch_driver run CONFIG | noop", file=sys.stderr)
        return 2
    from flows.ingest.oneshot import prefect_defaults

    prefect_defaults()  # before Prefect is imported, as run_ingest does
    import prefect  # noqa: F401  (imported here, not inside the run, to time it apart)

    out: dict = {"started": STARTED}
    if argv[0] == "noop":
        out["imported"] = time.time()
        _noop()
    else:
        import flows.ingest.flow  # noqa: F401
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
