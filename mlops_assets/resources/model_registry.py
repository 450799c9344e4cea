"""MLflow as Dagster resources: the model registry, and tracking through dagster-mlflow (one MLflow
run per Dagster run, resumed by each step that logs to it)."""

import contextlib
from collections.abc import Iterator
from typing import Any

import dagster as dg
from pydantic import Field

from mlops_assets.lib.modelling.registry import MODEL_NAME, Registry, ensure_experiment

# The MLflow experiment that holds every training run.
EXPERIMENT = "fraud-detector"


class ModelRegistryResource(dg.ConfigurableResource):
    """The MLflow model registry holding `model_name`, and the commit that trains its versions.
    Versions are loaded only from below `trusted_root`, the experiment's artifact root."""

    tracking_uri: str
    git_commit: str
    trusted_root: str | None = Field(default=None, description="Where version files may be loaded from.")
    model_name: str = MODEL_NAME

    def registry(self) -> Registry:
        return Registry(self.tracking_uri, self.model_name, self.trusted_root)


@dg.resource(
    config_schema={"experiment_name": str, "mlflow_tracking_uri": str, "artifact_location": str},
    description="dagster-mlflow's mlflow_tracking: one MLflow run per Dagster run.",
)
def mlflow_tracking(init_context: dg.InitResourceContext):
    """dagster-mlflow's `MlFlow` run handling, once the experiment exists with its artifact
    location (the library would create it with artifacts in the working directory's ./mlruns)."""
    from dagster_mlflow.resources import MlFlow

    config = init_context.resource_config
    ensure_experiment(config["mlflow_tracking_uri"], config["experiment_name"], config["artifact_location"])
    tracking = MlFlow(init_context)
    if tracking.mlflow_run_id is None:  # it started a new run without noting which
        tracking.mlflow_run_id = tracking.active_run().info.run_id
    return tracking


@contextlib.contextmanager
def mlflow_run_for_step(tracking: Any) -> Iterator[None]:
    """Makes the Dagster run's MLflow run (which `mlflow_tracking` found or started) active for one
    step and ends it with the step's outcome; the next MLflow step resumes it. So the run ends
    FINISHED or FAILED with its last MLflow step, whichever assets a Dagster run selects.
    (dagster-mlflow's own hook ends it only after the job's last op, which a failed blocking gate
    skips, and importing the hook would import mlflow whenever the definitions load.)"""
    import mlflow

    active = mlflow.active_run()
    if active is None or active.info.run_id != tracking.mlflow_run_id:
        mlflow.start_run(run_id=tracking.mlflow_run_id)
    try:
        yield
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    mlflow.end_run()
