"""What `deploy/` would send to a cluster, checked here where no cluster runs: every Kubernetes
manifest validates against the Kubernetes OpenAPI schemas (offline, `kubernetes-validate`), the
pieces refer to each other correctly, no secret is written in them, the Dagster instance config
passes dagster's own config schemas, and the image installs from the lockfile through the
Makefile (no second list of dependencies)."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import kubernetes_validate
import pytest
import yaml
from dagster._config import process_config

from mlops_assets.definitions import K8S_EXECUTOR_CONFIG
from mlops_assets.settings import DAGSTER_INSTANCE_YAML, REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
KUBERNETES_VERSION = "1.31.0"  # the oldest minor release still supported upstream in 2026
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
SECRET_NAMES = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL", re.IGNORECASE)


def documents(path: Path) -> list[dict]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def find(kind: str, name: str) -> dict:
    found = [d for path in MANIFESTS for d in documents(path) if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def containers(document: dict) -> list[dict]:
    return document["spec"]["template"]["spec"]["containers"]


def deployment_containers() -> list[tuple[str, dict, dict]]:
    """(file name, Deployment, container) for every container of every Deployment we write."""
    return [
        (path.name, document, container)
        for path in MANIFESTS
        for document in documents(path)
        if document["kind"] == "Deployment"
        for container in containers(document)
    ]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_every_manifest_validates_against_the_kubernetes_schemas(path: Path) -> None:
    found = documents(path)
    assert found
    for document in found:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_a_broken_manifest_is_caught() -> None:
    deployment = find("Deployment", "fraud-detector")
    containers(deployment)[0]["ports"][0]["containerPort"] = "3001"  # a string, not a port number
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_serving_pieces_point_at_each_other() -> None:
    deployment = find("Deployment", "fraud-detector")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    [container] = containers(deployment)
    [port] = container["ports"]
    assert port["containerPort"] == 3001 and "3001" in container["command"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": port["name"]}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    service = find("Service", "fraud-detector")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    autoscaler = find("HorizontalPodAutoscaler", "fraud-detector")
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "fraud-detector",
    }
    assert autoscaler["spec"]["minReplicas"] >= 2
    budget = find("PodDisruptionBudget", "fraud-detector")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["minAvailable"] < autoscaler["spec"]["minReplicas"], "a drain must be able to proceed"
    mlflow = find("Service", "mlflow")
    config = find("ConfigMap", "mlops-config")
    assert {"configMapRef": {"name": "mlops-config"}} in container["envFrom"]
    tracking = config["data"]["MLFLOW_TRACKING_URI"]
    assert tracking == f"http://{mlflow['metadata']['name']}:{mlflow['spec']['ports'][0]['port']}"
    assert config["data"]["MLOPS_ENV"] == "production"
    mlflow_artifacts = {e["name"]: e.get("value") for e in containers(find("Deployment", "mlflow"))[0]["env"]}
    assert mlflow_artifacts["MLOPS_MLFLOW_ARTIFACTS"] == config["data"]["MLOPS_STORAGE_URI"] + "/mlartifacts"


def test_no_secret_is_written_in_a_manifest() -> None:
    """Variables that name a secret, and connection URIs not written out, come from Secrets."""
    checked = 0
    for file_name, _, container in deployment_containers():
        for variable in container.get("env", []):
            secret_name = SECRET_NAMES.search(variable["name"]) is not None
            hidden_uri = variable["name"].endswith("_URI") and "value" not in variable
            if secret_name or hidden_uri:
                assert "secretKeyRef" in variable.get("valueFrom", {}), f"{file_name}: {variable['name']}"
                checked += 1
    assert checked >= 2  # the API key and MLflow's backend URI


def test_the_mlflow_backend_secret_reaches_only_the_mlflow_server() -> None:
    """Every key of a Secret in `envFrom` lands in the pod's environment, so the one holding the
    MLflow database's password is read by name, by the MLflow server alone."""
    readers = set()
    for file_name, document, container in deployment_containers():
        whole = {source["secretRef"]["name"] for source in container.get("envFrom", []) if "secretRef" in source}
        assert "mlflow-backend" not in whole, f"{file_name}: all of mlflow-backend in the environment"
        keyed = {
            v["valueFrom"]["secretKeyRef"]["name"]
            for v in container.get("env", [])
            if "secretKeyRef" in v.get("valueFrom", {})
        }
        if "mlflow-backend" in keyed:
            readers.add(document["metadata"]["name"])
    assert readers == {"mlflow"}
    assert "mlflow-backend" not in K8S_EXECUTOR_CONFIG["env_secrets"]
    launcher = helm_values()["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    assert "mlflow-backend" not in {secret["name"] for secret in launcher}
    assert (
        "mlflow-backend"
        not in yaml.safe_load((DEPLOY / "dagster.yaml").read_text())["run_launcher"]["config"]["env_secrets"]
    )


def test_the_dagster_instance_config_passes_dagsters_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_k8s import K8sRunLauncher
    from dagster_postgres import DagsterPostgresStorage

    for variable in (
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_PORT",
        "DAGSTER_PG_USER",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_DB",
        "MLOPS_IMAGE",
    ):
        monkeypatch.setenv(variable, "5432" if variable.endswith("PORT") else f"value-of-{variable}")
    instance = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    storage = process_config(DagsterPostgresStorage.config_type(), instance["storage"]["postgres"])
    assert storage.success, storage.errors
    assert instance["storage"]["postgres"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    launcher = process_config(K8sRunLauncher.config_type(), instance["run_launcher"]["config"])
    assert launcher.success, launcher.errors
    assert launcher.value["job_image"] == "value-of-MLOPS_IMAGE"
    # The same run queue as the local instance: one writer of the Feast online store at a time.
    local = yaml.safe_load(DAGSTER_INSTANCE_YAML)
    assert instance["run_coordinator"] == local["run_coordinator"]
    # And the same retry of a run whose worker died (once; a run its own code failed is not retried).
    assert (
        instance["run_retries"]
        == local["run_retries"]
        == {
            "enabled": True,
            "max_retries": 1,
            "retry_on_asset_or_op_failure": False,
        }
    )
    assert instance["run_monitoring"]["enabled"] and local["run_monitoring"]["enabled"]


def helm_values() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "dagster-values.yaml").read_text())


