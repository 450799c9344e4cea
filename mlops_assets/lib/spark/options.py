"""How the Spark engine runs, from its `MLOPS_SPARK_*` variables (read by `settings.py`, which
reads the environment; nothing here does, and nothing here imports pyspark)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class SparkSettings:
    """How the Spark engine runs (`MLOPS_ENGINE=spark`, `lib/spark/`), from `MLOPS_SPARK_*`.

    Locally Spark runs in local mode inside the step's process; with a `k8s://` master the step
    is the driver (client mode) and Kubernetes starts the executors from `image`."""

    master: str = "local[*]"
    # Shuffle partitions, and the buckets of entities the window features are computed in; 0: as
    # many as the data needs (`lib/spark/features.py`).
    partitions: int = 0
    driver_memory: str = "4g"  # the local-mode JVM, which holds the shuffles
    # The S3A connector's jars (hadoop-aws and the AWS SDK), comma-separated; `make spark-jars`.
    jars: str = ""
    # Kubernetes only: the executors' image, namespace, service account, count and size.
    image: str = ""
    namespace: str = "mlops"
    service_account: str = "mlops-spark"  # deploy/kubernetes/spark/spark.yaml
    executors: int = 2
    executor_cores: int = 2
    executor_memory: str = "4g"

    @classmethod
    def from_variables(cls, env: Mapping[str, str], bundled_jars: str = "") -> SparkSettings:
        """The settings whose `MLOPS_SPARK_*` variables are set in `env`; the jars, when unset,
        are `bundled_jars`."""
        values: dict[str, object] = {name: env[var].strip() for name, var in _SPARK_TEXT.items() if env.get(var)}
        for name, variable in _SPARK_NUMBERS.items():
            if env.get(variable):
                try:
                    values[name] = int(env[variable])
                except ValueError:
                    raise ValueError(f"{variable} is {env[variable]!r}; it must be an integer") from None
                if values[name] < 0:
                    raise ValueError(f"{variable} is {env[variable]!r}; it must not be negative")
        values.setdefault("jars", bundled_jars)
        return cls(**values)

    @property
    def on_kubernetes(self) -> bool:
        return self.master.startswith("k8s://")

    def to_variables(self) -> dict[str, str]:
        """The variables of the settings that differ from the defaults (the jars' too)."""
        default = SparkSettings()
        names = {**_SPARK_TEXT, **_SPARK_NUMBERS}
        return {
            variable: str(getattr(self, name))
            for name, variable in names.items()
            if getattr(self, name) != getattr(default, name)
        }


_SPARK_TEXT = {
    "master": "MLOPS_SPARK_MASTER",
    "driver_memory": "MLOPS_SPARK_DRIVER_MEMORY",
    "jars": "MLOPS_SPARK_JARS",
    "image": "MLOPS_SPARK_IMAGE",
    "namespace": "MLOPS_SPARK_NAMESPACE",
    "service_account": "MLOPS_SPARK_SERVICE_ACCOUNT",
    "executor_memory": "MLOPS_SPARK_EXECUTOR_MEMORY",
}
_SPARK_NUMBERS = {
    "partitions": "MLOPS_SPARK_PARTITIONS",
    "executors": "MLOPS_SPARK_EXECUTORS",
    "executor_cores": "MLOPS_SPARK_EXECUTOR_CORES",
}
