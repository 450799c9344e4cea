"""How good a fraud score is, measured the ways fraud teams measure it, on a time-based holdout.

All functions take labels (0/1) and scores (P(fraud)) as arrays; none of them hides a failure
behind a default: a holdout without both classes is an error, not a metric of 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Costs:
    """What a decision costs: a fraud let through, and a legitimate transaction stopped."""

    missed_fraud: float
    false_alarm: float


def _check(labels: np.ndarray, scores: np.ndarray) -> None:
    if len(labels) != len(scores):
        raise ValueError(f"{len(labels)} labels but {len(scores)} scores")
    if not (0 < labels.sum() < len(labels)):
        raise ValueError("the holdout needs both fraud and legitimate transactions to be scored")


def recall_at_fpr(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    """The highest share of frauds caught while flagging at most `max_fpr` of legitimate ones."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    return float(tpr[fpr <= max_fpr].max())


def _weighted_average_precision(sorted_labels: np.ndarray, ends: np.ndarray, weights: np.ndarray) -> float:
    """Average precision of rows sorted by descending score, each counted `weights` times, as
    scikit-learn's `average_precision_score` computes it with `sample_weight`: one threshold per
    distinct score, `ends` the index of the last row of each run of equal scores."""
    true_positives = np.cumsum(weights * sorted_labels)[ends]
    flagged = np.cumsum(weights)[ends]
    precision = np.divide(true_positives, flagged, out=np.zeros_like(true_positives), where=flagged > 0)
    recall_steps = np.diff(true_positives, prepend=0.0) / true_positives[-1]
    return float(np.sum(recall_steps * precision))


def pr_auc_upper_bound(labels: np.ndarray, scores: np.ndarray, level: float = 0.9, resamples: int = 200, seed: int = 0):
    """The upper end of a bootstrap interval of PR AUC (`level` two-sided; resampled rows,
    seeded): how good the model may really be, given how few frauds a window holds."""
    _check(labels, scores)
    # A resample is the rows counted as often as they were drawn: the scores are sorted once, and
    # each resample costs a count and two running sums (sorting each one took 54 s a million rows).
    order = np.argsort(-np.asarray(scores, dtype="float64"), kind="stable")
    sorted_scores = np.asarray(scores, dtype="float64")[order]
    sorted_labels = np.asarray(labels, dtype="float64")[order]
    ends = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(sorted_scores) - 1]
    rank = np.empty(len(order), dtype="int64")
    rank[order] = np.arange(len(order))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        picked = rng.integers(0, len(labels), len(labels))
        weights = np.bincount(rank[picked], minlength=len(order)).astype("float64")
        frauds = float(weights @ sorted_labels)
        if 0 < frauds < len(picked):  # a resample needs both classes to be scored
            values.append(_weighted_average_precision(sorted_labels, ends, weights))
    return float(np.quantile(values, 0.5 + level / 2))


def card_precision_at_k(frame: pd.DataFrame, k: int) -> float:
    """Card precision@k: each day, the k cards with the highest score that day; the share of them
    that had a fraud that day, averaged over days (investigators check cards, not transactions)."""
    day = frame["event_timestamp"].dt.floor("D")
    cards = frame.assign(_day=day).groupby(["_day", "customer_id"]).agg(score=("score", "max"), fraud=("label", "max"))
    top = cards.sort_values("score", ascending=False, kind="stable").groupby(level="_day").head(k)
    return float(top.groupby(level="_day")["fraud"].mean().mean())


def card_precision_at_k_new_cards(frame: pd.DataFrame, k: int) -> float:
    """Card precision@k as the Fraud Detection Handbook computes it: each day in order, the k cards
    with the highest score among those not detected on an earlier day; the number of them with a
    fraud that day divided by k (not by the cards there were); averaged over days. A card in a
    day's top k that had a fraud counts as detected from then on."""
    day = frame["event_timestamp"].dt.floor("D")
    cards = frame.assign(_day=day).groupby(["_day", "customer_id"]).agg(score=("score", "max"), fraud=("label", "max"))
    detected: set = set()
    precisions = []
    for _, day_cards in cards.groupby(level="_day", sort=True):
        candidates = day_cards[~day_cards.index.get_level_values("customer_id").isin(detected)]
        top = candidates.sort_values("score", ascending=False, kind="stable").head(k)
        found = top.index.get_level_values("customer_id")[top["fraud"].to_numpy() == 1]
        precisions.append(len(found) / k)
        detected.update(found)
    return float(np.mean(precisions))


