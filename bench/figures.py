"""Printing the benchmarks' figures: aligned key/value rows, tables, the machine, busy-core sparklines."""

from __future__ import annotations

import math
import os
import statistics

import psutil

BARS = " ▁▂▃▄▅▆▇█"


def cores() -> int:
    return os.cpu_count() or 1


def print_cores() -> None:
    """Cores, and the load already on them (other work on the machine skews every figure)."""
    print(
        f"machine: {cores()} cores (os.cpu_count), {len(os.sched_getaffinity(0))} usable by this process,"
        f" {psutil.virtual_memory().total / 2**30:.0f} GiB; load average before: {os.getloadavg()[0]:.1f} (1 min)"
    )


def machine_cpu_seconds() -> float:
    """CPU seconds used on the whole machine so far (every process, every core)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def print_table(rows: list[tuple[str, str]], indent: str = "  ") -> None:
    """Key/value rows, the values aligned."""
    width = max((len(k) for k, _ in rows), default=0)
    for key, value in rows:
        print(f"{indent}{key:<{width}}  {value}")


def print_grid(header: list[str], rows: list[list[str]]) -> None:
    """A Markdown table (pastes into the README as it is), columns padded for the terminal."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))


def sparkline(shares: list[float], buckets: int = 10) -> str:
    """`shares` (0..1 each) averaged into `buckets` equal parts, one bar each (a space: idle)."""
    if not shares:
        return ""
    n = min(buckets, len(shares))
    out = []
    for k in range(n):
        part = shares[k * len(shares) // n : (k + 1) * len(shares) // n]
        level = statistics.fmean(part)
        out.append(BARS[min(len(BARS) - 1, round(max(0.0, min(1.0, level)) * (len(BARS) - 1)))])
    return "".join(out)


def percentiles(values: list[float], qs: tuple[int, ...] = (10, 50, 90)) -> list[float]:
    """The given percentiles of `values`, by the nearest-rank method."""
    if not values:
        return [0.0 for _ in qs]
    ordered = sorted(values)
    return [ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] for q in qs]
