"""Extraction of many pages in worker processes, with a per-page deadline.

Extraction is pure-Python CPU work (the GIL makes threads useless), and a pathological page can
take far longer than the usual ~20 ms. Each worker process extracts one page at a time; a page that
overruns the deadline gets its worker killed and replaced, is reported as a timeout, and the rest
of the batch goes on. Workers start by the "forkserver" method (the parent has threads: Prefect,
HTTP clients), from a server that has imported trafilatura once, so starting or replacing a worker
costs milliseconds. `workers=0` extracts in-process, serially and without a deadline, for callers
that cannot start processes (Dask workers are daemonic).

Each worker is given its next pages while it still works on the current one (a receiving thread in
the worker takes them off the pipe), so it never sits idle waiting for the parent, whose GIL is
shared with fetching threads and may answer late; and pages are queued to the pool one by one from
any thread, so concurrent batches keep every worker busy with no gap between batches.
"""

from __future__ import annotations

import multiprocessing
import queue
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from extractors.extract import extract_page_or_raise
from extractors.records import Extracted

ExtractFn = Callable[..., Extracted | None]
Result = Extracted | str
EMPTY = "empty"
# Pages handed to a worker at once: the one it works on and two next, so a worker has ~40 ms of
# work in hand when the parent's GIL delays the dispatcher (measured in the throughput bench:
# with one next page, the cores sat idle 0.41 core-seconds mid-run on average; with two, 0.21).
# More would delay other workers' pages behind a slow one.
QUEUE_DEPTH = 3

_CONTEXT = multiprocessing.get_context("forkserver")
# Only honoured if the forkserver is not running yet in this process; then workers import lazily.
_CONTEXT.set_forkserver_preload(["extractors.extract", "extractors.http"])  # extraction, feed parsing

Job = tuple[Any, ...]  # (key, *arguments of the extract function), e.g. (key, html, url)
Queued = tuple[Job, Future, "ExtractFn | None"]  # a job, its result to be, the function to run


def extract_many(
    pages: Sequence[Job], *, workers: int, deadline_s: float = 20.0, fn: ExtractFn = extract_page_or_raise
) -> dict[str, Result]:
    """key -> Extracted, or key -> why not ("empty", "timeout after 20s", the exception's text).

    `pages` are (key, *arguments of extract_page) tuples, e.g. (key, html, url) or
    (key, body bytes, url, content type); a key repeated keeps its last result.
    """
    if workers < 0:
        raise ValueError("workers must be >= 0")
    if workers == 0:
        return {job[0]: _extract_one(fn, job[1:]) for job in pages}
    with ExtractorPool(workers, deadline_s, extract_fn=fn) as pool:
        return pool.extract(pages)


def _extract_one(extract_fn: ExtractFn, args: tuple) -> Result:
    try:
        result = extract_fn(*args)
    except Exception as exc:  # reported per page; one bad page must not sink the batch
        return f"{type(exc).__name__}: {exc}"
    return result if result is not None else EMPTY


