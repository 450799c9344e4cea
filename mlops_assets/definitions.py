"""The Dagster definitions: every stage's assets, checks, jobs and sensors, and the resources of the
environment. `workspace.yaml` loads this module; `dagster dev` in the repository root serves it."""

import dagster as dg

from mlops_assets.features.assets import entity_features, online_features, training_set
from mlops_assets.features.jobs import features_job, training_set_job
from mlops_assets.features.sensors import features_sensor
from mlops_assets.ingestion.assets import raw_transactions
from mlops_assets.ingestion.sensors import ingest_job, landing_sensor
from mlops_assets.resources import build_local_resources
from mlops_assets.settings import Settings
from mlops_assets.validation.assets import validate_transactions


def build_definitions(resources: dict[str, object]) -> dg.Definitions:
    """The whole graph with the given resources (tests pass ones rooted in a temporary folder)."""
    return dg.Definitions(
        assets=[raw_transactions, validate_transactions, entity_features, online_features, training_set],
        jobs=[ingest_job, features_job, training_set_job],
        sensors=[landing_sensor, features_sensor],
        resources=resources,
    )


defs = build_definitions(build_local_resources(Settings.from_env()))
