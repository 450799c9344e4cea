"""A staged rollout of a new model: first in the shadow (it scores live traffic, the champion
answers), then as a canary (it answers a share of the traffic), then promoted or aborted.

The canary's share of traffic is chosen by card, not by request: a customer's transactions all
go to one model for the whole rollout, so what a customer sees is consistent and the two groups
are comparable. The split is a hash of the customer id salted with the rollout's version: the
same rollout always splits the same way (reproducible), and the next rollout draws a new group.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from mlops_assets.keys import rollout_key
from mlops_assets.lib.loop.retraining import Decision
from mlops_assets.lib.modelling.registry import CHAMPION

STAGES = ("shadow", "canary")
# The registered model's tag that holds the rollout in progress, as JSON; absent when there is none.
ROLLOUT_TAG = "rollout"
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _salt(version: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.blake2b(version.encode(), digest_size=8).digest(), "little"))


def bucket(customer_ids: np.ndarray, version: str) -> np.ndarray:
    """Each customer's place in [0, 1) for the rollout of `version`: uniform over customers and
    the same at every call (splitmix64 of the id and the version's salt)."""
    with np.errstate(over="ignore"):  # the mixing wraps around 2**64 on purpose
        x = (np.asarray(customer_ids).astype(np.uint64) + _salt(version)) & _MASK
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


def in_canary(customer_ids: np.ndarray, version: str, share: float) -> np.ndarray:
    """Which transactions the canary `version` answers: those of customers whose bucket is below
    `share` (none at 0, all at 1)."""
    return bucket(customer_ids, version) < share


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Rollout:
    """The rollout in progress, as the registry keeps it (a tag of the registered model): which
    version, in which stage, answering which share of the traffic as a canary."""

    version: str
    stage: str
    canary_share: float
    champion_version: str | None = None  # the champion it is measured against
    # The last day of data before the current stage began: the days after it count toward it.
    stage_after_day: str | None = None
    # The drift event whose retraining it rolls out (None: started by hand or for another reason):
    # its rows name the event, so the retraining loop knows when that retraining is decided.
    event_id: str | None = None
    started_at: str = field(default_factory=_now)
    stage_started_at: str = field(default_factory=_now)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"unknown rollout stage {self.stage!r}; one of {', '.join(STAGES)}")
        if not 0 <= self.canary_share <= 1:
            raise ValueError(f"a canary share is between 0 and 1, not {self.canary_share}")

    @property
    def answering_share(self) -> float:
        """The share of traffic the new version answers now: none in the shadow."""
        return self.canary_share if self.stage == "canary" else 0.0

    def to_canary(self, after_day: str | None = None) -> Rollout:
        return replace(self, stage="canary", stage_after_day=after_day, stage_started_at=_now())

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Rollout:
        return cls(**json.loads(text))


def current_rollout(registry) -> Rollout | None:
    """The rollout in progress in `registry` (a `lib.modelling.registry.Registry`), if any."""
    text = registry.model_tag(ROLLOUT_TAG)
    return Rollout.from_json(text) if text else None


def save_rollout(registry, rollout: Rollout | None) -> None:
    """Keeps `rollout` as the one in progress; None ends it (the version stays registered)."""
    registry.set_model_tag(ROLLOUT_TAG, rollout.to_json() if rollout else None)


def describe_rollout(rollout: Rollout | None) -> str:
    """The rollout in progress in one line (or that there is none)."""
    if rollout is None:
        return "no rollout in progress"
    answering = f"answering {rollout.answering_share:.0%} of customers" if rollout.answering_share else "answering none"
    return (
        f"version {rollout.version} in the {rollout.stage} stage against champion v{rollout.champion_version} "
        f"({answering}; canary share {rollout.canary_share:.0%}), started {rollout.started_at}, "
        f"this stage since {rollout.stage_started_at}"
    )


class NoRolloutError(Exception):
    """There is no rollout in progress to move."""


def start_rollout(
    registry,
    version: str,
    stage: str = "shadow",
    canary_share: float = 0.1,
    after_day: str | None = None,
    event_id: str | None = None,
) -> Rollout:
    """Starts the rollout of `version` against the current champion: it becomes `challenger`
    (scored beside the champion in the shadow, or answering `canary_share` as a canary); the days
    after `after_day` count toward its stage."""
    champion = registry.alias(CHAMPION)
    if champion is not None and champion.version == version:
        raise ValueError(f"version {version} is the champion already")
    rollout = Rollout(version, stage, canary_share, champion.version if champion else None, after_day, event_id)
    registry.set_challenger(version)
    save_rollout(registry, rollout)
    return rollout


def _in_progress(registry) -> Rollout:
    rollout = current_rollout(registry)
    if rollout is None:
        raise NoRolloutError(f"{registry.model_name} has no rollout in progress")
    return rollout


def to_canary(registry, after_day: str | None = None) -> Rollout:
    """Moves the rollout from the shadow to its canary stage; the days after `after_day` count
    toward the canary."""
    rollout = _in_progress(registry)
    if rollout.stage == "canary":
        raise ValueError(f"version {rollout.version} is a canary already")
    rollout = rollout.to_canary(after_day)
    save_rollout(registry, rollout)
    return rollout


def promote_rollout(registry) -> Rollout:
    """Makes the rollout's version champion and ends the rollout; returns the rollout it ended."""
    rollout = _in_progress(registry)
    registry.promote(rollout.version)
    save_rollout(registry, None)
    return rollout


def abort_rollout(registry) -> Rollout:
    """Ends the rollout with the champion untouched: the challenger alias goes back to the champion,
    so nothing is shadowed or answered by the aborted version any more; returns the rollout."""
    rollout = _in_progress(registry)
    champion = registry.alias(CHAMPION)
    if champion is not None:
        registry.set_challenger(champion.version)
    save_rollout(registry, None)
    return rollout


def rollout_decision(rollout: Rollout, step: str, reason: str, **fields) -> Decision:
    """The `retrain_decisions` row of one step of `rollout` (`shadow`, `canary`, `promote`, `abort`)."""
    return Decision(
        key=rollout_key(rollout.version, rollout.started_at, step),
        action=step,
        reason=reason,
        champion_version=rollout.champion_version,
        version=rollout.version,
        event_id=rollout.event_id,
        **fields,
    )
