"""What the Spark engine would send to a cluster, checked where none runs: the manifests of
`deploy/kubernetes/spark/` validate against the Kubernetes schemas (the executors' pod template
too), the Spark conf of a Kubernetes deployment has the image, resources, environment and secrets
we intend and no secret value, and the pod dagster-k8s builds for a step that drives Spark has
the service account, its own name and IP, and the template where the conf says it is."""

from __future__ import annotations

import dataclasses
import json

import kubernetes_validate
import pytest
import yaml

from mlops_assets.defs.features.assets import entity_features
from mlops_assets.defs.scoring.assets import scored_transactions
from mlops_assets.defs.training.jobs import retrain_job
from mlops_assets.defs.training.training_set import training_set
from mlops_assets.lib.data.storage import S3Access
from mlops_assets.lib.spark.conf import (
    DRIVER_IP_VARIABLE,
    DRIVER_POD_VARIABLE,
    DRIVER_STEP_K8S_CONFIG,
    EXECUTOR_TEMPLATE,
    spark_conf,
)
from mlops_assets.settings import Settings, SparkSettings
from tests.deploy.test_manifests import DEPLOY, KUBERNETES_VERSION, SECRET_NAMES, documents, find

SPARK_MANIFEST = DEPLOY / "kubernetes" / "spark" / "spark.yaml"
KUBERNETES = SparkSettings(
    master="k8s://https://kubernetes.default.svc:443",
    image="registry.example/mlops-assets:1.0",
    namespace="fraud",
    executors=8,
    executor_cores=4,
    executor_memory="16g",
)
POD = {DRIVER_POD_VARIABLE: "dagster-step-abc", DRIVER_IP_VARIABLE: "10.1.2.3"}


def spark_documents() -> dict[str, dict]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in documents(SPARK_MANIFEST)}


def executor_template() -> dict:
    return yaml.safe_load(spark_documents()["ConfigMap/mlops-spark-templates"]["data"]["executor.yaml"])


@pytest.mark.parametrize("document", [*documents(SPARK_MANIFEST), executor_template()], ids=lambda d: d["kind"])
def test_the_spark_manifests_and_the_executor_template_validate(document: dict) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def production_settings() -> Settings:
    environment = {
        "MLOPS_ENV": "production",
        "MLOPS_STORAGE_URI": "s3://fraud-lake",
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "MLOPS_REDIS_URL": "redis-master:6379",
        "MLOPS_ENGINE": "spark",
        **{variable: value for variable, value in KUBERNETES.to_variables().items()},
    }
    return Settings.from_env(environment)


def test_a_kubernetes_conf_names_the_image_resources_environment_and_secrets() -> None:
    settings = production_settings()
    # The S3A jars are the ones `make spark` puts in the checkout (in the image too) unless set.
    assert dataclasses.replace(settings.spark, jars="") == KUBERNETES
    conf = spark_conf(settings.spark, S3Access(region="eu-west-1"), 64, settings.export(), POD)
    assert conf["spark.master"] == "k8s://https://kubernetes.default.svc:443"
    assert conf["spark.submit.deployMode"] == "client"
    assert conf["spark.kubernetes.container.image"] == "registry.example/mlops-assets:1.0"
    assert conf["spark.kubernetes.namespace"] == "fraud"
    assert (conf["spark.executor.instances"], conf["spark.executor.cores"]) == ("8", "4")
    assert conf["spark.executor.memory"] == conf["spark.executor.memoryOverhead"] == "16g"
    assert conf["spark.sql.shuffle.partitions"] == "64"
    # The executors are the step pod's children, and reach it by its IP on fixed ports.
    assert conf["spark.kubernetes.driver.pod.name"] == "dagster-step-abc"
    assert conf["spark.driver.host"] == "10.1.2.3" and conf["spark.driver.port"] == "7078"
    assert conf["spark.kubernetes.executor.podTemplateFile"] == EXECUTOR_TEMPLATE
    # The keys come from the object store's Secret; the settings (no secret) from the environment.
    assert conf["spark.kubernetes.executor.secretKeyRef.AWS_ACCESS_KEY_ID"] == "mlops-object-store:AWS_ACCESS_KEY_ID"
    assert conf["spark.kubernetes.executor.secretKeyRef.AWS_SECRET_ACCESS_KEY"] == (
        "mlops-object-store:AWS_SECRET_ACCESS_KEY"
    )
    assert conf["spark.executorEnv.MLOPS_ENV"] == "production"
    assert conf["spark.executorEnv.MLOPS_STORAGE_URI"] == "s3://fraud-lake"
    assert conf["spark.hadoop.fs.s3a.endpoint.region"] == "eu-west-1"
    assert conf["spark.sql.parquet.outputTimestampType"] == "TIMESTAMP_MICROS"
    assert not [key for key in conf if key.startswith("spark.executorEnv.") and SECRET_NAMES.search(key)]
    assert "fs.s3a.access.key" not in json.dumps(conf) and "fs.s3a.secret.key" not in json.dumps(conf)
    # The service account the conf names is the one the manifest binds to the driver's Role.
    binding = spark_documents()["RoleBinding/mlops-spark-driver"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": conf["spark.kubernetes.authenticate.driver.serviceAccountName"]}
    ]
    pods = [rule for rule in spark_documents()["Role/mlops-spark-driver"]["rules"] if "pods" in rule["resources"]]
    assert {"create", "delete", "watch"} <= set(pods[0]["verbs"])


