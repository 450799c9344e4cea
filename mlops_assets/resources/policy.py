"""The retraining policy as a Dagster resource: sensors take no run config, so the guards of
`drift_retrain_sensor` are set here (in code, or in the UI's launchpad)."""

import dagster as dg

from mlops_assets.lib.loop.retraining import RetrainPolicy


class RetrainPolicyResource(RetrainPolicy, dg.ConfigurableResource):
    """The guards of `drift_retrain_sensor` (`lib.loop.retraining.RetrainPolicy`), one field each."""
