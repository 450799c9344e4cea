"""Outside systems as Dagster resources: the landing folder, the lake (tables, records and their IO
managers), the Feast store, and MLflow (tracking through dagster-mlflow, and the model registry).

Each takes plain locations, so the same asset code runs on a laptop folder and (later) on S3.
`build_local_resources` is the one place that picks them for the embedded local environment.
"""

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from mlops_assets.lib.feature_store import open_store
from mlops_assets.lib.labels import LabelFolder
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.landing import LandingIndex
from mlops_assets.lib.registry import MODEL_NAME, Registry, ensure_experiment
from mlops_assets.lib.retraining import RetrainPolicy
from mlops_assets.lib.shadow import ShadowLog
from mlops_assets.settings import REPO_ROOT, Settings

# The MLflow experiment that holds every training run.
EXPERIMENT = "fraud-detector"


class LandingResource(dg.ConfigurableResource):
    """The landing folder where raw files arrive, and its index."""

    landing_dir: str
    partitions_start: str

    def index(self) -> LandingIndex:
        return LandingIndex(self.landing_dir, self.partitions_start)

    def labels(self) -> LabelFolder:
        return LabelFolder.of_landing(Path(self.landing_dir))

    def shadow(self) -> ShadowLog:
        return ShadowLog.of_landing(Path(self.landing_dir))


class LakeResource(dg.ConfigurableResource):
    """Direct access to lake tables, for checks that look across partitions."""

    root: str

    def lake(self) -> Lake:
        return Lake(self.root)


class FeastResource(dg.ConfigurableResource):
    """The Feast store of `feature_repo/`: registry and online store under `feast_dir`."""

    feast_dir: str

    def store(self):
        return open_store(Path(self.feast_dir))


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores each asset's DataFrame as Parquet in the lake, one file per daily partition."""

    root: str

    def _key(self, context: dg.OutputContext | dg.InputContext) -> str:
        return "/".join(context.asset_key.path)

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        partition = context.partition_key if context.has_partition_key else None
        path = Lake(self.root).write(self._key(context), obj, partition)
        context.add_output_metadata({"path": dg.MetadataValue.path(path)})

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        lake = Lake(self.root)
        key = self._key(context)
        if not context.has_asset_partitions:
            return lake.read(key)
        partitions = [partition for partition in context.asset_partition_keys if lake.exists(key, partition)]
        frames = [lake.read(key, partition) for partition in partitions]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


class RecordIOManager(dg.ConfigurableIOManager):
    """Stores small JSON records (what a model asset registered, a day's drift verdict) in the
    lake: `<asset_key>.json`, or `<asset_key>/<YYYY-MM-DD>.json` for daily assets."""

    root: str

    def _key(self, context: dg.OutputContext | dg.InputContext) -> str:
        key = "/".join(context.asset_key.path)
        return f"{key}/{context.partition_key}" if context.has_partition_key else key

    def handle_output(self, context: dg.OutputContext, obj: dict) -> None:
        path = Lake(self.root).write_record(self._key(context), obj)
        context.add_output_metadata({"path": dg.MetadataValue.path(path)})

    def load_input(self, context: dg.InputContext) -> dict:
        return Lake(self.root).read_record(self._key(context))


class ReportsResource(dg.ConfigurableResource):
    """The folder of reports (plots, HTML) that asset metadata links to."""

    root: str

    def path(self, relative_path: str) -> Path:
        """Where a report goes, its folder created."""
        path = Path(self.root) / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write(self, relative_path: str, data: bytes) -> Path:
        path = self.path(relative_path)
        path.write_bytes(data)
        return path


class ModelRegistryResource(dg.ConfigurableResource):
    """The MLflow model registry holding `model_name`, and the commit that trains its versions."""

    tracking_uri: str
    git_commit: str
    model_name: str = MODEL_NAME

    def registry(self) -> Registry:
        return Registry(self.tracking_uri, self.model_name)


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


class BentoResource(dg.ConfigurableResource):
    """BentoML's store (`BENTOML_HOME`): where the `bento` asset packages the champion."""

    bentoml_home: str
    tracking_uri: str

    def package(self, version: str) -> dict[str, str]:
        """Runs `serving.packaging` for a registry version; returns its `model` and `bento` tags.
        A process of its own: BentoML reads BENTOML_HOME once, when it is first imported."""
        environment = {
            **os.environ,
            "BENTOML_HOME": self.bentoml_home,
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            # A Bento build runs uv: the Makefile's, when it is not on PATH.
            "PATH": os.pathsep.join([str(REPO_ROOT / ".tools" / "bin"), os.environ.get("PATH", "")]),
        }
        done = subprocess.run(
            [sys.executable, "-m", "serving.packaging", version],
            cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"packaging version {version} failed: {done.stderr.strip()[-2000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def build_local_resources(settings: Settings) -> dict[str, object]:
    """The embedded local environment: everything under `MLOPS_HOME`, no credentials, no servers."""
    return {
        "landing": LandingResource(landing_dir=str(settings.landing_dir), partitions_start=settings.partitions_start),
        "lake": LakeResource(root=str(settings.lake_dir)),
        "lake_io_manager": LakeIOManager(root=str(settings.lake_dir)),
        "feast": FeastResource(feast_dir=str(settings.feast_dir)),
        "record_io_manager": RecordIOManager(root=str(settings.lake_dir)),
        "reports": ReportsResource(root=str(settings.reports_dir)),
        "retrain_policy": RetrainPolicyResource(),
        "model_registry": ModelRegistryResource(
            tracking_uri=settings.mlflow_tracking_uri,
            git_commit=settings.git_commit,
        ),
        "bentoml": BentoResource(bentoml_home=str(settings.bentoml_home), tracking_uri=settings.mlflow_tracking_uri),
        "mlflow": mlflow_tracking.configured(
            {
                "experiment_name": EXPERIMENT,
                "mlflow_tracking_uri": settings.mlflow_tracking_uri,
                "artifact_location": settings.mlartifacts_dir.as_uri(),
            }
        ),
    }
