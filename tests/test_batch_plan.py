"""How the flow cuts page batches from entries arriving shard by shard (flows.ingest.batches.BatchPlan)."""

from __future__ import annotations

from flows.ingest.batches import BatchPlan, growing_shards


def _drain(plan: BatchPlan) -> list[list]:
    out = []
    while batch := plan.next():
        out.append(batch)
    return out


def test_batches_are_full_except_the_last_and_keep_the_order():
    groups = [list(range(1000)), [], list(range(1000, 2050))]
    batches = _drain(BatchPlan(groups, 200))
    assert [x for b in batches for x in b] == list(range(2050))
    assert [len(b) for b in batches] == [200] * 10 + [50]


def test_groups_are_taken_only_when_a_batch_needs_them():
    pulled = []

    def groups():
        for k in range(3):
            pulled.append(k)  # in the flow: waiting for poll shard k
            yield list(range(100 * k, 100 * k + 100))

    plan = BatchPlan(groups(), 40)
    assert plan.next() == list(range(40)) and pulled == [0]  # the first shard is enough to start
    assert [x for b in _drain(plan) for x in b] == list(range(40, 300)) and pulled == [0, 1, 2]


def test_nothing_new_gives_no_batch():
    assert BatchPlan([[], []], 200).next() == []
    assert _drain(BatchPlan([list(range(3))], 200)) == [[0, 1, 2]]


def test_poll_shards_start_small_and_double():
    feeds = list(range(1000))
    got = growing_shards(feeds, 50)
    assert [len(s) for s in got] == [50, 100, 200, 400, 250]
    assert [f for s in got for f in s] == feeds
    assert growing_shards([], 50) == [] and [len(s) for s in growing_shards(feeds[:30], 50)] == [30]
