"""How a run's feeds and new entries are cut into batches for the tasks."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

from extractors.records import FeedEntry


def shards(seq: Sequence, n: int) -> list[Sequence]:
    """`seq` in consecutive shards of at most `n`."""
    return [seq[i : i + n] for i in range(0, len(seq), n)]


def growing_shards(seq: Sequence, first: int) -> list[Sequence]:
    """`seq` in consecutive shards of `first`, then twice as many each time: the first comes back
    soon (fetching starts with it) and the rest come in few task runs (1,000 feeds in 5 of 50 to
    800, instead of 20 of 50; a task run costs tens of ms of CPU, and each shard polls on threads
    of its own)."""
    out, i, n = [], 0, max(1, first)
    while i < len(seq):
        out.append(seq[i : i + n])
        i, n = i + n, 2 * n
    return out


class BatchPlan:
    """Page batches of `size` cut from entry groups as they come (one group per polled shard of
    feeds): a batch is handed out as soon as enough entries are in, or when no more will come."""

    def __init__(self, groups: Iterable[list[FeedEntry]], size: int):
        self._groups = iter(groups)
        self._pending: deque[FeedEntry] = deque()
        self._size = size
        self._done = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    def next(self) -> list[FeedEntry]:
        """The next batch; empty when there is none left."""
        while not self._done and len(self._pending) < self._size:
            group = next(self._groups, None)
            if group is None:
                self._done = True
            else:
                self._pending.extend(group)
        return [self._pending.popleft() for _ in range(min(self._size, len(self._pending)))]
