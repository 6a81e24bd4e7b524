"""Copies: judge a run's batches against the store, which holds the run's earlier batches too."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Sequence

import numpy as np

from extractors.fingerprint import near_copy_of_sets, shingle_set
from extractors.records import Article, Verdict
from warehouse.store import Warehouse


class ShingleSpill:
    """Shingle sets by article_id, in a temporary file: a run verifies copy candidates against its
    own earlier articles without keeping their sets in memory (~6 KB an article: 120 MB at 20,000)
    nor reading their text back from DuckDB (a few ms a text: it decompresses a whole block)."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="newswatch-shingles-")
        self._at: dict[int, tuple[int, int]] = {}  # article_id -> (offset, count)
        self._end = 0

    def __contains__(self, aid: int) -> bool:
        return aid in self._at

    def put(self, aid: int, shingles: np.ndarray) -> None:
        data = np.ascontiguousarray(shingles, dtype=np.uint64).tobytes()
        os.pwrite(self._file.fileno(), data, self._end)
        self._at[aid] = (self._end, len(data))
        self._end += len(data)

    def get(self, aid: int) -> np.ndarray:
        offset, size = self._at[aid]
        return np.frombuffer(os.pread(self._file.fileno(), size, offset), dtype=np.uint64)

    def close(self) -> None:
        self._file.close()


class Judge:
    """Judges the batches of one run in turn, each against the store and the batch's own earlier
    articles. The flow writes each batch before it judges the next (RunRows.write), so the store
    already holds the run's earlier articles: apart from their shingle sets (ShingleSpill), the
    judge keeps nothing between batches, and its memory is one batch's whatever the size of the run.

    Exact text first (hash lookup), then near copies: LSH band keys joined against the stored keys
    for the whole batch at once, candidates verified on their shingle sets.
    """

    def __init__(self, wh: Warehouse):
        self.wh = wh
        self._spill = ShingleSpill()

    def close(self) -> None:
        self._spill.close()

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def judge(self, articles: Sequence[Article]) -> tuple[list[Verdict], list[int]]:
        """A verdict per article, in order, and the article_id reserved for each new one (0 for copies)."""
        wh = self.wh
        by_hash = wh.articles_by_text_hash([a.fingerprint.text_hash for a in articles])
        candidates = wh.band_candidates([(i, a.fingerprint.band_keys) for i, a in enumerate(articles)])
        # Sets of this run's earlier articles are in the spill; texts are read for the others (the
        # archive) once, and their sets spilled too.
        unread = {aid for ids in candidates.values() for aid in ids if aid not in self._spill}
        for aid, text in wh.article_texts(unread).items():
            self._spill.put(aid, shingle_set(text))
        new_ids = wh.reserve_article_ids(len(articles))
        # this batch's new articles, which later ones in it may copy
        local_hash: dict[str, int] = {}
        local_bands: dict[int, list[int]] = {}
        local_sets: dict[int, np.ndarray] = {}
        verdicts: list[Verdict] = []
        ids: list[int] = []
        for i, a in enumerate(articles):
            fp = a.fingerprint
            original = by_hash.get(fp.text_hash) or local_hash.get(fp.text_hash)
            verdict = Verdict(True, original, "exact", 1.0) if original else None
            if verdict is None:
                local = Counter(aid for k in fp.band_keys for aid in local_bands.get(k, ()))
                pool = [(aid, None) for aid in candidates.get(i, ()) if aid in self._spill]
                pool += [(aid, local_sets[aid]) for aid, _ in local.most_common(20)]
                verdict = self._near_copy(a, pool)
            if verdict:
                verdicts.append(verdict)
                ids.append(0)
                continue
            aid = new_ids[i]
            verdicts.append(Verdict(False))
            ids.append(aid)
            local_hash[fp.text_hash] = aid
            local_sets[aid] = _shingles(a)
            self._spill.put(aid, local_sets[aid])  # for the run's later batches
            for k in fp.band_keys:
                local_bands.setdefault(k, []).append(aid)
        return verdicts, ids

    def _near_copy(self, a: Article, pool: list[tuple[int, np.ndarray | None]]) -> Verdict | None:
        best, mine = None, None
        for aid, theirs in pool:
            mine = _shingles(a) if mine is None else mine
            ok, score = near_copy_of_sets(mine, self._spill.get(aid) if theirs is None else theirs)
            if ok and (best is None or score > best[1]):
                best = (aid, score)
        return Verdict(True, best[0], "near", round(best[1], 4)) if best else None


def _shingles(a: Article) -> np.ndarray:
    return a.fingerprint.shingles if a.fingerprint.shingles is not None else shingle_set(a.text)


def judge(articles: Sequence[Article], wh: Warehouse) -> tuple[list[Verdict], list[int]]:
    """`Judge.judge` for one batch on its own."""
    with Judge(wh) as j:
        return j.judge(articles)
