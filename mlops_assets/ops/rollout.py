"""`mlops rollout`: a person moves a staged rollout (`lib.loop.rollout`) along: starts one, moves
it to its canary stage, promotes or aborts it. Each step is a `retrain_decisions` row."""

from __future__ import annotations

from mlops_assets.keys import VALIDATED_TRANSACTIONS
from mlops_assets.lib.loop.retraining import DecisionLog
from mlops_assets.lib.loop.rollout import (
    NoRolloutError,
    abort_rollout,
    current_rollout,
    describe_rollout,
    promote_rollout,
    rollout_decision,
    start_rollout,
    to_canary,
)
from mlops_assets.ops.instance import CommandError, open_lake, open_registry
from mlops_assets.settings import Settings

ACTIONS = ("status", "start", "canary", "promote", "abort")


def rollout(settings: Settings, action: str, version: str | None, stage: str, share: float) -> str:
    """Carries out `action` and returns what it did, in one line."""
    registry = open_registry(settings)
    if action == "status":
        return describe_rollout(current_rollout(registry))
    # A stage a person starts counts from the days after the newest validated one.
    newest = (open_lake(settings).partitions(VALIDATED_TRANSACTIONS) or [None])[-1]
    try:
        if action == "start":
            if version is None:
                raise CommandError("start needs the VERSION to roll out")
            if (pending := current_rollout(registry)) is not None:
                raise CommandError(f"a rollout is in progress: {describe_rollout(pending)}")
            done, step = start_rollout(registry, version, stage, share, newest), stage
        elif action == "canary":
            done, step = to_canary(registry, newest), "canary"
        elif action == "promote":
            done, step = promote_rollout(registry), "promote"
        else:
            done, step = abort_rollout(registry), "abort"
    except (NoRolloutError, ValueError) as error:
        raise CommandError(str(error)) from error
    said = {
        "shadow": f"version {done.version} in the shadow: scored beside champion v{done.champion_version}",
        "canary": f"version {done.version} is a canary: it answers {done.canary_share:.0%} of customers",
        "promote": f"champion: version {done.version} (was {done.champion_version}); the rollout ended",
        "abort": f"rollout of version {done.version} aborted; champion v{done.champion_version} untouched",
    }[step]
    DecisionLog(open_lake(settings)).record(rollout_decision(done, step, f"by hand (mlops rollout {action}): {said}"))
    return said
