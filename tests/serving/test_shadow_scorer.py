"""`ShadowScorer` (unit): it shadows the configured share of requests, scores them on the rows the
champion scored, keeps its queue bounded (counting what it skips), and writes everything out when
the service stops. The real service and model are in `test_shadow`; here a stand-in model makes
the challenger's scores easy to predict."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from mlops_assets.lib.quality.shadow import ShadowLog
from serving.batching import Scored
from serving.champion import Loaded
from serving.schemas import Transaction
from serving.shadow import ShadowScorer


class HalfOfAmount:
    """Stands in for a model: P(fraud) = amount / 200."""

    kind = "stand-in"

    def predict_proba(self, inputs: pd.DataFrame) -> np.ndarray:
        return inputs["amount"].to_numpy() / 200


CHALLENGER = Loaded("9", HalfOfAmount(), 0.3, {})


def request(first: int, count: int) -> tuple[list[Transaction], Scored]:
    """`count` transactions and the champion's `Scored` for them, cut from a larger batch."""
    transactions = [
        Transaction(
            transaction_id=f"t{i}",
            event_timestamp=datetime(2025, 3, 11, 12, tzinfo=UTC),
            customer_id=1,
            merchant_id=1,
            amount=float(i),
        )
        for i in range(first, first + count)
    ]
    batch_inputs = pd.DataFrame({"amount": np.arange(first - 5, first + count + 5, dtype=float)})
    rows = slice(5, 5 + count)
    return transactions, Scored("8", 0.5, np.full(count, 0.4), batch_inputs, rows)


def test_the_share_is_scored_on_the_champions_rows_and_written_on_close(tmp_path) -> None:
    scored_counts: list[tuple[str, int]] = []
    scorer = ShadowScorer(
        ShadowLog.of_landing(tmp_path), 1.0, flush_seconds=60, on_scored=lambda v, n: scored_counts.append((v, n))
    )

    async def run() -> None:
        task = asyncio.create_task(scorer.run(lambda: CHALLENGER))
        scorer.offer(*request(10, 3))
        scorer.offer(*request(100, 2))
        await asyncio.sleep(0.2)
        task.cancel()
        await scorer.close(CHALLENGER)

    asyncio.run(run())
    rows = ShadowLog.of_landing(tmp_path).read("2025-03-11").set_index("transaction_id")
    assert sorted(rows.index) == sorted(["t10", "t11", "t12", "t100", "t101"])
    assert rows.loc["t11", "challenger_probability"] == pytest.approx(11 / 200)  # its own row, not a neighbour's
    assert rows.loc["t101", "challenger_probability"] == pytest.approx(101 / 200)
    assert rows["challenger_is_fraud"].tolist() == [p >= 0.3 for p in rows["challenger_probability"]]
    assert set(rows["champion_version"]) == {"8"} and set(rows["challenger_version"]) == {"9"}
    assert sum(n for _, n in scored_counts) == 5


def test_no_share_shadows_nothing(tmp_path) -> None:
    scorer = ShadowScorer(ShadowLog.of_landing(tmp_path), 0.0)
    scorer.offer(*request(1, 3))
    asyncio.run(scorer.close(CHALLENGER))
    assert ShadowLog.of_landing(tmp_path).days() == []


def test_a_full_queue_skips_and_counts_instead_of_growing(tmp_path) -> None:
    skipped: list[int] = []
    scorer = ShadowScorer(ShadowLog.of_landing(tmp_path), 1.0, max_pending_rows=4, on_skipped=skipped.append)
    scorer.offer(*request(1, 3))
    scorer.offer(*request(10, 3))  # would make 6 waiting rows
    asyncio.run(scorer.close(CHALLENGER))
    assert skipped == [3]
    assert ShadowLog.of_landing(tmp_path).read("2025-03-11")["transaction_id"].tolist() == ["t1", "t2", "t3"]


def test_a_failing_challenger_loses_only_the_shadow_and_counts_it(tmp_path) -> None:
    class Broken:
        kind = "broken"

        def predict_proba(self, inputs: pd.DataFrame) -> np.ndarray:
            raise RuntimeError("cannot score")

    skipped: list[int] = []
    scorer = ShadowScorer(ShadowLog.of_landing(tmp_path), 1.0, on_skipped=skipped.append)
    scorer.offer(*request(1, 3))
    asyncio.run(scorer.close(Loaded("9", Broken(), 0.3, {})))
    assert skipped == [3] and ShadowLog.of_landing(tmp_path).days() == []


def test_a_share_outside_zero_to_one_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        ShadowScorer(ShadowLog.of_landing(tmp_path), 1.5)
