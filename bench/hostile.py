"""What hostile and broken servers cost newswatch: CPU seconds, wall time and peak memory per case
class of tests/hostile_server.py (slow HTTP, bombs, SSRF, broken HTTP, hostile feeds, walls, TLS,
proxies), each class in a fresh process so its peak memory is its own. The server runs in another
process, so the CPU counted is the fetcher's and parser's only.

    python -m bench.hostile [--repeat N] [CLASS ...]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time

from bench.site import ROOT


def _serve(conn) -> None:
    """Child process: the hostile server, until the parent closes the pipe."""
    from tests.hostile_server import CASES, HostileServer

    with HostileServer(CASES) as server:
        conn.send(
            {"port": server.port, "other_port": server.other_port, "tls_port": server.tls_port,
             "proxy_url": server.proxy_url}
        )  # fmt: skip
        try:
            conn.recv()
        except EOFError:
            pass


class _Remote:
    """The parent's view of the server in the child: its addresses (what the cases' URLs need)."""

    def __init__(self, ports: dict):
        self.__dict__.update(ports)

    def url(self, path: str, port: int | None = None, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{port or self.port}{path}"

    def requests_seen(self, listener: str | None = None) -> list:
        return []  # checked by tests/test_hostile.py, not here


def measure_class(kind: str, repeat: int) -> dict:
    """In this (fresh) process: run the class's cases `repeat` times; CPU, wall, peak RSS growth."""
    from tests.hostile_server import case_classes, problems, run_case

    classes = case_classes()
    cases = classes[kind]
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("fork").Process(target=_serve, args=(child,), daemon=True)
    server.start()
    remote = _Remote(parent.recv())
    # Fetchers are kept per settings, as a run keeps one: the figures are what each case costs,
    # not a new TLS context (~20 ms to load the CA bundle). Made before the figures, with a
    # healthy fetch for the imports and first allocations.
    from extractors.http import Fetcher

    fetchers = {case.settings_for(remote): None for case in cases}
    fetchers = {settings: Fetcher(settings) for settings in fetchers}
    run_case(classes["control"][0], remote)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    held = 0
    for _ in range(repeat):
        for case in cases:
            record, seconds = run_case(case, remote, fetchers)
            held += not problems(case, record, remote) and seconds <= case.time_bound(remote)
    wall = time.perf_counter() - wall0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    parent.send("stop")
    server.join(5)
    return {
        "class": kind,
        "cases": len(cases),
        "runs": len(cases) * repeat,
        "held": held,
        "cpu_s": (usage.ru_utime - usage0.ru_utime) + (usage.ru_stime - usage0.ru_stime),
        "wall_s": wall,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "peak_growth_mib": (usage.ru_maxrss - base_rss) / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="times each case runs (default 1)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one class, print JSON
    parser.add_argument("classes", nargs="*", metavar="CLASS")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure_class(args.one, args.repeat)))
        return 0
    from tests.hostile_server import case_classes

    kinds = args.classes or list(case_classes())
    print(f"== hostile servers: CPU and memory per case class ({args.repeat} run(s) of each case) ==")
    print("(one Fetcher per settings, kept as a run keeps it; 2 s timeout, 1 MB cap, no retries; growth:")
    print(" peak RSS over the process after one healthy fetch; control: a healthy page, for comparison)")
    print(f"{'class':<8} {'cases':>5} {'held':>6} {'CPU s':>7} {'wall s':>7} {'CPU/run ms':>10} "
          f"{'peak RSS MiB':>12} {'growth MiB':>10}")  # fmt: skip
    for kind in kinds:
        done = subprocess.run(
            [sys.executable, "-m", "bench.hostile", "--one", kind, "--repeat", str(args.repeat)],
            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        if done.returncode:
            print(f"{kind:<8} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(done.stdout)
        print(
            f"{r['class']:<8} {r['cases']:>5} {r['held']:>3}/{r['runs']:<2} {r['cpu_s']:>7.2f} {r['wall_s']:>7.1f} "
            f"{r['cpu_s'] / r['runs'] * 1000:>10.1f} {r['peak_rss_mib']:>12.1f} {r['peak_growth_mib']:>10.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
