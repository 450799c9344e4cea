"""The observability manifests of `deploy/kubernetes/monitoring/`, checked where no cluster runs:
the ServiceMonitors and the PrometheusRule validate against the Prometheus Operator's CRD schemas
(offline, as the mesh's do), the exporter's Deployment and Service against Kubernetes' own, the
PrometheusRule holds exactly the rules Prometheus loads locally, and the scrape jobs are named as
the rules name them."""

from __future__ import annotations

import copy

import kubernetes_validate
import yaml

from mlops_assets.ops.prometheus import EXPORTER_JOB, SERVICE_JOB, rule_files
from mlops_assets.settings import REPO_ROOT
from tests.deploy.test_manifests import KUBERNETES_VERSION, containers, documents, find
from tests.deploy.test_mesh import crd_errors

MONITORING = REPO_ROOT / "deploy" / "kubernetes" / "monitoring"
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}


def monitoring_documents() -> list[dict]:
    return [document for path in sorted(MONITORING.glob("*.yaml")) for document in documents(path)]


def of(kind: str) -> list[dict]:
    return [document for document in monitoring_documents() if document["kind"] == kind]


def test_every_monitoring_document_validates_against_its_schema() -> None:
    found = monitoring_documents()
    custom = [document for document in found if document["kind"] in CRD_KINDS]
    assert {document["kind"] for document in custom} == CRD_KINDS
    assert crd_errors(custom) == [None] * len(custom)
    for document in found:
        if document["kind"] not in CRD_KINDS:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_a_broken_rule_or_monitor_is_caught() -> None:
    [rule] = of("PrometheusRule")
    nameless = copy.deepcopy(rule)
    del nameless["spec"]["groups"][0]["name"]  # required
    monitor = copy.deepcopy(of("ServiceMonitor")[0])
    monitor["spec"]["endpoints"] = "http"  # a list, not a string
    errors = crd_errors([nameless, monitor])
    assert "must have required property name" in errors[0], errors
    assert "endpoints must be array" in errors[1], errors


def test_the_prometheus_rule_holds_the_rules_prometheus_loads_locally() -> None:
    [rule] = of("PrometheusRule")
    local = [group for path in rule_files() for group in yaml.safe_load(path.read_text())["groups"]]
    assert rule["spec"]["groups"] == local


def test_each_monitor_scrapes_the_service_its_job_is_named_for() -> None:
    """The Operator names a scrape job after the Service, and the rules select on `job`."""
    services = {SERVICE_JOB: find("Service", SERVICE_JOB), EXPORTER_JOB: of("Service")[0]}
    assert services[EXPORTER_JOB]["metadata"]["name"] == EXPORTER_JOB
    for monitor in of("ServiceMonitor"):
        [service] = [s for s in services.values() if s["metadata"]["name"] == monitor["metadata"]["name"]]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        ports = {port["name"] for port in service["spec"]["ports"]}
        assert {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]} <= ports


def test_the_exporter_runs_the_projects_image_with_the_instance_and_the_stores() -> None:
    [deployment] = of("Deployment")
    [container] = containers(deployment)
    assert container["image"] == "mlops-assets:latest"
    assert container["command"][:2] == ["mlops", "exporter"] and "0.0.0.0" in container["command"]
    sources = {next(iter(source.values()))["name"] for source in container["envFrom"]}
    assert sources == {"mlops-config", "mlops-object-store"}
    [password] = [variable for variable in container["env"] if variable["name"] == "DAGSTER_PG_PASSWORD"]
    assert password["valueFrom"]["secretKeyRef"]["name"] == "dagster-postgresql-secret"
    volumes = {volume["name"]: volume for volume in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["dagster-instance"]["configMap"]["name"] == "dagster-instance"
