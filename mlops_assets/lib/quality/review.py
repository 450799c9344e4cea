"""Did a newly promoted champion keep its promise? On the labelled days after its promotion, it is
compared with the champion it replaced, row for row, and rolled back if it lost.

A promotion is judged on one holdout day or two; the days after it are the first the new champion
meets unseen. Both models score the same rows, so the comparison is paired: the bootstrap
resamples rows once for both, which cancels most of the noise a few dozen frauds carry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class ReviewPolicy(BaseModel):
    """When a promotion is reviewed, and what counts as losing. A pydantic model, so that the
    Dagster config of `champion_review` takes these fields, defaults and descriptions as they are."""

    model_config = ConfigDict(frozen=True)

    review_days: int = Field(default=3, description="Labelled days after a promotion to judge it on.")
    min_frauds: int = Field(default=30, description="Labelled frauds those days must hold between them.")
    level: float = Field(
        default=0.9, description="Confidence of the PR AUC gap's interval that must show the new champion lost."
    )
    resamples: int = Field(default=200, description="Bootstrap resamples of the interval.")


@dataclass(frozen=True)
class Review:
    """The verdict: `keep` or `rollback`, with the figures behind it."""

    action: str
    new_pr_auc: float
    previous_pr_auc: float
    gap_low: float  # the interval of previous minus new PR AUC
    gap_high: float

    @property
    def reason(self) -> str:
        comparison = (
            f"PR AUC {self.new_pr_auc:.3f} against the previous champion's {self.previous_pr_auc:.3f} "
            f"(gap {self.gap_low:+.3f} to {self.gap_high:+.3f})"
        )
        if self.action == "rollback":
            return f"the new champion lost on the days after its promotion: {comparison}"
        return f"the new champion held: {comparison}"


def pr_auc_gap_interval(
    labels: np.ndarray, new: np.ndarray, previous: np.ndarray, level: float, resamples: int, seed: int = 0
) -> tuple[float, float]:
    """A paired bootstrap interval of PR AUC(previous) - PR AUC(new) on the same rows."""
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(seed)
    gaps = []
    for _ in range(resamples):
        picked = rng.integers(0, len(labels), len(labels))
        if 0 < labels[picked].sum() < len(picked):
            gaps.append(
                average_precision_score(labels[picked], previous[picked])
                - average_precision_score(labels[picked], new[picked])
            )
    tail = (1 - level) / 2
    return float(np.quantile(gaps, tail)), float(np.quantile(gaps, 1 - tail))


def review(labels: np.ndarray, new: np.ndarray, previous: np.ndarray, policy: ReviewPolicy) -> Review:
    """`rollback` when the previous champion was better on these rows beyond doubt (the whole
    interval of the gap above 0), otherwise `keep`. `labels` are 0/1, the scores P(fraud)."""
    from sklearn.metrics import average_precision_score

    labels = np.asarray(labels, dtype=np.int64)
    if not 0 < labels.sum() < len(labels):
        raise ValueError("a review needs both fraud and legitimate transactions")
    low, high = pr_auc_gap_interval(labels, new, previous, policy.level, policy.resamples)
    return Review(
        action="rollback" if low > 0 else "keep",
        new_pr_auc=float(average_precision_score(labels, new)),
        previous_pr_auc=float(average_precision_score(labels, previous)),
        gap_low=low,
        gap_high=high,
    )
