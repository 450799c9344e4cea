"""The review of a promotion on hand-made scores: a clear loser is rolled back, a tie is kept."""

import numpy as np
import pytest

from mlops_assets.lib.quality.review import ReviewPolicy, pr_auc_gap_interval, review

RNG = np.random.default_rng(0)
LABELS = (RNG.random(6000) < 0.02).astype(int)  # about 120 frauds
GOOD = np.clip(0.6 * LABELS + RNG.normal(0.2, 0.15, len(LABELS)), 0, 1)
NOISE = RNG.random(len(LABELS))


def test_a_new_champion_that_ranks_no_better_than_chance_is_rolled_back() -> None:
    verdict = review(LABELS, new=NOISE, previous=GOOD, policy=ReviewPolicy())
    assert verdict.action == "rollback" and verdict.gap_low > 0.5
    assert verdict.previous_pr_auc > 0.9 and verdict.new_pr_auc < 0.1
    assert verdict.reason.startswith("the new champion lost on the days after its promotion: PR AUC 0.0")


def test_a_better_or_equal_new_champion_is_kept() -> None:
    assert review(LABELS, new=GOOD, previous=NOISE, policy=ReviewPolicy()).action == "keep"
    # The same model twice: the paired interval is exactly 0, nothing lost.
    same = review(LABELS, new=GOOD, previous=GOOD, policy=ReviewPolicy())
    assert same.action == "keep" and same.gap_low == same.gap_high == 0


def test_the_paired_interval_is_narrower_than_the_noise_of_each_model() -> None:
    # Two models that differ a little on the same rows: the pairing cancels the rows' luck (measured
    # here: 0.007 wide paired; resampling each model's rows on their own gives 0.06).
    other = np.clip(GOOD + RNG.normal(0, 0.02, len(LABELS)), 0, 1)
    low, high = pr_auc_gap_interval(LABELS, other, GOOD, level=0.9, resamples=200)
    assert high - low < 0.02


def test_a_review_without_both_classes_is_an_error() -> None:
    with pytest.raises(ValueError, match="both fraud and legitimate"):
        review(np.zeros(10, dtype=int), GOOD[:10], GOOD[:10], ReviewPolicy())