def known_compromised(holdout: pd.DataFrame, labelled: pd.DataFrame, label_delay: pd.Timedelta) -> np.ndarray:
    """For each holdout row: whether its card already had a fraud whose label was known when the
    row's day began (a fraud at least `label_delay` before it, in `labelled`: rows with
    `customer_id`, `event_timestamp`, `label`). Such cards are blocked in practice, so a fair
    measure of what a model adds leaves them out, as the handbook's protocol does."""
    frauds = labelled.loc[labelled["label"] == 1, ["customer_id", "event_timestamp"]]
    first_fraud = frauds.groupby("customer_id")["event_timestamp"].min()
    known_from = holdout["customer_id"].map(first_fraud) + label_delay
    return (known_from < holdout["event_timestamp"].dt.floor("D")).fillna(False).to_numpy(dtype=bool)


def evaluate_new_cards(frame: pd.DataFrame, known: np.ndarray, *, top_k: int) -> dict[str, float]:
    """ROC AUC, PR AUC and the handbook's card precision@k on the rows of cards not `known` to be
    compromised (same columns as `evaluate`). NaN where those rows lack a class (every fraud of
    the holdout was on known cards): these measures stand beside the gates' metrics, which are
    defined on every holdout that can be evaluated at all."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    fresh = frame[~known]
    labels, scores = fresh["label"].to_numpy(dtype=np.int64), fresh["score"].to_numpy(dtype=np.float64)
    names = ("roc_auc_new_cards", "pr_auc_new_cards", "card_precision_at_k_new_cards")
    if not 0 < labels.sum() < len(labels):
        return dict.fromkeys(names, float("nan"))
    return {
        "roc_auc_new_cards": float(roc_auc_score(labels, scores)),
        "pr_auc_new_cards": float(average_precision_score(labels, scores)),
        "card_precision_at_k_new_cards": card_precision_at_k_new_cards(fresh, top_k),
    }


def expected_cost(labels: np.ndarray, scores: np.ndarray, costs: Costs) -> tuple[float, float]:
    """(lowest cost per 1,000 transactions, the threshold that reaches it): flag when score >= t."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    # Flagging the top i transactions: frauds caught and false alarms raised, for every i.
    caught = np.r_[0, np.cumsum(sorted_labels)]
    alarms = np.r_[0, np.cumsum(1 - sorted_labels)]
    cost = (labels.sum() - caught) * costs.missed_fraud + alarms * costs.false_alarm
    # Only cut where the score changes: equal scores get the same decision.
    valid = np.r_[True, sorted_scores[1:] != sorted_scores[:-1], True]
    best = int(np.flatnonzero(valid)[np.argmin(cost[valid])])
    # Flagging nothing: a threshold just above the highest score.
    threshold = float(np.nextafter(sorted_scores[0], np.inf)) if best == 0 else float(sorted_scores[best - 1])
    return float(cost[best] / len(labels) * 1000), threshold


def reliability(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean score against observed fraud rate in bins of equal count (scores are skewed toward 0,
    so equal-width bins would put nearly everything in the first)."""
    order = np.argsort(scores, kind="stable")
    groups = np.array_split(order, bins)
    return pd.DataFrame(
        {
            "mean_score": [float(scores[g].mean()) for g in groups if len(g)],
            "fraud_rate": [float(labels[g].mean()) for g in groups if len(g)],
            "rows": [len(g) for g in groups if len(g)],
        }
    )


def calibration_error(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the row-weighted gap between mean score and fraud rate."""
    table = reliability(labels, scores, bins)
    return float((table["rows"] * (table["mean_score"] - table["fraud_rate"]).abs()).sum() / table["rows"].sum())


def evaluate(frame: pd.DataFrame, *, max_fpr: float, top_k: int, costs: Costs) -> dict[str, float]:
    """Every metric for one model on a holdout with columns `event_timestamp`, `customer_id`,
    `label` and `score`."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    labels, scores = frame["label"].to_numpy(dtype=np.int64), frame["score"].to_numpy(dtype=np.float64)
    _check(labels, scores)
    cost, threshold = expected_cost(labels, scores, costs)
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "recall_at_fpr": recall_at_fpr(labels, scores, max_fpr),
        "card_precision_at_k": card_precision_at_k(frame, top_k),
        "brier": float(brier_score_loss(labels, scores)),
        "calibration_error": calibration_error(labels, scores),
        "score_std": float(scores.std()),
        "expected_cost_per_1000": cost,
        "threshold": threshold,
    }
