"""The investigators' queue on hand-made scores: ranking, capacity, ties, and its precision."""

import numpy as np
import pandas as pd
import pytest

from mlops_assets.lib.quality.queue import queue_precision, rank_cards


def scored(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    ids, cards, probabilities = zip(*rows, strict=True)
    return pd.DataFrame(
        {"transaction_id": ids, "customer_id": cards, "fraud_probability": probabilities, "model_version": "7"}
    )


DAY = scored(
    [("a1", 1, 0.2), ("a2", 1, 0.9), ("a3", 1, 0.5), ("b1", 2, 0.95), ("c1", 3, 0.1), ("d1", 4, 0.9), ("d2", 4, 0.3)]
)


def test_cards_are_ranked_by_their_most_suspicious_transaction_up_to_the_capacity() -> None:
    queue = rank_cards(DAY, capacity=3, per_card=2)
    # Card 2 (0.95), then cards 1 and 4 tied at 0.9: the lower card id first.
    assert queue["customer_id"].tolist() == [2, 1, 4] and queue["rank"].tolist() == [1, 2, 3]
    assert queue["fraud_probability"].tolist() == [0.95, 0.9, 0.9]
    assert queue["transaction_ids"].tolist() == ["b1", "a2,a3", "d1,d2"]
    assert queue["transactions_on_the_day"].tolist() == [1, 3, 2] and set(queue["model_version"]) == {"7"}
    everyone = rank_cards(DAY, capacity=100, per_card=1)
    assert everyone["customer_id"].tolist() == [2, 1, 4, 3] and everyone["transaction_ids"].tolist()[1] == "a2"


def test_an_empty_day_queues_nothing_and_bad_limits_are_refused() -> None:
    assert rank_cards(DAY.head(0), capacity=5, per_card=1).empty
    with pytest.raises(ValueError, match="capacity and per_card must be at least 1"):
        rank_cards(DAY, capacity=0, per_card=1)


def test_precision_counts_cards_decided_by_their_labels() -> None:
    queue = rank_cards(DAY, capacity=3, per_card=1)  # cards 2, 1, 4
    labels = pd.DataFrame({"customer_id": [1, 1, 1, 2, 3, 4, 4], "is_fraud": [0, 1, 0, 0, 1, 0, 0]})
    assert queue_precision(queue, labels) == (pytest.approx(1 / 3), 3)  # card 3 had a fraud but was not queued
    # Card 4's second label still missing: undecided. Card 1's fraud decides it despite a missing label.
    partial = labels.assign(is_fraud=pd.array([np.nan, 1, 0, 0, 1, 0, np.nan], dtype="Int64"))
    assert queue_precision(queue, partial) == (pytest.approx(1 / 2), 2)
    unknown = labels.assign(is_fraud=pd.array([None] * len(labels), dtype="Int64"))
    assert queue_precision(queue, unknown) == (None, 0)
