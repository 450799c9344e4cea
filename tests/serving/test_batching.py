"""`MicroBatcher`: concurrent requests are scored together, each gets its own rows back, errors
reach every request of their batch, and an overfull queue refuses at once."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from serving.batching import CanaryAnswers, MicroBatcher, Overloaded, Scored


def scorer(calls: list[list]):
    gate = threading.Event()

    def score(rows: list) -> Scored:
        calls.append(list(rows))
        gate.wait(timeout=5)  # the first batch runs until released, so the others queue up
        if "bad" in rows:
            raise ValueError("cannot score 'bad'")
        return Scored("7", 0.5, np.array([float(r) / 100 for r in rows]), inputs=list(rows))

    return score, gate


def test_requests_queued_during_a_batch_are_scored_together_in_order() -> None:
    calls: list[list] = []
    score, gate = scorer(calls)

    async def run():
        batcher = MicroBatcher(score, max_batch_rows=100)
        first = asyncio.create_task(batcher.submit([1]))
        await asyncio.sleep(0.05)
        others = [asyncio.create_task(batcher.submit([10 * i, 10 * i + 1])) for i in range(1, 5)]
        await asyncio.sleep(0.05)
        gate.set()
        return await first, await asyncio.gather(*others), list(batcher.batch_sizes)

    first, others, sizes = asyncio.run(run())
    assert calls == [[1], [10, 11, 20, 21, 30, 31, 40, 41]] and sizes == [1, 4]
    assert first.version == "7" and first.probabilities.tolist() == [0.01]
    assert [o.probabilities.tolist() for o in others] == [[(10 * i) / 100, (10 * i + 1) / 100] for i in range(1, 5)]
    # each request can find its own rows in what the scorer built for the batch
    assert [o.inputs[o.rows] for o in others] == [[10 * i, 10 * i + 1] for i in range(1, 5)]


def test_a_batch_takes_whole_requests_up_to_its_row_limit() -> None:
    calls: list[list] = []
    score, gate = scorer(calls)
    gate.set()

    async def run():
        batcher = MicroBatcher(score, max_batch_rows=3)
        return await asyncio.gather(*(batcher.submit([i, i]) for i in range(1, 4)))

    asyncio.run(run())
    assert calls == [[1, 1], [2, 2], [3, 3]]


def test_an_error_reaches_every_request_of_its_batch_and_the_next_batch_runs() -> None:
    calls: list[list] = []
    score, gate = scorer(calls)

    async def run():
        batcher = MicroBatcher(score)
        first = asyncio.create_task(batcher.submit([1]))
        await asyncio.sleep(0.05)
        failing = [asyncio.create_task(batcher.submit(rows)) for rows in (["bad"], [5])]
        await asyncio.sleep(0.05)
        gate.set()
        await first
        results = await asyncio.gather(*failing, return_exceptions=True)
        return results, await batcher.submit([9])

    results, after = asyncio.run(run())
    assert all(isinstance(r, ValueError) for r in results) and after.probabilities.tolist() == [0.09]


def test_an_overfull_queue_refuses_at_once() -> None:
    calls: list[list] = []
    score, gate = scorer(calls)

    async def run():
        batcher = MicroBatcher(score, max_queued_rows=10)
        running = asyncio.create_task(batcher.submit([1]))
        await asyncio.sleep(0.05)
        queued = asyncio.create_task(batcher.submit(list(range(10))))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded, match="rows are waiting"):
            await batcher.submit([1])
        gate.set()
        return await running, await queued

    running, queued = asyncio.run(run())
    assert len(queued.probabilities) == 10


def test_a_canary_answers_its_rows_at_its_threshold_and_each_request_keeps_its_part() -> None:
    rows = np.array([False, True, True, False])
    canary = CanaryAnswers("9", 0.5, rows, np.array([np.nan, 0.6, 0.4, np.nan]))
    scored = Scored("7", 0.1, np.array([0.05, 0.2, 0.3, 0.2]), canary=canary)
    versions, probabilities, flagged = scored.answers()
    assert versions == ["7", "9", "9", "7"]
    np.testing.assert_array_equal(probabilities, [0.05, 0.6, 0.4, 0.2])
    assert flagged.tolist() == [False, True, False, True]  # 0.4 < the canary's 0.5; 0.2 >= the champion's 0.1
    # The champion's own scores stay whole (the shadow log compares the two on the canary's rows).
    np.testing.assert_array_equal(scored.probabilities, [0.05, 0.2, 0.3, 0.2])
    second = scored.part(slice(2, 4))
    assert second.answers()[0] == ["9", "7"] and second.answers()[2].tolist() == [False, True]
    alone = Scored("7", 0.1, np.array([0.05]))
    assert alone.answers()[0] == ["7"]
