"""The evidence a rollout is decided on, on hand-made outcomes: a better challenger is promoted, a
worse one aborted, an equal one neither before the maximum duration; the interval of the cost gap
covers the true gap at its nominal rate."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_assets.lib.quality.canary import CanaryPolicy, cost_gap, decide, outcome
from mlops_assets.lib.quality.metrics import Costs

COSTS = Costs(missed_fraud=150.0, false_alarm=5.0)
POLICY = CanaryPolicy()


def traffic(days: int, rng: np.random.Generator, challenger_recall: float, rows_per_day: int = 3000):
    """Labelled transactions of `days` days: cards with bursts of transactions, 2% of cards taken
    over (half their transactions fraud); the champion catches 60% of frauds, the challenger
    `challenger_recall`, both raise 1% false alarms, and their decisions are correlated (they
    mostly agree), as two models of the same data are."""
    rows = days * rows_per_day
    cards = rng.integers(0, rows // 5, rows)
    taken_over = rng.random(rows // 5) < 0.02
    labels = taken_over[cards] & (rng.random(rows) < 0.5)
    shared = rng.random(rows)
    own = np.where(rng.random(rows) < 0.7, shared, rng.random(rows))

    def flags(recall: float, draw: np.ndarray) -> np.ndarray:
        return np.where(labels, draw < recall, draw < 0.01)

    return labels, cards, flags(0.6, shared), flags(challenger_recall, own)


def rollout(challenger_recall: float, seed: int) -> tuple[str, int, str]:
    """Looks at a rollout daily, as the decision does, until it is decided; (decision, day, why)."""
    rng = np.random.default_rng(seed)
    labels, cards, champion, challenger = traffic(POLICY.max_canary_days, rng, challenger_recall)
    per_day = len(labels) // POLICY.max_canary_days
    for day in range(1, POLICY.max_canary_days + 1):
        seen = slice(0, day * per_day)
        gap = cost_gap(
            labels[seen], cards[seen], champion[seen], challenger[seen], COSTS, POLICY.confidence_per_look, 400
        )
        champion_cost = outcome("1", labels[seen], champion[seen], COSTS).cost_per_1000
        decision, why = decide(gap, champion_cost, int(labels[seen].sum()), day, POLICY)
        if decision != "wait":
            return decision, day, why
    raise AssertionError("the last look decides")


def test_an_outcome_counts_what_the_decisions_did() -> None:
    result = outcome("7", np.array([1, 1, 0, 0, 0]), np.array([1, 0, 1, 0, 0]), COSTS)
    assert (result.frauds, result.caught, result.false_alarms) == (2, 1, 1)
    assert result.recall == 0.5 and result.precision == 0.5
    assert result.cost_per_1000 == pytest.approx((150 + 5) / 5 * 1000)


def test_a_better_challenger_is_promoted() -> None:
    decision, day, why = rollout(challenger_recall=0.8, seed=1)
    assert decision == "promote" and day < POLICY.max_canary_days and "costs less beyond doubt" in why


def test_a_worse_challenger_is_aborted_on_evidence() -> None:
    decision, day, why = rollout(challenger_recall=0.35, seed=1)
    assert decision == "abort" and day < POLICY.max_canary_days and "costs more beyond doubt" in why


def test_an_equal_challenger_is_neither_within_the_maximum_duration() -> None:
    verdicts = [rollout(challenger_recall=0.6, seed=seed) for seed in range(20)]
    # Each gets to the last look without a verdict on the evidence, and is aborted for that.
    early = [(decision, day) for decision, day, _ in verdicts if day < POLICY.max_canary_days]
    assert len(early) <= 1, early
    assert all(
        decision == "abort" and "no verdict after" in why
        for decision, day, why in verdicts
        if (decision, day) not in early
    )


def test_few_labelled_frauds_wait_then_abort_at_the_maximum_duration() -> None:
    assert decide(None, 100.0, 0, 1, POLICY)[0] == "wait"
    decision, why = decide(None, 100.0, 12, POLICY.max_canary_days, POLICY)
    assert decision == "abort" and "12 labelled frauds" in why


def test_the_interval_covers_the_true_gap_at_its_nominal_rate() -> None:
    """300 samples of 800 cards from one population of 200,000; the true gap is the population's."""
    rng = np.random.default_rng(11)
    labels, cards, champion, challenger = traffic(1, rng, 0.7, rows_per_day=1_000_000)
    true_gap = cost_gap(labels, cards, champion, challenger, COSTS, 0.9, 10).point
    by_card = np.argsort(cards, kind="stable")
    starts = np.searchsorted(cards[by_card], np.arange(cards.max() + 1))
    ends = np.append(starts[1:], len(cards))
    covered = 0
    for _ in range(300):
        picked = rng.choice(cards.max() + 1, 800, replace=False)
        rows = np.concatenate([by_card[starts[c] : ends[c]] for c in picked])
        gap = cost_gap(
            labels[rows],
            cards[rows],
            champion[rows],
            challenger[rows],
            COSTS,
            0.9,
            400,
            seed=int(rng.integers(1 << 30)),
        )
        covered += gap.low <= true_gap <= gap.high
    coverage = covered / 300
    print(f"coverage of the 90% interval: {coverage:.3f}")  # reported with -s
    assert 0.85 <= coverage <= 0.95
