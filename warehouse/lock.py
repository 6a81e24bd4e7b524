"""The writer's lock: one process at a time writes a warehouse.

A `flock` on `<path>.lock`, taken without waiting. The lock belongs to the process: `newswatch run`
takes it before Prefect starts (so a second run is turned away in a second, not after Prefect's
start-up), and the warehouse opened later in the same process finds it held and uses it. The kernel
releases it when the process dies, however it dies, so a lock is never left stale.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from warehouse.errors import WarehouseBusy

_HELD: dict[Path, list[int]] = {}  # lock file -> [fd, holders in this process]
_GUARD = threading.Lock()


def lock_path(published: Path) -> Path:
    return published.with_name(published.name + ".lock")


class WriterLock:
    """`with WriterLock(path):` holds the warehouse's writer lock; raises WarehouseBusy when another
    process holds it. Reentrant within a process."""

    def __init__(self, published: Path | str):
        self.published = Path(published)
        self.path = lock_path(self.published).absolute()

    def acquire(self) -> None:
        with _GUARD:
            if self.path in _HELD:
                _HELD[self.path][1] += 1
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise WarehouseBusy(
                    f"{self.published}: another newswatch run is writing this warehouse"
                ) from None
            _HELD[self.path] = [fd, 1]

    def release(self) -> None:
        with _GUARD:
            held = _HELD.get(self.path)
            if held is None:
                return
            held[1] -= 1
            if held[1] == 0:
                del _HELD[self.path]
                fcntl.flock(held[0], fcntl.LOCK_UN)
                os.close(held[0])

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
