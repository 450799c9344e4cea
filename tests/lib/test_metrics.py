"""Metrics and gates on small cases worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from mlops_assets.lib.quality.gates import GateThresholds, gate_failures
from mlops_assets.lib.quality.metrics import (
    Costs,
    calibration_error,
    card_precision_at_k,
    card_precision_at_k_new_cards,
    evaluate,
    evaluate_new_cards,
    expected_cost,
    known_compromised,
    recall_at_fpr,
)

LABELS = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
SCORES = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.2, 0.1, 0.1, 0.05, 0.01])


def test_expected_cost_picks_the_cheapest_cut_and_never_splits_equal_scores() -> None:
    # Flag the top 3: both frauds caught, one false alarm: 1 x 1 = 1 per 10 rows.
    cost, threshold = expected_cost(LABELS, SCORES, Costs(missed_fraud=10, false_alarm=1))
    assert (cost, threshold) == (100.0, 0.7)
    # False alarms dearer: flag only the top one (a fraud); one fraud missed.
    assert expected_cost(LABELS, SCORES, Costs(missed_fraud=1, false_alarm=10)) == (100.0, 0.9)
    # When the top score is legitimate, flagging nothing is cheapest: the threshold is above every score.
    cost, threshold = expected_cost(np.array([0, 1]), np.array([0.9, 0.1]), Costs(missed_fraud=1, false_alarm=10))
    assert cost == 500.0 and threshold > 0.9
    # Equal scores get one decision: with 0.2 tied, the cut cannot fall between them.
    tied_labels, tied_scores = np.array([1, 0, 1]), np.array([0.5, 0.2, 0.2])
    cost, threshold = expected_cost(tied_labels, tied_scores, Costs(missed_fraud=10, false_alarm=1))
    assert (cost, threshold) == (1000 / 3, 0.2)


def test_recall_at_a_fixed_false_positive_rate() -> None:
    # Up to 1 of 8 legitimate flagged: scores >= 0.7 flag one, and catch both frauds.
    assert recall_at_fpr(LABELS, SCORES, max_fpr=0.125) == 1.0
    assert recall_at_fpr(LABELS, SCORES, max_fpr=0.0) == 0.5


def test_card_precision_counts_cards_per_day() -> None:
    day_one, day_two = pd.Timestamp("2025-01-01", tz="UTC"), pd.Timestamp("2025-01-02", tz="UTC")
    frame = pd.DataFrame(
        {
            "event_timestamp": [day_one] * 4 + [day_two] * 2,
            # Card 1 twice on day one (counts once), fraud on one of them.
            "customer_id": [1, 1, 2, 3, 1, 2],
            "label": [0, 1, 0, 0, 0, 0],
            "score": [0.9, 0.1, 0.8, 0.2, 0.5, 0.4],
        }
    )
    # Day one: top 2 cards are 1 (fraud) and 2: 0.5. Day two: no fraud: 0. Mean 0.25.
    assert card_precision_at_k(frame, k=2) == 0.25


def test_calibration_error_is_zero_for_calibrated_scores_and_grows_with_overconfidence() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 0.2, 200_000)
    labels = (rng.random(len(scores)) < scores).astype(int)
    assert calibration_error(labels, scores) < 0.003
    assert calibration_error(labels, np.minimum(scores * 3, 1)) > 0.1


def test_a_holdout_without_both_classes_is_an_error_not_a_metric() -> None:
    frame = pd.DataFrame(
        {"event_timestamp": pd.Timestamp("2025-01-01", tz="UTC"), "customer_id": 1, "label": 0, "score": [0.1, 0.2]}
    )
    with pytest.raises(ValueError, match="both fraud and legitimate"):
        evaluate(frame, max_fpr=0.01, top_k=10, costs=Costs(1, 1))


def test_gates_name_each_failure_with_its_numbers() -> None:
    limits = GateThresholds(min_pr_auc=0.3, min_recall_at_fpr=0.3, max_pr_auc_drop=0.02)
    good = {"pr_auc": 0.7, "recall_at_fpr": 0.8, "score_std": 0.05, "calibration_error": 0.001}
    assert gate_failures(good, None, limits) == {}
    assert gate_failures(good, {"pr_auc": 0.71}, limits) == {}
    failures = gate_failures(
        {"pr_auc": 0.01, "recall_at_fpr": 0.0, "score_std": 0.0, "calibration_error": 0.5}, {"pr_auc": 0.7}, limits
    )
    assert set(failures) == {
        "min_pr_auc",
        "min_recall_at_fpr",
        "no_worse_than_champion",
        "predictions_not_constant",
        "calibration_within_bounds",
    }
    assert failures["no_worse_than_champion"] == "PR AUC 0.010 < champion's 0.700 - 0.02"


def test_pr_auc_upper_bound_is_above_the_estimate_and_tightens_with_more_frauds() -> None:
    from sklearn.metrics import average_precision_score

    from mlops_assets.lib.quality.metrics import pr_auc_upper_bound

    rng = np.random.default_rng(3)
    widths = []
    for rows in (3_000, 60_000):
        labels = (rng.random(rows) < 0.01).astype(int)
        scores = np.clip(rng.normal(0.2 + 0.3 * labels, 0.15), 0, 1)
        estimate = average_precision_score(labels, scores)
        upper = pr_auc_upper_bound(labels, scores)
        assert upper > estimate
        widths.append(upper - estimate)
    assert widths[1] < widths[0] / 2


def test_average_precision_of_a_resample_counted_by_segments_is_scikit_learns() -> None:
    """Counting how often each segment's rows were drawn gives each resample's average precision
    as scikit-learn computes it on the drawn rows, ties of scores included."""
    from sklearn.metrics import average_precision_score

    from mlops_assets.lib.quality.metrics import _average_precisions, _fraud_segments

    rng = np.random.default_rng(5)
    labels = (rng.random(2_000) < 0.02).astype(int)
    scores = np.round(np.clip(rng.normal(0.2 + 0.3 * labels, 0.15), 0, 1), 2)  # many equal scores
    segment, segments = _fraud_segments(labels, scores)
    for _ in range(20):
        picked = rng.integers(0, len(labels), len(labels))
        counts = np.bincount(segment[picked], minlength=segments)[np.newaxis, :]
        expected = average_precision_score(labels[picked], scores[picked])
        assert _average_precisions(counts)[0] == pytest.approx(expected, abs=1e-12)


def test_pr_auc_upper_bound_is_the_quantile_of_average_precision_over_resampled_rows() -> None:
    """Drawing segment counts is drawing rows: the bound is the quantile scikit-learn's average
    precision reaches over row resamples, within what 2,000 resamples of each can tell apart."""
    from sklearn.metrics import average_precision_score

    from mlops_assets.lib.quality.metrics import pr_auc_upper_bound

    rng = np.random.default_rng(7)
    labels = (rng.random(1_000) < 0.03).astype(int)
    scores = np.round(np.clip(rng.normal(0.2 + 0.2 * labels, 0.15), 0, 1), 2)
    resampled = []
    for _ in range(2_000):
        picked = rng.integers(0, len(labels), len(labels))
        if 0 < labels[picked].sum() < len(picked):
            resampled.append(average_precision_score(labels[picked], scores[picked]))
    by_rows = np.quantile(resampled, [0.90, 0.95, 0.99])
    assert pr_auc_upper_bound(labels, scores, resamples=2_000) == pytest.approx(by_rows[1], abs=0.015)
    # Tight enough to tell neighbouring quantiles apart, so a wrong distribution would fail.
    assert by_rows[2] - by_rows[1] > 0.03 and by_rows[1] - by_rows[0] > 0.015


def rows(*cards: tuple) -> pd.DataFrame:
    """(day offset, hour, card, score, label) -> the frame the metrics take."""
    start = pd.Timestamp("2018-08-08", tz="UTC")
    return pd.DataFrame(
        {
            "event_timestamp": [start + pd.Timedelta(days=d, hours=h) for d, h, *_ in cards],
            "customer_id": [c for _, _, c, _, _ in cards],
            "score": [s for *_, s, _ in cards],
            "label": [y for *_, y in cards],
        }
    )


def test_card_precision_as_the_handbook_drops_cards_found_on_earlier_days_and_divides_by_k() -> None:
    frame = rows(
        # day 0: card 1 (fraud) and card 2 (legitimate) on top; card 3's fraud scores low.
        (0, 1, 1, 0.9, 1), (0, 2, 1, 0.2, 0), (0, 3, 2, 0.8, 0), (0, 4, 3, 0.1, 1),
        # day 1: card 1 again on top, but found on day 0: card 3 and card 4 compete for the two places.
        (1, 1, 1, 0.95, 1), (1, 2, 3, 0.7, 1), (1, 3, 4, 0.6, 0),
    )  # fmt: skip
    # k = 2: day 0 finds card 1 (1 of 2); day 1 without card 1: cards 3 (fraud) and 4 (1 of 2).
    assert card_precision_at_k_new_cards(frame, 2) == pytest.approx((1 / 2 + 1 / 2) / 2)
    # k = 3: day 0 finds cards 1 and 3 (2 of 3); day 1 has card 4 alone left, and divides by 3.
    assert card_precision_at_k_new_cards(frame, 3) == pytest.approx((2 / 3 + 0 / 3) / 2)
    # Today's card precision keeps card 1 on day 1 and divides by the cards in the top k.
    assert card_precision_at_k(frame, 2) == pytest.approx((1 / 2 + 2 / 2) / 2)


def test_a_card_is_known_compromised_once_its_first_frauds_label_has_had_the_delay() -> None:
    earlier = rows((-9, 12, 1, 0.0, 1), (-6, 12, 2, 0.0, 1), (-3, 0, 3, 0.0, 0))
    holdout = rows((0, 10, 1, 0.5, 0), (0, 10, 2, 0.5, 1), (2, 10, 2, 0.5, 0), (0, 10, 3, 0.5, 0))
    known = known_compromised(holdout, pd.concat([earlier, holdout]), pd.Timedelta(days=7))
    # Card 1's fraud (day -9 noon) is known from day -2 noon: before day 0 begins. Card 2's (day -6
    # noon) from day 1 noon: not on day 0, but on day 2. Card 3 had no fraud.
    assert known.tolist() == [True, False, True, False]
    metrics = evaluate_new_cards(holdout.assign(score=[0.9, 0.8, 0.1, 0.7]), known, top_k=1)
    assert metrics["roc_auc_new_cards"] == 1.0 and metrics["pr_auc_new_cards"] == 1.0
    only_known = evaluate_new_cards(holdout, np.array([False, True, True, True]), top_k=1)
    assert np.isnan(only_known["pr_auc_new_cards"])  # one legitimate row left: not a measure
