"""`MicroBatcher`: requests that arrive while a batch is being scored are scored together next.

Scoring has a large fixed cost per call (building the model input is pandas work of about 5 ms
whatever the number of rows) and a small cost per row, so one call for 64 one-row requests costs
little more than one call for one. There is no timer: a batch is whatever queued while the last
one ran, so an idle service answers a lone request at once, and a busy one batches more.

BentoML's own `batchable` APIs cannot be used here: they map one input item to one output item,
and `/predict` answers each request with its own `{"model_version", "predictions"}`.

Backpressure: when the rows waiting pass `max_queued_rows`, `submit` raises `Overloaded` at once
(the service answers 429) instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np


class Overloaded(Exception):
    """More rows are waiting than the batcher accepts."""


@dataclass(frozen=True)
class CanaryAnswers:
    """The rows a canary answers instead of the champion, with its P(fraud) for them."""

    version: str
    threshold: float
    rows: np.ndarray  # per row: answered by the canary
    probabilities: np.ndarray  # per row: the canary's P(fraud), NaN where it did not answer

    def part(self, own: slice) -> CanaryAnswers:
        return replace(self, rows=self.rows[own], probabilities=self.probabilities[own])


class Answers(NamedTuple):
    """Per row of a request: the version that answers, its P(fraud) and its decision."""

    versions: list[str]
    probabilities: np.ndarray
    flagged: np.ndarray


@dataclass
class Scored:
    """The answer to one request (or, from the scorer, to a whole batch): the champion's version,
    its threshold and P(fraud) per row, and the rows a canary answers instead (`canary`).
    `inputs` is whatever the scorer built for the whole batch (the model inputs), kept so the
    same rows can be scored again off the response path (`serving.shadow`); `rows` are this
    request's rows of it."""

    version: str
    threshold: float
    probabilities: np.ndarray
    inputs: Any = None
    rows: slice = field(default_factory=lambda: slice(None))
    degraded: tuple[str, ...] = ()  # dependencies it was scored without (`FraudDetector.degraded`)
    canary: CanaryAnswers | None = None

    def part(self, own: slice) -> Scored:
        """This answer for the rows `own` of the batch."""
        canary = self.canary.part(own) if self.canary is not None else None
        return replace(self, probabilities=self.probabilities[own], rows=own, canary=canary)

    def answers(self) -> Answers:
        """Per row: the version that answers, its P(fraud) and its decision at its own threshold."""
        flagged = self.probabilities >= self.threshold
        if self.canary is None or not self.canary.rows.any():
            return Answers([self.version] * len(self.probabilities), self.probabilities, flagged)
        rows = self.canary.rows
        probabilities = np.where(rows, self.canary.probabilities, self.probabilities)
        flagged = np.where(rows, self.canary.probabilities >= self.canary.threshold, flagged)
        versions = [self.canary.version if own else self.version for own in rows.tolist()]
        return Answers(versions, probabilities, flagged)


@dataclass
class _Waiting:
    rows: list
    answer: asyncio.Future


class MicroBatcher:
    def __init__(
        self,
        score: Callable[[list], Scored],
        *,
        max_batch_rows: int = 4096,
        max_queued_rows: int = 50_000,
    ):
        """`score(rows)` scores the rows of a batch (in a worker thread) and returns its `Scored`;
        a batch takes whole requests up to `max_batch_rows` rows (a larger request is scored
        alone)."""
        self.score = score
        self.max_batch_rows = max_batch_rows
        self.max_queued_rows = max_queued_rows
        self.batch_sizes: deque[int] = deque(maxlen=1000)  # requests per batch, the latest ones
        self._queue: deque[_Waiting] = deque()
        self._queued_rows = 0
        self._running: asyncio.Task | None = None

    async def submit(self, rows: list) -> Scored:
        """The scores of one request's rows, from the batch it joined."""
        if self._queued_rows + len(rows) > self.max_queued_rows and self._queue:
            raise Overloaded(f"{self._queued_rows} rows are waiting to be scored; retry shortly")
        waiting = _Waiting(rows, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        self._queued_rows += len(rows)
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._drain())
        return await waiting.answer

    async def _drain(self) -> None:
        while self._queue:
            batch = self._take()
            try:
                rows = batch[0].rows if len(batch) == 1 else [row for waiting in batch for row in waiting.rows]
                scored = await asyncio.to_thread(self.score, rows)
            except Exception as error:  # noqa: BLE001 - each waiting request gets the error
                for waiting in batch:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(error)
                continue
            start = 0
            for waiting in batch:
                end = start + len(waiting.rows)
                if not waiting.answer.done():  # a cancelled request (client gone) is skipped
                    own = slice(start, end)
                    waiting.answer.set_result(scored.part(own))
                start = end

    def _take(self) -> list[_Waiting]:
        batch = [self._queue.popleft()]
        rows = len(batch[0].rows)
        while self._queue and rows + len(self._queue[0].rows) <= self.max_batch_rows:
            rows += len(self._queue[0].rows)
            batch.append(self._queue.popleft())
        self._queued_rows -= rows
        self.batch_sizes.append(len(batch))
        return batch
