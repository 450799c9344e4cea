"""`champion_bento_sensor`: the Bento follows the champion. `retrain_job` packages the champion it
promotes; when the alias moves elsewhere (a rollout promoted by `rollout_report` or by hand, a
promotion rolled back by `champion_review`), this sensor asks `bento_job` to package it."""

import dagster as dg

from mlops_assets.defs.features.sensors import in_progress
from mlops_assets.defs.packaging.jobs import bento_job
from mlops_assets.keys import BENTO, BENTO_JOB, RETRAIN_JOB, bento_run_key
from mlops_assets.lib.modelling.registry import CHAMPION
from mlops_assets.resources.model_registry import ModelRegistryResource


def packaged_version(instance: dg.DagsterInstance) -> str | None:
    """The champion version of the newest Bento, None before the first."""
    event = instance.get_latest_materialization_event(dg.AssetKey(BENTO))
    if event is None or event.asset_materialization is None:
        return None
    return str(event.asset_materialization.metadata["champion_version"].value)


@dg.sensor(job=bento_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def champion_bento_sensor(context: dg.SensorEvaluationContext, model_registry: ModelRegistryResource):
    """Requests a Bento of the champion when the newest Bento packages another version."""
    if in_progress(context.instance, RETRAIN_JOB, BENTO_JOB):
        return dg.SkipReason("a retraining or a packaging run is in progress: it packages the champion")
    registry = model_registry.registry()
    champion = registry.alias(CHAMPION)
    if champion is None:
        return dg.SkipReason("no champion yet")
    packaged = packaged_version(context.instance)
    if packaged == champion.version:
        return dg.SkipReason(f"the newest Bento packages champion v{champion.version}")
    promotions = len(registry.champion_history())
    return dg.RunRequest(run_key=bento_run_key(promotions, champion.version))
