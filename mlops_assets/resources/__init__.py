"""Outside systems as Dagster resources, a module each: the landing folder, the lake and the
reports (`lake`), the Feast store (`feature_store`), MLflow (`model_registry`), BentoML (`bento`),
and the retraining policy the sensors read (`policy`).

Each takes plain locations (a local path or `s3://...`, reached through dagster-aws's
`S3Resource`), so the same asset code runs on a laptop folder and on S3. `build_resources` is the
one place that picks them for an environment (`Settings.environment`); secrets reach resources
only as `dg.EnvVar`s.
"""

import dagster as dg
from dagster_aws.s3 import S3Resource

from mlops_assets.resources.bento import BentoResource
from mlops_assets.resources.feature_store import FeastResource
from mlops_assets.resources.lake import LakeIOManager, LakeResource, LandingResource, RecordIOManager, ReportsResource
from mlops_assets.resources.model_registry import EXPERIMENT, ModelRegistryResource, mlflow_tracking
from mlops_assets.resources.policy import RetrainPolicyResource
from mlops_assets.resources.spark import SparkResource
from mlops_assets.settings import Settings, secret


def build_resources(settings: Settings) -> dict[str, object]:
    """The resources of `settings.environment`: `local` keeps everything under `MLOPS_HOME`, with no
    credentials and no servers; `production` puts files on S3 (keys, when set, from
    `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`), MLflow at its server and Feast's online store in
    Redis (`MLOPS_REDIS_PASSWORD`, when set). The asset code is the same."""
    s3 = S3Resource(endpoint_url=settings.s3_endpoint_url or None)
    redis_password = None
    if settings.production:
        secrets = {name: dg.EnvVar(name) for name in _PRODUCTION_SECRETS if secret(name)}
        s3 = S3Resource(
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=settings.aws_region or None,
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
        "feast": FeastResource.of(settings, redis_password),
        "record_io_manager": RecordIOManager(root=settings.lake_location, s3=s3),
        "reports": ReportsResource(root=settings.reports_location, s3=s3),
        "retrain_policy": RetrainPolicyResource(),
        "spark": SparkResource.of(settings),
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
