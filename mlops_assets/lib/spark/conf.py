"""The Spark configuration of a deployment, as plain `key -> value` text: what the session is built
with (`session.py`), and, on Kubernetes, the executors' pods (image, size, environment, secrets).

Nothing here imports pyspark, so the settings and their tests stay cheap.

- Timestamps: the session's time zone is UTC and Parquet timestamps are written as microseconds
  (Spark's default is the legacy INT96), as the lake's other writers write them.
- S3: the S3A connector, pointed at the deployment's endpoint. Keys are never in this conf (the
  executors' spec): the driver sets the keys it was given on its session's Hadoop configuration
  (`session.configure_s3`; Spark redacts them in its UI and logs), each executor on Kubernetes
  reads them from the object store's Secret as `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, and
  without keys an instance role applies.
- Kubernetes (a `k8s://` master): the Dagster step's pod is the driver, in client mode; executors
  are pods of the project's image, in `namespace`, owned by the driver's pod (they go when it
  goes), with the deployment's ConfigMap as their environment and the object store's keys from
  its Secret (`deploy/kubernetes/spark/`).
"""

from __future__ import annotations

from collections.abc import Mapping

from mlops_assets.lib.data.storage import S3Access
from mlops_assets.lib.spark.options import SparkSettings

# The Kubernetes objects the executors read (the same as the other workloads': deploy/kubernetes/).
CONFIG_MAP = "mlops-config"
OBJECT_STORE_SECRET = "mlops-object-store"
SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# Where the executors' pod template is mounted in the driver's pod, and the driver pod's name
# (set from the downward API by the step's pod spec).
TEMPLATES_CONFIG_MAP = "mlops-spark-templates"
EXECUTOR_TEMPLATE = "/opt/spark-templates/executor.yaml"
DRIVER_POD_VARIABLE = "MLOPS_POD_NAME"
DRIVER_IP_VARIABLE = "MLOPS_POD_IP"
# Fixed, so that a NetworkPolicy can let the executors reach their driver.
DRIVER_PORT, BLOCK_MANAGER_PORT = 7078, 7079
SERVICE_ACCOUNT = "mlops-spark"

# What a Dagster step that may drive Spark needs of its pod on Kubernetes (dagster-k8s's
# `dagster-k8s/config` tag; harmless with the pandas engine): the service account that may start
# executor pods, its own name and IP, and the executors' pod template.
DRIVER_STEP_K8S_CONFIG = {
    "pod_spec_config": {
        "service_account_name": SERVICE_ACCOUNT,
        "volumes": [{"name": "spark-templates", "config_map": {"name": TEMPLATES_CONFIG_MAP}}],
    },
    "container_config": {
        "env": [
            {"name": DRIVER_POD_VARIABLE, "value_from": {"field_ref": {"field_path": "metadata.name"}}},
            {"name": DRIVER_IP_VARIABLE, "value_from": {"field_ref": {"field_path": "status.podIP"}}},
        ],
        "volume_mounts": [{"name": "spark-templates", "mount_path": EXECUTOR_TEMPLATE.rsplit("/", 1)[0]}],
    },
}

# Hadoop 3.4 and later write durations such as "60s" into the S3A defaults; the connector of
# another Hadoop release reads some of them as plain numbers and fails. Plain numbers (ms, or s
# where Hadoop's own defaults are seconds) read the same in every release.
_S3A_NUMBERS = {
    "fs.s3a.connection.timeout": "200000",
    "fs.s3a.connection.establish.timeout": "30000",
    "fs.s3a.connection.request.timeout": "0",
    "fs.s3a.connection.acquisition.timeout": "60000",
    "fs.s3a.connection.idle.time": "60000",
    "fs.s3a.connection.ttl": "300000",
    "fs.s3a.threads.keepalivetime": "60",
    "fs.s3a.multipart.purge.age": "86400",
    "fs.s3a.retry.interval": "500",
    "fs.s3a.retry.throttle.interval": "100",
}
# Keys set on the Hadoop configuration, then from the environment, then an instance role. The AWS
# SDK 1 names, which Hadoop 3.4 and later map to their SDK 2 equivalents.
_CREDENTIALS = ",".join(
    [
        "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "com.amazonaws.auth.EnvironmentVariableCredentialsProvider",
        "com.amazonaws.auth.InstanceProfileCredentialsProvider",
    ]
)


