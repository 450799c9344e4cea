"""Outside systems as Dagster resources: the landing folder, the lake (tables, records and their IO
managers), the reports, the Feast store, and MLflow (tracking through dagster-mlflow, and the
model registry).

Each takes plain locations (a local path or `s3://...`, reached through dagster-aws's
`S3Resource`), so the same asset code runs on a laptop folder and on S3. `build_resources` is the
one place that picks them for an environment (`Settings.environment`); secrets reach resources
only as `dg.EnvVar`s.
"""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from dagster_aws.s3 import S3Resource
from pydantic import Field

from mlops_assets.lib.feature_store import open_store
from mlops_assets.lib.labels import LabelFolder
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.landing import LandingIndex
from mlops_assets.lib.registry import MODEL_NAME, Registry, ensure_experiment
from mlops_assets.lib.retraining import RetrainPolicy
from mlops_assets.lib.shadow import ShadowLog
from mlops_assets.lib.storage import Folder, S3Access
from mlops_assets.settings import REPO_ROOT, Settings

# The MLflow experiment that holds every training run.
EXPERIMENT = "fraud-detector"


def s3_access(s3: S3Resource) -> S3Access:
    """What pyarrow needs of dagster-aws's S3 settings."""
    return S3Access(
        endpoint_url=s3.endpoint_url,
        region=s3.region_name,
        access_key_id=s3.aws_access_key_id,
        secret_access_key=s3.aws_secret_access_key,
    )


class LandingResource(dg.ConfigurableResource):
    """The landing folder where raw files arrive, and its index."""

    landing_dir: str = Field(description="A local path or s3://bucket/prefix.")
    partitions_start: str
    s3: S3Resource

    def index(self) -> LandingIndex:
        return LandingIndex(self.landing_dir, self.partitions_start, s3_access(self.s3))

    def labels(self) -> LabelFolder:
        return LabelFolder.of_landing(self.landing_dir, s3_access(self.s3))

    def shadow(self) -> ShadowLog:
        return ShadowLog.of_landing(self.landing_dir, s3_access(self.s3))


class LakeResource(dg.ConfigurableResource):
    """Direct access to lake tables, for checks that look across partitions."""

    root: str = Field(description="A local path or s3://bucket/prefix.")
    s3: S3Resource

    def lake(self) -> Lake:
        return Lake(self.root, s3_access(self.s3))


class FeastResource(dg.ConfigurableResource):
    """The Feast store of `feature_repo/`, where `Settings` of the code location put it (a local
    folder; or S3 and Redis in production, with `redis_password`)."""

    redis_password: str | None = None

    def store(self):
        return open_store(Settings.from_env(), self.redis_password)


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores each asset's DataFrame as Parquet in the lake, one file per daily partition."""

    root: str = Field(description="A local path or s3://bucket/prefix.")
    s3: S3Resource

    def _key(self, context: dg.OutputContext | dg.InputContext) -> str:
        return "/".join(context.asset_key.path)

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame | dict[str, pd.DataFrame]) -> None:
        """One frame for an unpartitioned asset or one day; for a run over a range of days (a
        single-run backfill), a frame per day, keyed by day."""
        lake = Lake(self.root, s3_access(self.s3))
        if isinstance(obj, dict):
            expected = set(context.asset_partition_keys)
            if set(obj) != expected:
                raise ValueError(
                    f"{self._key(context)}: a frame for each of {len(expected)} days expected, not {sorted(obj)}"
                )
            paths = [lake.write(self._key(context), frame, day) for day, frame in sorted(obj.items())]
            context.add_output_metadata({"path": dg.MetadataValue.path(paths[-1]), "days_written": len(paths)})
            return
        partition = context.partition_key if context.has_partition_key else None
        path = lake.write(self._key(context), obj, partition)
        context.add_output_metadata({"path": dg.MetadataValue.path(path)})

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        lake = Lake(self.root, s3_access(self.s3))
        key = self._key(context)
        if not context.has_asset_partitions:
            return lake.read(key)
        partitions = [partition for partition in context.asset_partition_keys if lake.exists(key, partition)]
        frames = [lake.read(key, partition) for partition in partitions]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


class RecordIOManager(dg.ConfigurableIOManager):
    """Stores small JSON records (what a model asset registered, a day's drift verdict) in the
    lake: `<asset_key>.json`, or `<asset_key>/<YYYY-MM-DD>.json` for daily assets."""

    root: str = Field(description="A local path or s3://bucket/prefix.")
    s3: S3Resource

    def _key(self, context: dg.OutputContext | dg.InputContext) -> str:
        key = "/".join(context.asset_key.path)
        return f"{key}/{context.partition_key}" if context.has_partition_key else key

    def handle_output(self, context: dg.OutputContext, obj: dict) -> None:
        path = Lake(self.root, s3_access(self.s3)).write_record(self._key(context), obj)
        context.add_output_metadata({"path": dg.MetadataValue.path(path)})

    def load_input(self, context: dg.InputContext) -> dict:
        return Lake(self.root, s3_access(self.s3)).read_record(self._key(context))