def test_the_helm_values_run_this_project_with_postgres_and_kubernetes_runs() -> None:
    values = helm_values()
    [code] = values["dagster-user-deployments"]["deployments"]
    workspace = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    module = workspace["load_from"][0]["python_module"]["module_name"]
    assert code["dagsterApiGrpcArgs"] == ["--module-name", module]
    assert {"name": "MLOPS_ENV", "value": "production"} in code["env"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["enabled"] and not values["generatePostgresqlPasswordSecret"]
    assert values["dagsterDaemon"]["enabled"] and values["dagsterDaemon"]["runMonitoring"]["enabled"]
    retries = values["dagsterDaemon"]["runRetries"]
    assert retries == {"enabled": True, "maxRetries": 1, "retryOnAssetOrOpFailure": False}
    limits = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    assert limits == yaml.safe_load(DAGSTER_INSTANCE_YAML)["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert values["telemetry"] == {"enabled": False}


def test_the_image_installs_the_lockfile_through_the_makefile() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    runs = [line for line in dockerfile.splitlines() if line.startswith("RUN ")]
    installs = [line for line in runs if "install" in line and "apt-get" not in line and "useradd" not in line]
    assert installs == ["RUN make install-runtime"]
    assert not re.search(r"pip install|uv (pip|add)|requirements", dockerfile)
    makefile = (REPO_ROOT / "Makefile").read_text()
    target = makefile.split("\ninstall-runtime:", 1)[1].split("\n\n", 1)[0]
    assert "sync --frozen --no-dev" in target, "the image's packages are the lockfile's, without dev tools"
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".mlops", ".tools"} <= set(ignored), "local state and environments stay out of the image"


def test_a_steps_kubernetes_job_has_our_image_resources_env_and_secrets(tmp_path: Path) -> None:
    """What dagster-k8s would send for one step in production: the executor is built from our
    config by dagster-k8s itself, and its job is built by the same function its step handler uses
    (no cluster here: the kubeconfig names an unreachable one and nothing is sent)."""
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.executor.init import InitExecutorContext
    from dagster_k8s import K8sRunLauncher, k8s_job_executor
    from dagster_k8s.job import construct_dagster_k8s_job

    from mlops_assets.definitions import MLFLOW_TURNS

    @dg.op
    def a_step() -> None: ...

    @dg.job
    def a_job() -> None:
        a_step()

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "none", "user": {}}],
                "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
                "current-context": "none",
            }
        )
    )
    config = process_config(
        k8s_job_executor.config_schema.config_type,
        {**K8S_EXECUTOR_CONFIG, "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)},
    )
    assert config.success, config.errors
    with dg.instance_for_test() as instance:
        executor = k8s_job_executor.executor_creation_fn(
            InitExecutorContext(
                job=InMemoryJob(a_job), executor_def=k8s_job_executor, executor_config=config.value, instance=instance
            )
        )
    assert executor._max_concurrent is None and executor._tag_concurrency_limits == MLFLOW_TURNS
    handler = executor._step_handler
    image = helm_values()["dagster-user-deployments"]["deployments"][0]["image"]
    launcher_config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())["run_launcher"]["config"]
    launcher = K8sRunLauncher(
        **{**launcher_config, "job_image": None, "service_account_name": "default"},
        load_incluster_config=False,
        kubeconfig_file=str(kubeconfig),
    )
    # The image: the one the code location reports, as the step handler falls back to.
    context = handler._executor_container_context
    job_config = context.get_k8s_job_config(f"{image['repository']}:{image['tag']}", launcher)
    job = construct_dagster_k8s_job(
        job_config=job_config,
        args=["dagster", "api", "execute_step"],
        job_name="dagster-step-test",
        pod_name="dagster-step-test",
        component="step_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/op": "xgboost_model"},
    )
    container = job.spec.template.spec.containers[0]
    assert container.image == "mlops-assets:latest"
    assert container.resources.requests == {"cpu": "1", "memory": "2Gi"}
    assert container.resources.limits == {"memory": "4Gi"}
    assert {"name": "MLOPS_ENV", "value": "production"} in [
        {"name": variable.name, "value": variable.value} for variable in container.env
    ]
    assert [source.config_map_ref.name for source in container.env_from if source.config_map_ref] == ["mlops-config"]
    secrets = {source.secret_ref.name for source in container.env_from if source.secret_ref}
    assert secrets == {"mlops-object-store", "mlops-secrets"}
    assert secrets == {
        secret["name"] for secret in helm_values()["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    }
