"""The investigators' queue: a day's scored transactions turned into the cards to check, ranked.

Investigators check cards, not transactions, and a team checks so many a day (its capacity): the
queue is the day's cards ranked by their most suspicious transaction, cut at the capacity. Once
labels arrive, its precision is the share of queued cards that had a fraud that day: the
evaluation's card precision@k, live.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

QUEUE_COLUMNS = (
    "rank",
    "customer_id",
    "fraud_probability",
    "transaction_ids",
    "transactions_on_the_day",
    "model_version",
)


# The columns of the scored rows that the ranking reads.
RANKED_COLUMNS = ("transaction_id", "customer_id", "fraud_probability", "model_version")


def rank_cards(scored: pd.DataFrame, capacity: int, per_card: int) -> pd.DataFrame:
    """The `capacity` cards of `scored` (the `RANKED_COLUMNS`) with the highest probability on one of their
    transactions, highest first (ties by card id); each with its `per_card` most suspicious
    transactions, most suspicious first."""
    if capacity < 1 or per_card < 1:
        raise ValueError(f"capacity and per_card must be at least 1, not {capacity} and {per_card}")
    if scored.empty:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in QUEUE_COLUMNS})
    ordered = scored.sort_values(
        ["fraud_probability", "customer_id", "transaction_id"], ascending=[False, True, True], kind="stable"
    )
    # Only the queued cards' rows: a day has far more cards than a queue holds.
    queued = ordered["customer_id"].drop_duplicates().head(capacity)
    ordered = ordered[ordered["customer_id"].isin(queued)]
    cards = ordered.groupby("customer_id", sort=False)
    queue = pd.DataFrame(
        {
            "fraud_probability": cards["fraud_probability"].first(),
            "transaction_ids": cards["transaction_id"].agg(lambda ids: ",".join(ids.head(per_card).astype(str))),
            "transactions_on_the_day": cards.size(),
            "model_version": cards["model_version"].first(),
        }
    ).reset_index()
    # `groupby(sort=False)` keeps the order of first appearance: the cards by their best score.
    queue.insert(0, "rank", np.arange(1, len(queue) + 1))
    return queue[list(QUEUE_COLUMNS)]


def queue_precision(queue: pd.DataFrame, labels: pd.DataFrame) -> tuple[float | None, int]:
    """The share of the queue's cards with a labelled fraud among the day's transactions
    `labels` (`customer_id`, `is_fraud`, unknown labels missing), and how many queued cards have
    every one of their transactions labelled; None while no queued card is fully labelled. A card
    with a fraud counts as a hit even when some of its other labels are still missing."""
    if queue.empty:
        return None, 0
    mine = labels[labels["customer_id"].isin(queue["customer_id"])]
    per_card = mine.groupby("customer_id")["is_fraud"]
    fraud = per_card.max().fillna(0) > 0
    labelled = per_card.count() == per_card.size()
    decided = fraud | labelled  # a known fraud decides the card; otherwise all its labels must be in
    if not decided.any():
        return None, 0
    return float(fraud[decided].sum() / decided.sum()), int(decided.sum())