class ReportsResource(dg.ConfigurableResource):
    """The folder of reports (plots, HTML) that asset metadata links to."""

    root: str = Field(description="A local path or s3://bucket/prefix.")
    s3: S3Resource

    def write(self, relative_path: str, data: bytes) -> str:
        """Writes a report (replacing it whole); returns where it is, as a user would name it."""
        target, name = self._folder(relative_path)
        target.write(name, data)
        return f"{target.location}/{name}"

    def location(self, relative_path: str) -> str:
        """Where `write` puts a report, as a user would name it (whether or not it exists yet)."""
        target, name = self._folder(relative_path)
        return f"{target.location}/{name}"

    def _folder(self, relative_path: str) -> tuple[Folder, str]:
        folder, name = f"/{relative_path}".rsplit("/", 1)
        reports = Folder.at(self.root, s3_access(self.s3))
        return Folder(reports.filesystem, reports.path + folder), name


class ModelRegistryResource(dg.ConfigurableResource):
    """The MLflow model registry holding `model_name`, and the commit that trains its versions.
    Versions are loaded only from below `trusted_root`, the experiment's artifact root."""

    tracking_uri: str
    git_commit: str
    trusted_root: str | None = Field(default=None, description="Where version files may be loaded from.")
    model_name: str = MODEL_NAME

    def registry(self) -> Registry:
        return Registry(self.tracking_uri, self.model_name, self.trusted_root)


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
    """BentoML's store (`BENTOML_HOME`): where the `bento` asset packages the champion. With
    `export_location` (production, where a step's own store goes with its pod), each Bento is also
    exported there as `<name>-<version>.bento`, for `bentoml import` and `bentoml containerize`."""

    bentoml_home: str
    tracking_uri: str
    export_location: str | None = Field(default=None, description="A local path or s3://bucket/prefix.")
    s3: S3Resource

    def package(self, version: str) -> dict[str, str]:
        """Packages a registry version; returns its `model` and `bento` tags, and the exported
        Bento's location as `exported` when there is an `export_location`."""
        with tempfile.TemporaryDirectory(prefix="bento-export-") as export_dir:
            tags = self._run_packaging(version, export_dir if self.export_location else None)
            if "exported" in tags:
                exported = Path(tags["exported"])
                exports = Folder.at(self.export_location, s3_access(self.s3))
                exports.write(exported.name, exported)
                tags["exported"] = f"{exports.location}/{exported.name}"
        return tags

    def _run_packaging(self, version: str, export_dir: str | None) -> dict[str, str]:
        """Runs `serving.packaging` in a process of its own: BentoML reads BENTOML_HOME once, when
        it is first imported."""
        environment = {
            **os.environ,
            "BENTOML_HOME": self.bentoml_home,
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            # A Bento build runs uv: the Makefile's, when it is not on PATH.
            "PATH": os.pathsep.join([str(REPO_ROOT / ".tools" / "bin"), os.environ.get("PATH", "")]),
        }
        done = subprocess.run(
            [sys.executable, "-m", "serving.packaging", version, *([export_dir] if export_dir else [])],
            cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"packaging version {version} failed: {done.stderr.strip()[-2000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def build_resources(settings: Settings) -> dict[str, object]:
    """The resources of `settings.environment`: `local` keeps everything under `MLOPS_HOME`, with no
    credentials and no servers; `production` puts files on S3 (keys, when set, from
    `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`), MLflow at its server and Feast's online store in
    Redis (`MLOPS_REDIS_PASSWORD`, when set). The asset code is the same."""
    s3 = S3Resource(endpoint_url=settings.s3_endpoint_url or None)
    redis_password = None
    if settings.production:
        secrets = {name: dg.EnvVar(name) for name in _PRODUCTION_SECRETS if os.environ.get(name)}
        s3 = S3Resource(
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None,
            aws_access_key_id=secrets.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=secrets.get("AWS_SECRET_ACCESS_KEY"),
        )
        redis_password = secrets.get("MLOPS_REDIS_PASSWORD")
    return {
        "s3": s3,
        "landing": LandingResource(
            landing_dir=settings.landing_location, partitions_start=settings.partitions_start, s3=s3
        ),
        "lake": LakeResource(root=settings.lake_location, s3=s3),
        "lake_io_manager": LakeIOManager(root=settings.lake_location, s3=s3),
        "feast": FeastResource(redis_password=redis_password),
        "record_io_manager": RecordIOManager(root=settings.lake_location, s3=s3),
        "reports": ReportsResource(root=settings.reports_location, s3=s3),
        "retrain_policy": RetrainPolicyResource(),
        "model_registry": ModelRegistryResource(
            tracking_uri=settings.mlflow_tracking_uri,
            git_commit=settings.git_commit,
            trusted_root=settings.mlartifacts_location,
        ),
        "bentoml": BentoResource(
            bentoml_home=str(settings.bentoml_home),
            tracking_uri=settings.mlflow_tracking_uri,
            export_location=settings.bento_exports_location,
            s3=s3,
        ),
        "mlflow": mlflow_tracking.configured(
            {
                "experiment_name": EXPERIMENT,
                "mlflow_tracking_uri": settings.mlflow_tracking_uri,
                "artifact_location": settings.mlartifacts_location,
            }
        ),
    }


# Secrets a production deployment may set; each reaches a resource only as a `dg.EnvVar`.
_PRODUCTION_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLOPS_REDIS_PASSWORD")
