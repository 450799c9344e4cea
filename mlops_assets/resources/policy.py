"""The retraining policy as a Dagster resource: sensors take no run config, so the guards of
`drift_retrain_sensor` are set here (in code, or in the UI's launchpad)."""

import dagster as dg
from pydantic import Field

from mlops_assets.lib.loop.retraining import RetrainPolicy

_RETRAIN = RetrainPolicy()


class RetrainPolicyResource(dg.ConfigurableResource):
    """The guards of `drift_retrain_sensor` (`lib.retraining.RetrainPolicy`); sensors take no run
    config, so their settings are a resource, set in the UI's launchpad or in code."""

    cooldown_days: int = Field(
        default=_RETRAIN.cooldown_days, description="Days after a drift retraining without another."
    )
    min_new_labelled: int = Field(
        default=_RETRAIN.min_new_labelled,
        description="Labelled transactions of the drift days a retraining needs to learn from.",
    )
    holdout_days: int = Field(
        default=_RETRAIN.holdout_days, description="Most recent days a drift retraining evaluates on."
    )
    training_days: int = Field(default=_RETRAIN.training_days, description="Days of a drift retraining's window.")
    max_attempts: int = Field(
        default=_RETRAIN.max_attempts,
        description="Retrainings one drift event may have; another follows a rejected one after the cooldown.",
    )

    def policy(self) -> RetrainPolicy:
        return RetrainPolicy(**self.model_dump())
