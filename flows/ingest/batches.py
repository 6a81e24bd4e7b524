"""How a run's feeds and new entries are cut into batches for the tasks."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

from extractors.records import FeedEntry


def _shards(seq: Sequence, n: int) -> list[Sequence]:
    """Shards of `n`, the first of a quarter of that: pages start being fetched once it is in."""
    first = max(1, n // 4)
    return [seq[:first], *(seq[i : i + n] for i in range(first, len(seq), n))] if seq else []


class BatchPlan:
    """Page batches cut from entry groups as they come: batches of `size`, except the first and the
    last, of a quarter of that: the first so extraction starts early, the last so the work left once
    extraction ends (judging and matching the last batch, while the workers wait) is short."""

    def __init__(self, groups: Iterable[list[FeedEntry]], size: int):
        self._groups = iter(groups)
        self._pending: deque[FeedEntry] = deque()
        self._size = size
        self._quarter = max(1, size // 4)
        self._first = True
        self._done = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    def next(self) -> list[FeedEntry]:
        """The next batch; empty when there is none left."""
        want = self._quarter if self._first else self._size
        while not self._done and len(self._pending) < want + self._quarter:
            group = next(self._groups, None)
            if group is None:
                self._done = True
            else:
                self._pending.extend(group)
        n = len(self._pending)
        if self._done and self._quarter < n <= want:
            n -= self._quarter  # leave a small last batch
        n = min(n, want)
        self._first = self._first and n == 0
        return [self._pending.popleft() for _ in range(n)]