def test_a_kubernetes_conf_without_an_image_or_the_pods_identity_is_refused() -> None:
    settings = production_settings()
    with pytest.raises(ValueError, match="MLOPS_SPARK_IMAGE"):
        spark_conf(SparkSettings(master=KUBERNETES.master), None, 8, {}, POD)
    with pytest.raises(ValueError, match=f"{DRIVER_POD_VARIABLE} and {DRIVER_IP_VARIABLE}"):
        spark_conf(settings.spark, None, 8, {}, {})


def test_the_local_conf_listens_on_loopback_only() -> None:
    conf = spark_conf(SparkSettings(), S3Access(endpoint_url="http://127.0.0.1:9000"), 4, {})
    assert conf["spark.master"] == "local[*]" and conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert not any(key.startswith("spark.kubernetes.") for key in conf)


@pytest.mark.parametrize("step", [entity_features, training_set, scored_transactions], ids=lambda a: a.op.name)
def test_a_step_that_drives_spark_gets_its_pod_identity_and_the_executor_template(step) -> None:
    """The step's `dagster-k8s/config` tag, as dagster-k8s reads it and builds the step's job."""
    from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

    tags = {key: value if isinstance(value, str) else json.dumps(value) for key, value in step.op.tags.items()}
    user_config = get_user_defined_k8s_config(tags)
    job = construct_dagster_k8s_job(
        DagsterK8sJobConfig(job_image="mlops-assets:latest", image_pull_policy="IfNotPresent"),
        args=["dagster", "api", "execute_step"],
        job_name="dagster-step-test",
        pod_name="dagster-step-test",
        user_defined_k8s_config=user_config,
    )
    pod = job.spec.template.spec
    assert pod.service_account_name == "mlops-spark" == find_service_account()
    [container] = pod.containers
    fields = {
        variable.name: variable.value_from.field_ref.field_path for variable in container.env if variable.value_from
    }
    assert fields == {DRIVER_POD_VARIABLE: "metadata.name", DRIVER_IP_VARIABLE: "status.podIP"}
    [mount] = [m for m in container.volume_mounts if m.name == "spark-templates"]
    assert f"{mount.mount_path}/executor.yaml" == EXECUTOR_TEMPLATE
    [volume] = [v for v in pod.volumes if v.name == "spark-templates"]
    assert f"ConfigMap/{volume.config_map.name}" in spark_documents()
    assert "executor.yaml" in spark_documents()[f"ConfigMap/{volume.config_map.name}"]["data"]


def find_service_account() -> str:
    return spark_documents()["ServiceAccount/mlops-spark"]["metadata"]["name"]


def test_the_retraining_runs_pod_drives_the_training_sets_spark() -> None:
    """`retrain_job` keeps its steps in its run's pod: its tag configures that pod (K8sRunLauncher)."""
    assert json.loads(retrain_job.tags["dagster-k8s/config"]) == DRIVER_STEP_K8S_CONFIG
    # The pods read the deployment's settings from the ConfigMap the other workloads use.
    assert find("ConfigMap", "mlops-config")["data"]["MLOPS_ENV"] == "production"