def _worker_main(conn: Connection, extract_fn: ExtractFn) -> None:
    """Worker: a thread receives jobs ((function or None for `extract_fn`, arguments); None means
    stop) into a queue, so the parent can hand over the next page while this one is extracted;
    results go back in order. Ctrl-C at a terminal signals every process of the foreground group, and
    systemd's stop every process of the service: the parent decides what to do (finish or drop its
    pages, then close the pool), so a worker ignores both. Should the parent die, the pipe closes and
    the worker leaves after its page."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    jobs: queue.SimpleQueue = queue.SimpleQueue()

    def receive() -> None:
        while True:
            try:
                job = conn.recv()
            except (EOFError, OSError):
                job = None
            jobs.put(job)
            if job is None:
                return

    threading.Thread(target=receive, daemon=True).start()
    while (job := jobs.get()) is not None:
        fn, args = job
        try:
            conn.send(_extract_one(fn or extract_fn, args))
        except (OSError, ValueError):
            return


class _Worker:
    def __init__(self, extract_fn: ExtractFn):
        self.conn, child = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=_worker_main, args=(child, extract_fn), daemon=True)
        self.process.start()
        child.close()
        self.assigned: deque[Queued] = deque()  # sent (or about to be), not answered; the first is worked on
        self.started = 0.0  # when the first assigned job started

    def assign(self, queued: Queued) -> None:
        """Count `queued` as this worker's; the dispatcher sends it next (`send`)."""
        if not self.assigned:
            self.started = time.monotonic()
        self.assigned.append(queued)

    def send(self, queued: Queued) -> None:
        """Raises OSError when the worker is gone (it died while idle)."""
        job, _future, fn = queued
        self.conn.send((fn, job[1:]))

    def take_back(self, queued: Queued) -> list[Queued]:
        """Unassign `queued` and the jobs assigned after it (none was sent: the worker is gone)."""
        jobs = list(self.assigned)
        first = next(i for i, q in enumerate(jobs) if q is queued)
        self.assigned = deque(jobs[:first])
        return jobs[first:]

    def answered(self) -> Future:
        """The first assigned job was answered: the next one (already sent) starts now."""
        self.started = time.monotonic()
        return self.assigned.popleft()[1]

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
    """Pool of extraction worker processes, fed continuously; use as a context manager.

    `submit` queues a page from any thread and returns a Future; a dispatcher thread hands pages to
    workers, collects results and enforces the deadline. Batches submitted by concurrent tasks
    therefore share the workers without a gap between batches. `extract_fn` is the per-page function
    run in the workers (a module-level function, so it can be sent to them by reference); it exists so
    tests can run a deliberately slow or crashing page through the real pool.
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
        self._todo: deque[Queued] = deque()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = _CONTEXT.Pipe(duplex=False)
        self._wake_pending = False  # a wake-up is written and not yet read: no need for another
        self._closing = False
        self._dispatcher: threading.Thread | None = None

    def __enter__(self) -> ExtractorPool:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        with self._lock:
            if self._closing:
                raise RuntimeError("the extractor pool is closed")
            if self._dispatcher is not None:
                return
            self._workers = [_Worker(self._extract_fn) for _ in range(self.size)]
            self._dispatcher = threading.Thread(target=self._dispatch, name="extractor-pool", daemon=True)
            self._dispatcher.start()

    def close(self) -> None:
        with self._lock:
            self._closing = True
            dispatcher, self._dispatcher = self._dispatcher, None
        self._wake()
        if dispatcher is not None:
            dispatcher.join()
        for worker in self._workers:
            worker.stop()
        self._workers = []
        self._wake_r.close()
        self._wake_w.close()

    def submit(self, job: Job, fn: ExtractFn | None = None) -> Future:
        """Queue (key, *arguments) for extraction; the Future's result is an Extracted or why not.

        `fn`, a module-level function, runs instead of the pool's `extract_fn` for this job: the
        workers also serve other CPU-bound steps (parsing feeds), with the same deadline."""
        if self._dispatcher is None:  # started once; not a lock taken per page (start raises if closed)
            self.start()
        future: Future = Future()
        with self._lock:
            if self._closing:  # closed meanwhile, or the dispatcher failed: nobody would answer
                raise RuntimeError("the extractor pool is closed")
            self._todo.append((job, future, fn))
            # Woken only if a worker can take the page now. Otherwise the dispatcher hands it out
            # after the next answer, which wakes it anyway: when fetching runs ahead of extraction
            # (the usual case), this saves one dispatcher wake-up per page.
            wake = not self._wake_pending and self._room()
            self._wake_pending = self._wake_pending or wake
        if wake:
            self._wake()
        return future

    def extract(self, pages: Sequence[Job], fn: ExtractFn | None = None) -> dict[str, Result]:
        """Like `extract_many`, on this pool's workers (started on first use)."""
        futures = [(job[0], self.submit(job, fn)) for job in pages]
        return {key: future.result() for key, future in futures}

    def _room(self) -> bool:
        """Some worker holds fewer than QUEUE_DEPTH pages (the caller holds the lock)."""
        return any(len(worker.assigned) < QUEUE_DEPTH for worker in self._workers)

    def _wake(self) -> None:
        try:
            self._wake_w.send_bytes(b"")
        except OSError:
            pass

    def _dispatch(self) -> None:
        """The dispatcher thread: the only one touching workers. One poll object watches every
        worker's pipe and the wake-up pipe (cheaper than building a selector per wait)."""
        poller = select.poll()
        by_fd: dict[int, _Worker] = {}

        def watch(worker: _Worker) -> None:
            by_fd[worker.conn.fileno()] = worker
            poller.register(worker.conn.fileno(), select.POLLIN)

        def replace(worker: _Worker) -> tuple[Future | None, int | None]:
            fd = worker.conn.fileno()
            poller.unregister(fd)  # before the pipe closes: its number may be reused at once
            del by_fd[fd]
            index = self._workers.index(worker)
            future, exitcode = self._replace(worker)
            watch(self._workers[index])
            return future, exitcode

        try:
            with self._lock:
                workers = list(self._workers)
            for worker in workers:
                watch(worker)
            poller.register(self._wake_r.fileno(), select.POLLIN)
            while True:
                handed: list[tuple[_Worker, Queued]] = []
                with self._lock:
                    if self._closing:
                        break
                    for depth in range(QUEUE_DEPTH):  # first give every worker a page, then next ones
                        for worker in self._workers:
                            if self._todo and len(worker.assigned) <= depth:
                                queued = self._todo.popleft()
                                worker.assign(queued)
                                handed.append((worker, queued))
                # Sent without the lock: a send waits while the worker's socket buffer is full (a
                # page is ~100 KB), and the fetching threads queueing pages must not wait meanwhile.
                dead: list[_Worker] = []
                unsent: list[Queued] = []
                for worker, queued in handed:
                    if worker in dead:
                        continue
                    try:
                        worker.send(queued)
                    except OSError:  # it died while idle (killed, out of memory)
                        dead.append(worker)
                        unsent += worker.take_back(queued)
                if dead:
                    with self._lock:
                        self._todo.extendleft(reversed(unsent))
                    for worker in dead:
                        future, exitcode = replace(worker)
                        if future is not None:
                            future.set_result(f"worker died (exit code {exitcode})")
                    continue  # hand the pages put back to the fresh workers before waiting
                busy = [w for w in self._workers if w.assigned]
                timeout_ms = None
                if busy:
                    first = min(w.started for w in busy)
                    timeout_ms = max(0.0, first + self.deadline_s - time.monotonic()) * 1000.0
                for fd, _event in poller.poll(timeout_ms):
                    if fd == self._wake_r.fileno():
                        while self._wake_r.poll():
                            self._wake_r.recv_bytes()
                        with self._lock:
                            self._wake_pending = False  # the loop takes what was queued next
                        continue
                    worker = by_fd[fd]
                    try:
                        result = worker.conn.recv()
                    except (EOFError, OSError):  # the worker died (crash, out of memory)
                        future, exitcode = replace(worker)
                        if future is not None:
                            future.set_result(f"worker died (exit code {exitcode})")
                        break  # the fresh worker may have the dead one's fd: poll again
                    if worker.assigned:
                        worker.answered().set_result(result)
                now = time.monotonic()
                for worker in list(self._workers):
                    if worker.assigned and now - worker.started >= self.deadline_s:
                        future, _ = replace(worker)
                        future.set_result(f"timeout after {self.deadline_s:g}s")
        except Exception as exc:  # e.g. no worker can be started any more (the process is being
            # stopped and its forkserver went first): the pages left fail with the reason, no traceback
            why = f"the extractor pool stopped: {type(exc).__name__}: {exc}"
        else:
            why = "the extractor pool was closed"
        finally:
            with self._lock:
                self._closing = True  # also after an unexpected error: submit must fail, not hang
                left = [q[1] for q in self._todo] + [q[1] for w in self._workers for q in w.assigned]
                self._todo.clear()
            for future in left:
                if not future.done():
                    future.set_exception(RuntimeError(why))

    def _replace(self, worker: _Worker) -> tuple[Future | None, int | None]:
        """Kill `worker` and start a fresh one in its place; the pages queued behind its current one
        go back to the front of the queue. Returns the current page's Future (None if it had none)
        and the exit code."""
        worker.kill()
        current, behind = (worker.assigned[0], list(worker.assigned)[1:]) if worker.assigned else (None, [])
        with self._lock:
            self._todo.extendleft(reversed(behind))
        self._workers[self._workers.index(worker)] = _Worker(self._extract_fn)
        return (current[1] if current else None), worker.process.exitcode
