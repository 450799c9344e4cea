"""The canary split: by customer, reproducible, at the share asked for; the rollout's state."""

import numpy as np
import pytest

from mlops_assets.lib.loop.rollout import Rollout, bucket, in_canary

CUSTOMERS = np.random.default_rng(0).integers(0, 10**12, 100_000)


def test_the_same_customer_always_lands_on_the_same_model() -> None:
    first = in_canary(CUSTOMERS, "7", 0.2)
    assert (in_canary(CUSTOMERS, "7", 0.2) == first).all()
    # A customer's transactions go together, whatever else is in the request.
    one = CUSTOMERS[:1].repeat(50)
    assert len(set(in_canary(one, "7", 0.2))) == 1
    assert in_canary(CUSTOMERS[123:124], "7", 0.2)[0] == first[123]


@pytest.mark.parametrize("share", [0.01, 0.1, 0.2, 0.5, 0.9])
def test_over_100000_random_customers_the_canary_share_is_within_1_percent(share: float) -> None:
    assert abs(in_canary(CUSTOMERS, "7", share).mean() - share) < 0.01


def test_ids_from_0_split_as_evenly_as_random_ones() -> None:
    assert abs(in_canary(np.arange(100_000), "7", 0.2).mean() - 0.2) < 0.01


def test_share_0_is_off_and_share_1_is_everyone() -> None:
    assert not in_canary(CUSTOMERS, "7", 0.0).any()
    assert in_canary(CUSTOMERS, "7", 1.0).all()


def test_each_rollout_draws_its_own_group() -> None:
    # Independent draws: about share**2 of the customers are in both groups.
    both = (in_canary(CUSTOMERS, "7", 0.2) & in_canary(CUSTOMERS, "8", 0.2)).mean()
    assert abs(both - 0.04) < 0.005
    assert bucket(CUSTOMERS, "7").min() >= 0 and bucket(CUSTOMERS, "7").max() < 1


def test_a_rollout_round_trips_and_moves_from_the_shadow_to_the_canary() -> None:
    rollout = Rollout("9", "shadow", 0.2, champion_version="7")
    assert Rollout.from_json(rollout.to_json()) == rollout
    assert rollout.answering_share == 0.0
    canary = rollout.to_canary()
    assert (canary.stage, canary.answering_share, canary.started_at) == ("canary", 0.2, rollout.started_at)


@pytest.mark.parametrize(("stage", "share", "says"), [("live", 0.2, "unknown rollout stage"), ("canary", 1.5, "share")])
def test_a_rollout_that_cannot_be_is_refused(stage: str, share: float, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Rollout("9", stage, share)