def spark_conf(
    spark: SparkSettings,
    s3: S3Access | None,
    shuffle_partitions: int,
    environment: Mapping[str, str],
    pod: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The session's configuration. `environment` is what executors need besides the ConfigMap
    (the project's `Settings.export()`); `shuffle_partitions` the work's parallelism; `pod` the
    driver pod's name and IP (`settings.driver_pod`), needed on Kubernetes."""
    conf = {
        "spark.master": spark.master,
        "spark.app.name": "mlops-assets",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # No UI server: nothing listens beyond what the project starts, and local runs are short.
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }
    if spark.jars:
        conf["spark.jars"] = spark.jars
    conf |= _s3a(s3)
    if spark.on_kubernetes:
        conf |= _kubernetes(spark, environment, pod or {})
    else:
        conf["spark.driver.memory"] = spark.driver_memory
        # Local mode: the driver is the only JVM and listens on loopback only.
        conf["spark.driver.host"] = conf["spark.driver.bindAddress"] = "127.0.0.1"
    return conf


def _s3a(s3: S3Access | None) -> dict[str, str]:
    return {f"spark.hadoop.{key}": value for key, value in s3a_settings(s3).items()}


def s3a_settings(s3: S3Access | None) -> dict[str, str]:
    """The S3A connector's Hadoop settings for `s3`'s endpoint and region (never its keys)."""
    settings = dict(_S3A_NUMBERS)
    settings["fs.s3a.aws.credentials.provider"] = _CREDENTIALS
    if s3 is not None and s3.endpoint_url:
        settings["fs.s3a.endpoint"] = s3.endpoint_url
        # An S3-compatible server (MinIO, moto) answers on paths, not on bucket subdomains.
        settings["fs.s3a.path.style.access"] = "true"
        settings["fs.s3a.connection.ssl.enabled"] = str(s3.endpoint_url.startswith("https")).lower()
    if s3 is not None and s3.region:
        settings["fs.s3a.endpoint.region"] = s3.region
    return settings


def _kubernetes(spark: SparkSettings, environment: Mapping[str, str], pod: Mapping[str, str]) -> dict[str, str]:
    if not spark.image:
        raise ValueError("MLOPS_SPARK_MASTER is a Kubernetes master: set MLOPS_SPARK_IMAGE to the project's image")
    missing = [name for name in (DRIVER_POD_VARIABLE, DRIVER_IP_VARIABLE) if not pod.get(name)]
    if missing:
        raise ValueError(
            f"a Spark driver on Kubernetes needs {' and '.join(missing)} (its pod's name and IP, from the "
            "downward API: deploy/kubernetes/spark/README.md)"
        )
    prefix = "spark.kubernetes"
    conf = {
        "spark.submit.deployMode": "client",
        f"{prefix}.namespace": spark.namespace,
        f"{prefix}.container.image": spark.image,
        f"{prefix}.authenticate.driver.serviceAccountName": spark.service_account,
        f"{prefix}.executor.podTemplateFile": EXECUTOR_TEMPLATE,
        f"{prefix}.executor.deleteOnTermination": "true",
        "spark.executor.instances": str(spark.executors),
        "spark.executor.cores": str(spark.executor_cores),
        "spark.executor.memory": spark.executor_memory,
        # The Python workers of the window features and scoring hold a bucket of entities each.
        "spark.executor.memoryOverhead": spark.executor_memory,
        f"{prefix}.executor.request.cores": str(spark.executor_cores),
        # The driver (the step's pod) is reached by its IP; executors are its pod's children.
        "spark.driver.host": pod[DRIVER_IP_VARIABLE],
        "spark.driver.bindAddress": "0.0.0.0",
        "spark.driver.port": str(DRIVER_PORT),
        "spark.blockManager.port": str(BLOCK_MANAGER_PORT),
        f"{prefix}.driver.pod.name": pod[DRIVER_POD_VARIABLE],
    }
    for name in SECRET_KEYS:
        conf[f"{prefix}.executor.secretKeyRef.{name}"] = f"{OBJECT_STORE_SECRET}:{name}"
    for name, value in sorted(environment.items()):
        conf[f"spark.executorEnv.{name}"] = value
    return conf
