"""The Spark engine as a Dagster resource: which engine the heavy steps use, and their session."""

import os

import dagster as dg
from pydantic import Field

from mlops_assets.settings import Settings


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

    def session(self):
        from mlops_assets.lib.spark.conf import spark_conf
        from mlops_assets.lib.spark.session import open_session

        settings = Settings.from_env(self.settings)
        return open_session(spark_conf(settings.spark, settings.s3, self.parallelism(), self.settings))
