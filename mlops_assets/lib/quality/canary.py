"""Is a new model better than the champion on live traffic? The evidence a rollout is decided on.

Both models score the same labelled transactions of the rollout's days (the champion answered
most of them, the canary its share of customers; offline, either can score any of them, with
the point-in-time features that equal the online ones). Their decisions, at each one's own
threshold, cost what the evaluation says a missed fraud and a false alarm cost, so the
comparison is one number: the expected cost per 1,000 transactions, challenger minus champion.

Its interval comes from a paired bootstrap over cards: a card's transactions are resampled
together, since a takeover makes a card's frauds come in bursts, and both models keep the same
resampled rows, which cancels most of the noise a few dozen frauds carry. The rollout is looked
at daily, so the confidence of each look is raised (a Bonferroni split of the error over the
most looks the rollout may take) so that the whole sequence of looks keeps the confidence asked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from mlops_assets.lib.quality.metrics import CostPolicy, Costs

DECISIONS = ("promote", "abort", "wait")


class CanaryPolicy(CostPolicy):
    """How a staged rollout goes on: how long in the shadow, and what evidence promotes or aborts
    its canary, at the costs of `CostPolicy` (the canary's share is the rollout's own). A pydantic
    model, so that Dagster config can take it as it is."""

    shadow_days: int = Field(default=1, description="Days the new version scores in the shadow before its canary.")
    max_canary_days: int = Field(
        default=7, description="Days of canary after which a rollout without a verdict is aborted."
    )
    margin: float = Field(
        default=0.0,
        description="How much worse (a fraction of the champion's cost per 1,000 transactions) the challenger may "
        "be and still be promoted; 0: it must be better beyond doubt.",
    )
    confidence: float = Field(default=0.9, description="Confidence of a verdict over all the rollout's daily looks.")
    min_labelled_frauds: int = Field(default=30, description="Labelled frauds the verdict needs.")
    resamples: int = Field(default=400, description="Bootstrap resamples of the cost gap's interval.")

    @property
    def confidence_per_look(self) -> float:
        """The confidence of one daily look: the error split evenly over the most looks."""
        return 1 - (1 - self.confidence) / self.max_canary_days


@dataclass(frozen=True)
class Outcome:
    """What one model's decisions did on labelled transactions."""

    version: str
    transactions: int
    frauds: int
    caught: int
    false_alarms: int
    cost_per_1000: float

    @property
    def recall(self) -> float | None:
        return self.caught / self.frauds if self.frauds else None

    @property
    def precision(self) -> float | None:
        flagged = self.caught + self.false_alarms
        return self.caught / flagged if flagged else None


def outcome(version: str, labels: np.ndarray, flagged: np.ndarray, costs: Costs) -> Outcome:
    """The outcome of flagging `flagged` among transactions labelled `labels` (0/1)."""
    labels, flagged = np.asarray(labels, dtype=bool), np.asarray(flagged, dtype=bool)
    caught, alarms = int((labels & flagged).sum()), int((~labels & flagged).sum())
    missed = int(labels.sum()) - caught
    cost = (missed * costs.missed_fraud + alarms * costs.false_alarm) / len(labels) * 1000 if len(labels) else 0.0
    return Outcome(version, len(labels), int(labels.sum()), caught, alarms, float(cost))


@dataclass(frozen=True)
class CostGap:
    """Challenger minus champion, in expected cost per 1,000 transactions, with its interval."""

    point: float
    low: float
    high: float
    level: float


def cost_gap(
    labels: np.ndarray,
    cards: np.ndarray,
    champion_flagged: np.ndarray,
    challenger_flagged: np.ndarray,
    costs: Costs,
    level: float,
    resamples: int,
    seed: int = 0,
) -> CostGap:
    """The paired gap of the two models' costs on the same rows, with a bootstrap interval over
    cards (each card's rows resampled together) at `level`."""
    labels = np.asarray(labels, dtype=bool)
    if not len(labels):
        raise ValueError("a cost gap needs labelled transactions")

    def row_costs(flagged: np.ndarray) -> np.ndarray:
        flagged = np.asarray(flagged, dtype=bool)
        return np.where(labels & ~flagged, costs.missed_fraud, 0.0) + np.where(
            ~labels & flagged, costs.false_alarm, 0.0
        )

    gaps = row_costs(challenger_flagged) - row_costs(champion_flagged)
    _, card_index = np.unique(np.asarray(cards), return_inverse=True)
    per_card_gap = np.bincount(card_index, weights=gaps)
    per_card_rows = np.bincount(card_index).astype(float)
    rng = np.random.default_rng(seed)
    picked = rng.integers(0, len(per_card_gap), size=(resamples, len(per_card_gap)))
    resampled = per_card_gap[picked].sum(axis=1) / per_card_rows[picked].sum(axis=1) * 1000
    tail = (1 - level) / 2
    point = float(gaps.sum() / len(gaps) * 1000)
    return CostGap(point, float(np.quantile(resampled, tail)), float(np.quantile(resampled, 1 - tail)), level)


def decide(
    gap: CostGap | None, champion_cost: float, frauds: int, canary_days: int, policy: CanaryPolicy
) -> tuple[str, str]:
    """(`promote` | `abort` | `wait`, why in words) after `canary_days` days of canary, with
    `frauds` labelled frauds and the cost `gap` measured on them (None: nothing labelled yet)."""
    over = canary_days >= policy.max_canary_days
    if gap is None or frauds < policy.min_labelled_frauds:
        if over:
            return "abort", f"{frauds} labelled frauds after {canary_days} days of canary: no verdict in time"
        return "wait", f"waiting for labels: {frauds} of {policy.min_labelled_frauds} frauds"
    numbers = (
        f"cost per 1,000 transactions {gap.point:+.1f} against the champion's {champion_cost:.1f} "
        f"({gap.level:.1%} interval {gap.low:+.1f} to {gap.high:+.1f}; {frauds} labelled frauds)"
    )
    if gap.low > 0:
        return "abort", f"the challenger costs more beyond doubt: {numbers}"
    if gap.high < policy.margin * champion_cost:
        better = "costs less" if policy.margin == 0 else f"is at most {policy.margin:.0%} worse"
        return "promote", f"the challenger {better} beyond doubt: {numbers}"
    if over:
        return "abort", f"no verdict after {canary_days} days of canary: {numbers}"
    return "wait", f"no verdict yet: {numbers}"
