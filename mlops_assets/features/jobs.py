"""Jobs of the feature stage, and running them in order on the local instance."""

import dagster as dg

from mlops_assets.features.assets import entity_features, online_features, training_set
from mlops_assets.runs import QUIET, first_error

features_job = dg.define_asset_job(
    "features_job",
    selection=dg.AssetSelection.assets(entity_features, online_features),
    description="A day's customer and merchant features, then the online store.",
)
training_set_job = dg.define_asset_job(
    "training_set_job", selection=dg.AssetSelection.assets(training_set), description="The training set."
)


def build_features(defs: dg.Definitions, instance: dg.DagsterInstance, days: list[str]) -> dict[str, str]:
    """Features for each day, oldest first (a day reads the days before it), then the training
    set; returns the runs that failed, by day (or `training_set`), with the error."""
    failed: dict[str, str] = {}
    job = defs.resolve_job_def("features_job")
    for day in sorted(days):
        result = job.execute_in_process(partition_key=day, instance=instance, run_config=QUIET, raise_on_error=False)
        if not result.success:
            failed[day] = first_error(result)
    if not failed:
        result = defs.resolve_job_def("training_set_job").execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False
        )
        if not result.success:
            failed["training_set"] = first_error(result)
    return failed
