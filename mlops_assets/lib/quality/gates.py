"""Quality gates: what a candidate model must show on the holdout before it may serve."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GateThresholds(BaseModel):
    """The limits a candidate must keep on the holdout. A pydantic model, so that the Dagster
    config of `model_evaluation` takes these fields, defaults and descriptions as they are."""

    model_config = ConfigDict(frozen=True)

    min_pr_auc: float = Field(default=0.3, description="Gate: lowest PR AUC a candidate may have.")
    min_recall_at_fpr: float = Field(default=0.3, description="Gate: lowest recall at `max_fpr`.")
    max_pr_auc_drop: float = Field(
        default=0.02, description="Gate: how far below the champion's PR AUC (same holdout) a candidate may fall."
    )
    # Below this the scores are (nearly) constant.
    min_score_std: float = Field(default=1e-4, description="Gate: scores must vary at least this much.")
    max_calibration_error: float = Field(
        default=0.02, description="Gate: highest expected calibration error (deciles of score)."
    )


GATES: dict[str, str] = {
    "min_pr_auc": "PR AUC at least the minimum",
    "min_recall_at_fpr": "recall at the fixed false-positive rate at least the minimum",
    "no_worse_than_champion": "PR AUC no worse than the champion's beyond the tolerance",
    "predictions_not_constant": "scores vary",
    "calibration_within_bounds": "expected calibration error within bounds",
}


def gate_failures(
    metrics: dict[str, float], champion: dict[str, float] | None, limits: GateThresholds
) -> dict[str, str]:
    """The gates a candidate fails, each with why (in numbers); empty when it passes them all.
    `champion` holds the current champion's metrics on the same holdout, None when there is none."""
    failures = {}
    if metrics["pr_auc"] < limits.min_pr_auc:
        failures["min_pr_auc"] = f"PR AUC {metrics['pr_auc']:.3f} < {limits.min_pr_auc}"
    if metrics["recall_at_fpr"] < limits.min_recall_at_fpr:
        failures["min_recall_at_fpr"] = f"recall {metrics['recall_at_fpr']:.3f} < {limits.min_recall_at_fpr}"
    if champion is not None and metrics["pr_auc"] < champion["pr_auc"] - limits.max_pr_auc_drop:
        failures["no_worse_than_champion"] = (
            f"PR AUC {metrics['pr_auc']:.3f} < champion's {champion['pr_auc']:.3f} - {limits.max_pr_auc_drop}"
        )
    if metrics["score_std"] < limits.min_score_std:
        failures["predictions_not_constant"] = f"score std {metrics['score_std']:.2e} < {limits.min_score_std}"
    if metrics["calibration_error"] > limits.max_calibration_error:
        failures["calibration_within_bounds"] = (
            f"calibration error {metrics['calibration_error']:.4f} > {limits.max_calibration_error}"
        )
    return failures
