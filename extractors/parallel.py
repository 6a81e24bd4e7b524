"""Extraction of many pages in worker processes, with a per-page deadline.

Extraction is pure-Python CPU work (the GIL makes threads useless), and a pathological page can
take far longer than the usual ~25 ms. Each worker process takes one page at a time; a page that
overruns the deadline gets its worker killed and replaced, is reported as a timeout, and the rest
of the batch goes on. Workers start by the "forkserver" method (the parent has threads: Prefect,
HTTP clients), from a server that has imported trafilatura once, so starting or replacing a worker
costs milliseconds. `workers=0` extracts in-process, serially and without a deadline, for callers
that cannot start processes (Dask workers are daemonic).
"""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from types import TracebackType

from extractors.extract import extract_page_or_raise
from extractors.records import Extracted

ExtractFn = Callable[[str, str | None], Extracted | None]
Result = Extracted | str
EMPTY = "empty"

_CONTEXT = multiprocessing.get_context("forkserver")
# Only honoured if the forkserver is not running yet in this process; then workers import lazily.
_CONTEXT.set_forkserver_preload(["extractors.extract"])


def extract_many(
    pages: Sequence[tuple[str, str, str | None]], *, workers: int, deadline_s: float = 20.0
) -> dict[str, Result]:
    """key -> Extracted, or key -> why not ("empty", "timeout after 20s", the exception's text).

    `pages` are (key, html, url) triples; a key repeated keeps its last result.
    """
    if workers < 0:
        raise ValueError("workers must be >= 0")
    if workers == 0:
        return {key: _extract_one(extract_page_or_raise, html, url) for key, html, url in pages}
    with ExtractorPool(workers, deadline_s) as pool:
        return pool.extract(pages)


def _extract_one(extract_fn: ExtractFn, html: str, url: str | None) -> Result:
    try:
        result = extract_fn(html, url)
    except Exception as exc:  # reported per page; one bad page must not sink the batch
        return f"{type(exc).__name__}: {exc}"
    return result if result is not None else EMPTY


def _worker_main(conn: Connection, extract_fn: ExtractFn) -> None:
    """Worker loop: receive (html, url), send back the result; None means stop."""
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        conn.send(_extract_one(extract_fn, *job))


class _Worker:
    def __init__(self, extract_fn: ExtractFn):
        self.conn, child = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=_worker_main, args=(child, extract_fn), daemon=True)
        self.process.start()
        child.close()
        self.key: str | None = None  # the page it is working on
        self.started = 0.0

    def send(self, key: str, html: str, url: str | None) -> None:
        self.key, self.started = key, time.monotonic()
        self.conn.send((html, url))

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


class ExtractorPool:
    """Reusable pool of extraction worker processes; use as a context manager.

    `extract_fn` is the per-page function run in the workers (a module-level function, so it
    can be sent to them by reference); it exists so tests can run a deliberately slow or
    crashing page through the real pool. Not thread-safe: one `extract` call at a time.
    """

    def __init__(self, workers: int, deadline_s: float = 20.0, extract_fn: ExtractFn = extract_page_or_raise):
        if workers < 1:
            raise ValueError("an ExtractorPool needs workers >= 1 (use extract_many(workers=0) in-process)")
        if deadline_s <= 0:
            raise ValueError("deadline_s must be > 0")
        self.size = workers
        self.deadline_s = deadline_s
        self._extract_fn = extract_fn
        self._workers: list[_Worker] = []

    def __enter__(self) -> ExtractorPool:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        while len(self._workers) < self.size:
            self._workers.append(_Worker(self._extract_fn))

    def close(self) -> None:
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()

    def extract(self, pages: Sequence[tuple[str, str, str | None]]) -> dict[str, Result]:
        """Like `extract_many`, on this pool's workers (started on first use)."""
        self.start()
        todo = deque(pages)
        results: dict[str, Result] = {}
        idle = list(self._workers)
        busy: dict[Connection, _Worker] = {}
        while todo or busy:
            while todo and idle:
                key, html, url = todo.popleft()
                worker = idle.pop()
                worker.send(key, html, url)
                busy[worker.conn] = worker
            now = time.monotonic()
            timeout = max(0.0, min(w.started + self.deadline_s for w in busy.values()) - now)
            for conn in wait(list(busy), timeout=timeout):
                worker = busy.pop(conn)  # type: ignore[arg-type]
                try:
                    results[worker.key] = conn.recv()  # type: ignore[index]
                    idle.append(worker)
                except (EOFError, OSError):  # the worker died (crash, out of memory)
                    fresh = self._replace(worker)
                    results[worker.key] = f"worker died (exit code {worker.process.exitcode})"  # type: ignore[index]
                    idle.append(fresh)
            now = time.monotonic()
            for conn, worker in list(busy.items()):
                if now - worker.started >= self.deadline_s:
                    del busy[conn]
                    results[worker.key] = f"timeout after {self.deadline_s:g}s"  # type: ignore[index]
                    idle.append(self._replace(worker))
        return results

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        fresh = _Worker(self._extract_fn)
        self._workers[self._workers.index(worker)] = fresh
        return fresh
