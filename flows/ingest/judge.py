"""Copies: judge a run's batches against the store and against the run's earlier articles."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from extractors.fingerprint import near_copy_of_sets, shingle_set
from extractors.records import Article, Verdict
from warehouse.store import Warehouse


class Judge:
    """Judges the batches of one run in turn, each against the store and every new article of the
    run judged before it (so the flow can judge a batch while later ones are still extracted).

    Exact text first (hash lookup), then near copies: LSH band keys joined against the stored keys
    for the whole batch at once, candidates verified on their text.
    """

    def __init__(self, wh: Warehouse):
        self.wh = wh
        self._hash: dict[str, int] = {}  # text hash -> article_id, new articles of this run
        self._bands: dict[int, list[int]] = {}  # band key -> article_ids, new articles of this run
        self._texts: dict[int, str] = {}  # new articles of this run
        self._sets: dict[int, object] = {}  # shingle sets, computed once and only when needed

    def judge(self, articles: Sequence[Article]) -> tuple[list[Verdict], list[int]]:
        """A verdict per article, in order, and the article_id reserved for each new one (0 for copies)."""
        wh = self.wh
        by_hash = wh.articles_by_text_hash([a.fingerprint.text_hash for a in articles])
        candidates = wh.band_candidates([(i, a.fingerprint.band_keys) for i, a in enumerate(articles)])
        # Stored by earlier runs; this run's own articles, stored batch by batch, are matched below
        # from what the judge keeps of them.
        candidates = {i: [aid for aid in ids if aid not in self._texts] for i, ids in candidates.items()}
        texts = wh.article_texts(aid for ids in candidates.values() for aid in ids)
        new_ids = wh.reserve_article_ids(len(articles))
        verdicts: list[Verdict] = []
        ids: list[int] = []
        for i, a in enumerate(articles):
            fp = a.fingerprint
            original = by_hash.get(fp.text_hash) or self._hash.get(fp.text_hash)
            verdict = Verdict(True, original, "exact", 1.0) if original else None
            if verdict is None:
                local = Counter(aid for k in fp.band_keys for aid in self._bands.get(k, ()))
                pool = [aid for aid in candidates.get(i, ()) if aid in texts]
                pool += [aid for aid, _ in local.most_common(20)]
                verdict = self._near_copy(a, pool, texts)
            if verdict:
                verdicts.append(verdict)
                ids.append(0)
                continue
            aid = new_ids[i]
            verdicts.append(Verdict(False))
            ids.append(aid)
            self._hash[fp.text_hash] = aid
            self._texts[aid] = a.text  # later articles may copy this one
            if fp.shingles is not None:
                self._sets[aid] = fp.shingles
            for k in fp.band_keys:
                self._bands.setdefault(k, []).append(aid)
        return verdicts, ids

    def _near_copy(self, a: Article, pool: list[int], texts: dict[int, str]) -> Verdict | None:
        best, mine = None, None
        for aid in pool:
            mine = _shingles(a) if mine is None else mine
            if aid not in self._sets:
                self._sets[aid] = shingle_set(self._texts[aid] if aid in self._texts else texts[aid])
            ok, score = near_copy_of_sets(mine, self._sets[aid])
            if ok and (best is None or score > best[1]):
                best = (aid, score)
        return Verdict(True, best[0], "near", round(best[1], 4)) if best else None


def _shingles(a: Article):
    return a.fingerprint.shingles if a.fingerprint.shingles is not None else shingle_set(a.text)


def judge(articles: Sequence[Article], wh: Warehouse) -> tuple[list[Verdict], list[int]]:
    """`Judge.judge` for one batch on its own."""
    return Judge(wh).judge(articles)
