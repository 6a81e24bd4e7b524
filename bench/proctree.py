"""Wall time, CPU and memory of a command's whole process tree, as the kernel counts them.

CPU is exact, from `os.wait4`: a process's rusage includes every descendant that was waited for
inside the tree. A descendant whose parent exits without waiting for it would be handed to init and
its CPU lost (newswatch's extraction forkserver and multiprocessing's resource tracker are such
processes), so while a command runs the bench is a child subreaper (Linux's
PR_SET_CHILD_SUBREAPER): orphans of the tree become the bench's children, and the bench waits for
them too and adds their rusage. The command's wall time ends when it exits (when a user gets the
prompt back); the CPU of orphans that finish after that still counts, as work the command left.
One still running `linger` seconds after the command exited is killed, then waited for.

psutil sampling (every `interval` seconds) gives what rusage cannot: the peak of the tree's summed
RSS (shared pages of forked processes count in each), and the tree's CPU over time, from which the
share of the cores busy second by second is read; and, per role of a process (the command itself,
its Prefect server, its worker processes: `role()`), the largest CPU and RSS seen, to tell where the
tree's CPU and memory went (sampled: a process's last half second before it exits is not seen).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

PR_SET_CHILD_SUBREAPER = 36


@dataclass
class TreeRun:
    """What one command cost: wall seconds to its exit, CPU seconds of its whole tree."""

    returncode: int
    started: float  # epoch seconds, just before the command was started
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss: int  # bytes: the largest sum of the tree's RSS seen in a sample
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds in, tree CPU so far)
    adopted: int = 0  # orphans of the tree that the bench waited for
    killed: int = 0  # orphans still running `linger` seconds after the command exited
    roles: dict[str, tuple[float, int]] = field(default_factory=dict)  # role -> (CPU s, peak RSS), sampled

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    def busy(self, cores: int, step: float = 1.0) -> list[float]:
        """Share of `cores` the tree used in each `step` seconds of its wall time (from the samples)."""
        return busy_shares(self.samples, self.wall_s, cores, step)


def busy_shares(samples: list[tuple[float, float]], wall: float, cores: int, step: float) -> list[float]:
    """The sampled cumulative CPU, read on a grid of `step` seconds (linearly between samples), as
    the share of `cores` used in each step. The last step may be shorter."""
    if not samples or wall <= 0:
        return []
    points = sorted(samples)
    if points[0][0] > 0:
        points.insert(0, (0.0, 0.0))

    def cpu_at(t: float) -> float:
        for (t0, c0), (t1, c1) in zip(points, points[1:], strict=False):
            if t0 <= t <= t1:
                return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c1
        return points[-1][1]

    edges = [k * step for k in range(int(wall / step) + 1)]
    if wall - edges[-1] > step / 10:
        edges.append(wall)
    return [
        max(0.0, (cpu_at(b) - cpu_at(a)) / (b - a) / cores) for a, b in zip(edges, edges[1:], strict=False)
    ]


ROLES = ("command", "Prefect server", "workers", "other")


def role(cmdline: list[str], root: bool) -> str:
    """What a process of the tree is, from its command line."""
    if root:
        return "command"
    line = " ".join(cmdline)
    if "uvicorn" in line or "prefect server" in line or "prefect.server" in line:
        return "Prefect server"
    if "multiprocessing" in line or "forkserver" in line:
        return "workers"  # extraction processes, their forkserver, the resource tracker
    return "other"


def _set_subreaper(on: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed: the bench needs Linux")


class _Tree:
    """The command's process and its descendants, plus orphans handed to this process (and theirs)."""

    def __init__(self, pid: int, exclude: set[int]):
        self.pid, self.exclude = pid, exclude
        self.reaped_user = self.reaped_sys = 0.0
        self.adopted: set[int] = set()
        self.lock = threading.Lock()
        self.seen: dict[int, tuple[str, float]] = {}  # pid -> (role, largest own CPU seen)
        self.role_rss: dict[str, int] = {}  # role -> largest summed RSS seen in one sample

    def orphans(self) -> list[psutil.Process]:
        """This process's children that are not the command and were not here before it started."""
        return [c for c in psutil.Process().children() if c.pid != self.pid and c.pid not in self.exclude]

    def reap(self, pid: int, block: bool = False) -> bool:
        """Wait for an adopted orphan; True when it was waited for (its rusage is counted)."""
        try:
            got, _, ru = os.wait4(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return True  # already waited for
        if got == 0:
            return False
        with self.lock:
            self.reaped_user += ru.ru_utime
            self.reaped_sys += ru.ru_stime
            self.adopted.add(pid)
        return True

    def sample(self) -> tuple[float, int]:
        """(tree CPU so far, summed RSS), and the orphans that have ended are waited for."""
        roots: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            roots.append(psutil.Process(self.pid))
        for orphan in self.orphans():
            with contextlib.suppress(psutil.Error):
                if orphan.status() == psutil.STATUS_ZOMBIE and self.reap(orphan.pid):
                    continue
            roots.append(orphan)
        procs: dict[int, psutil.Process] = {}
        for root in roots:
            procs[root.pid] = root
            with contextlib.suppress(psutil.Error):
                procs.update((p.pid, p) for p in root.children(recursive=True))
        with self.lock:
            cpu, rss = self.reaped_user + self.reaped_sys, 0
        by_role: dict[str, int] = {}
        for proc in procs.values():
            with contextlib.suppress(psutil.Error), proc.oneshot():
                t = proc.cpu_times()  # a process's own CPU and that of the children it waited for
                cpu += t.user + t.system + t.children_user + t.children_system
                if proc.pid not in self.seen:
                    self.seen[proc.pid] = (role(proc.cmdline(), proc.pid == self.pid), 0.0)
                name, own = self.seen[proc.pid]
                self.seen[proc.pid] = (name, max(own, t.user + t.system))
                if proc.status() != psutil.STATUS_ZOMBIE:
                    size = proc.memory_info().rss
                    rss += size
                    by_role[name] = by_role.get(name, 0) + size
        for name, size in by_role.items():
            self.role_rss[name] = max(self.role_rss.get(name, 0), size)
        return cpu, rss

    def roles(self) -> dict[str, tuple[float, int]]:
        """role -> (CPU seconds of its processes, as last sampled; its peak summed RSS)."""
        cpu: dict[str, float] = {}
        for name, own in self.seen.values():
            cpu[name] = cpu.get(name, 0.0) + own
        return {
            r: (cpu.get(r, 0.0), self.role_rss.get(r, 0)) for r in ROLES if r in cpu or r in self.role_rss
        }


def measure(
    cmd: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    stdout: Path | None = None,
    stderr: Path | None = None,
    interval: float = 0.5,
    linger: float = 10.0,
) -> TreeRun:
    """Run `cmd` to its end and measure its process tree (see the module's docstring). Its output goes
    to the files given (not to a pipe: reading one would need the process waited for the wrong way)."""
    out = open(stdout, "wb") if stdout else subprocess.DEVNULL  # noqa: SIM115
    err = open(stderr, "wb") if stderr else subprocess.DEVNULL  # noqa: SIM115
    exclude = {c.pid for c in psutil.Process().children()}  # e.g. the site server
    _set_subreaper(True)
    try:
        started, t0 = time.time(), time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out, stderr=err)
        tree = _Tree(proc.pid, exclude)
        samples: list[tuple[float, float]] = []
        peak = [0]
        stop = threading.Event()

        def sampler() -> None:
            while not stop.wait(interval):
                cpu, rss = tree.sample()
                samples.append((time.perf_counter() - t0, cpu))
                peak[0] = max(peak[0], rss)

        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            wall = time.perf_counter() - t0
            stop.set()
            thread.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # waited for here: Popen must not again
        killed = _wait_for_orphans(tree, linger)
        return TreeRun(
            returncode=proc.returncode,
            started=started,
            wall_s=wall,
            user_s=ru.ru_utime + tree.reaped_user,
            sys_s=ru.ru_stime + tree.reaped_sys,
            peak_rss=peak[0],
            samples=samples,
            adopted=len(tree.adopted),
            killed=killed,
            roles=tree.roles(),
        )
    finally:
        _set_subreaper(False)
        for f in (out, err):
            if f is not subprocess.DEVNULL:
                f.close()


def _wait_for_orphans(tree: _Tree, linger: float) -> int:
    """Wait for the orphans the command left (they usually end within a second, once their pipes
    close); kill those still running after `linger` seconds. Returns how many were killed."""
    deadline = time.monotonic() + linger
    killed = 0
    while orphans := tree.orphans():
        for orphan in orphans:
            if time.monotonic() >= deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(orphan.pid, signal.SIGKILL)
                    killed += 1
                tree.reap(orphan.pid, block=True)
            else:
                tree.reap(orphan.pid)
        time.sleep(0.02)
    return killed
