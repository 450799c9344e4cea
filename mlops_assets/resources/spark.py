"""The Spark engine as a Dagster resource: which engine the heavy steps use, and their session."""

import dataclasses
import os

import dagster as dg
from pydantic import Field

from mlops_assets.lib.data.storage import S3Access
from mlops_assets.settings import Settings, driver_pod, secret


class SparkResource(dg.ConfigurableResource):
    """`MLOPS_ENGINE` and the Spark session of the entity features, the point-in-time joins and
    batch scoring. The session (a JVM) starts at the first step that asks for it, in that step's
    process: on Kubernetes, the step's pod is the driver."""

    settings: dict[str, str] = Field(
        description="The code location's settings as variables (`Settings.export()`): the engine and MLOPS_SPARK_*."
    )

    @classmethod
    def of(cls, settings: Settings) -> "SparkResource":
        return cls(settings=settings.export())

    @property
    def enabled(self) -> bool:
        return Settings.from_env(self.settings).engine == "spark"

    def parallelism(self) -> int:
        """Shuffle partitions: `MLOPS_SPARK_PARTITIONS`, else two per core of the executors."""
        spark = Settings.from_env(self.settings).spark
        if spark.partitions:
            return spark.partitions
        cores = spark.executors * spark.executor_cores if spark.on_kubernetes else (os.cpu_count() or 1)
        return 2 * cores

    def session(self, s3: S3Access | None = None):
        """The process's session, its S3A connector pointed at `s3` (the lake's access, keys
        included), by default the deployment's endpoint with the keys of the environment."""
        from mlops_assets.lib.spark.conf import spark_conf
        from mlops_assets.lib.spark.session import configure_s3, open_session

        settings = Settings.from_env(self.settings)
        conf = spark_conf(settings.spark, settings.s3, self.parallelism(), self.settings, driver_pod())
        session = open_session(conf)
        if s3 is None:
            keys = (secret("AWS_ACCESS_KEY_ID"), secret("AWS_SECRET_ACCESS_KEY"))
            s3 = dataclasses.replace(settings.s3, access_key_id=keys[0], secret_access_key=keys[1])
        configure_s3(session, s3)
        return session
