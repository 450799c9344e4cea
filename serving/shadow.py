"""Shadow scoring: a share of `/predict` requests is scored again by the registry's `challenger`,
after the champion's answer has gone out, on the very model inputs the champion scored.

`ShadowScorer.offer` only queues a request (no scoring on the response path). Its `run` task
scores what queued in a worker thread and writes both scores to the `ShadowLog` (the landing
folder's `shadow/`, which the `shadow_scores` asset reads) every `flush_seconds`, and on
shutdown. The queue is bounded: past `max_pending_rows` a sampled request is not shadowed, and
`fraud_detector_shadow_skipped_rows_total` counts it, so a slow challenger never slows the
answers or grows memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlops_assets.lib.quality.shadow import ShadowLog
from serving.batching import Scored
from serving.champion import Loaded
from serving.schemas import Transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Offered:
    transactions: list[Transaction]
    scored: Scored


class ShadowScorer:
    def __init__(
        self,
        shadow_log: ShadowLog,
        share: float,
        *,
        flush_seconds: float = 10.0,
        max_pending_rows: int = 50_000,
        on_scored: Callable[[str, int], None] = lambda version, rows: None,
        on_skipped: Callable[[int], None] = lambda rows: None,
    ):
        """`share` of requests (0 to 1) is shadowed; `on_scored(challenger version, rows)` and
        `on_skipped(rows)` report to the service's metrics."""
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"the shadow share must be between 0 and 1, not {share}")
        self.log = shadow_log
        self.share = share
        self.flush_seconds = flush_seconds
        self.max_pending_rows = max_pending_rows
        self.on_scored = on_scored
        self.on_skipped = on_skipped
        self._pending: deque[_Offered] = deque()
        self._pending_rows = 0
        self._unwritten: list[pd.DataFrame] = []
        self._offered = asyncio.Event()

    def offer(self, transactions: list[Transaction], scored: Scored) -> None:
        """Queues the request for the challenger if it falls in the sampled share."""
        if self.share == 0.0 or random.random() >= self.share:
            return
        if self._pending_rows + len(transactions) > self.max_pending_rows:
            self.on_skipped(len(transactions))
            return
        self._pending.append(_Offered(transactions, scored))
        self._pending_rows += len(transactions)
        self._offered.set()

    async def run(self, challenger: Callable[[], Loaded | None]) -> None:
        """Scores what was offered with `challenger()` and writes it out, until cancelled."""
        last_write = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):  # nothing offered: time to write what waits
                await asyncio.wait_for(self._offered.wait(), timeout=self.flush_seconds)
            self._offered.clear()
            await self._score_pending(challenger())
            if self._unwritten and time.monotonic() - last_write >= self.flush_seconds:
                await asyncio.to_thread(self.flush)
                last_write = time.monotonic()

    async def close(self, challenger: Loaded | None) -> None:
        """Scores what is still queued and writes everything out (the service is stopping)."""
        await self._score_pending(challenger)
        await asyncio.to_thread(self.flush)

    async def _score_pending(self, challenger: Loaded | None) -> None:
        offered = list(self._pending)
        self._pending.clear()
        self._pending_rows = 0
        if not offered or challenger is None:  # the alias moved away meanwhile: nothing to compare
            return
        rows = sum(len(o.transactions) for o in offered)
        try:
            self._unwritten.append(await asyncio.to_thread(self._score, offered, challenger))
        except Exception:  # noqa: BLE001 - the answers went out; only the shadow is lost, and counted
            log.exception("shadow scoring failed")
            self.on_skipped(rows)
            return
        self.on_scored(challenger.version, rows)

    def flush(self) -> None:
        """Writes the scores not written yet (one fragment per event day)."""
        unwritten, self._unwritten = self._unwritten, []
        if not unwritten:
            return
        scores = pd.concat(unwritten, ignore_index=True)
        try:
            self.log.write(scores)
        except OSError:
            log.exception("shadow scores not written")
            self.on_skipped(len(scores))

    @staticmethod
    def _score(offered: list[_Offered], challenger: Loaded) -> pd.DataFrame:
        """The offered requests' rows with both versions' scores and decisions."""
        inputs = pd.concat([o.scored.inputs.iloc[o.scored.rows] for o in offered], ignore_index=True)
        theirs = challenger.model.predict_proba(inputs)
        transactions = [t for o in offered for t in o.transactions]
        ours = np.concatenate([o.scored.probabilities for o in offered])
        per_row = [(o.scored.version, o.scored.threshold) for o in offered for _ in o.transactions]
        return pd.DataFrame(
            {
                "transaction_id": [t.transaction_id for t in transactions],
                "event_timestamp": pd.to_datetime([t.event_timestamp for t in transactions], utc=True),
                "customer_id": np.array([t.customer_id for t in transactions], dtype=np.int64),
                "merchant_id": np.array([t.merchant_id for t in transactions], dtype=np.int64),
                "amount": np.array([t.amount for t in transactions], dtype=np.float64),
                "scored_at": pd.Timestamp.now(tz="UTC"),
                "champion_version": [version for version, _ in per_row],
                "champion_probability": ours,
                "champion_is_fraud": ours >= np.array([threshold for _, threshold in per_row]),
                "challenger_version": challenger.version,
                "challenger_probability": theirs,
                "challenger_is_fraud": theirs >= challenger.threshold,
            }
        )
