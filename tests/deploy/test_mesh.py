"""The mesh-level split in `deploy/kubernetes/mesh/`, checked here where no cluster runs: the
Istio and Argo Rollouts documents validate against their CustomResourceDefinitions' schemas
(offline, through the pinned `@kubernetes-models` packages that `make test` installs into
`tests/deploy/crd/`), the core documents against Kubernetes' own, and the pieces point at each
other and at what the service really is (its Deployment, its port, its metrics)."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest

from mlops_assets.settings import REPO_ROOT
from tests.deploy.test_manifests import KUBERNETES_VERSION, containers, documents, find

MESH = REPO_ROOT / "deploy" / "kubernetes" / "mesh"
ISTIO, ARGO = MESH / "istio.yaml", MESH / "argo-rollouts.yaml"
CRD_VALIDATOR = REPO_ROOT / "tests" / "deploy" / "crd"
CRD_KINDS = {"VirtualService", "Rollout", "AnalysisTemplate"}


def crd_errors(found: list[dict]) -> list[str | None]:
    """Each document's error against its CRD's schema, None when it is valid."""
    node = shutil.which("node")
    assert node, "node is missing: `make test` installs Debian's nodejs"
    assert (CRD_VALIDATOR / "node_modules").is_dir(), "the CRD schemas are missing: `make test` installs them"
    done = subprocess.run(
        [node, str(CRD_VALIDATOR / "validate.mjs")],
        input=json.dumps(found),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [result["error"] for result in json.loads(done.stdout)]


def of(path: Path, kind: str) -> list[dict]:
    return [d for d in documents(path) if d["kind"] == kind]


@pytest.mark.parametrize("path", [ISTIO, ARGO], ids=lambda path: path.name)
def test_every_mesh_document_validates_against_its_schema(path: Path) -> None:
    found = documents(path)
    custom = [d for d in found if d["kind"] in CRD_KINDS]
    assert custom and crd_errors(custom) == [None] * len(custom)
    for document in found:
        if document["kind"] not in CRD_KINDS:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_a_broken_custom_resource_is_caught() -> None:
    [service] = of(ISTIO, "VirtualService")
    weight = copy.deepcopy(service)
    weight["spec"]["http"][-1]["route"][0]["weight"] = "80"  # a string, not a weight
    [rollout] = of(ARGO, "Rollout")
    step = copy.deepcopy(rollout)
    step["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = "20"
    [template] = of(ARGO, "AnalysisTemplate")
    nameless = copy.deepcopy(template)
    del nameless["spec"]["metrics"][0]["name"]  # required
    errors = crd_errors([weight, step, nameless])
    assert "weight must be integer" in errors[0], errors
    assert "setWeight must be integer" in errors[1], errors
    assert "metrics/0 must have required property name" in errors[2], errors


def test_the_challenger_deployment_is_the_serving_one_answering_with_the_challenger() -> None:
    [deployment] = of(ISTIO, "Deployment")
    [container] = containers(deployment)
    [serving] = containers(find("Deployment", "fraud-detector"))
    pinned = [v for v in container["env"] if v["name"] == "MLOPS_SERVING_MODEL"]
    assert pinned == [{"name": "MLOPS_SERVING_MODEL", "value": "challenger"}]
    assert {**container, "env": [v for v in container["env"] if v not in pinned]} == serving
    [service] = of(ISTIO, "Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    # Its pods are not the champion's Service's: the mesh alone decides who answers.
    assert not find("Service", "fraud-detector")["spec"]["selector"].items() <= labels.items()


def test_the_virtual_service_splits_by_weight_and_pins_by_header() -> None:
    [service] = of(ISTIO, "VirtualService")
    hosts = {"fraud-detector", of(ISTIO, "Service")[0]["metadata"]["name"]}
    assert service["spec"]["hosts"] == ["fraud-detector"]
    routes = {route["name"]: route for route in service["spec"]["http"]}
    assert "match" not in routes["split"] and service["spec"]["http"][-1] is routes["split"]  # the default, last
    split = routes["split"]["route"]
    assert {r["destination"]["host"] for r in split} == hosts and sum(r["weight"] for r in split) == 100
    pins = {
        route["match"][0]["headers"]["x-model-track"]["exact"]: route["route"][0]["destination"]["host"]
        for name, route in routes.items()
        if name != "split"
    }
    assert pins == {"champion": "fraud-detector", "challenger": "fraud-detector-challenger"}
    assert all(r["destination"]["port"]["number"] == 3001 for route in routes.values() for r in route["route"])


def test_the_rollout_takes_over_the_serving_deployment_and_its_analysis_reads_the_services_metrics() -> None:
    [rollout] = of(ARGO, "Rollout")
    deployment = find("Deployment", "fraud-detector")
    spec, canary = rollout["spec"], rollout["spec"]["strategy"]["canary"]
    assert spec["workloadRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fraud-detector"} | {
        "scaleDown": "progressively"
    }
    assert spec["selector"] == deployment["spec"]["selector"]
    services = {s["metadata"]["name"]: s for s in of(ARGO, "Service")}
    assert {canary["stableService"], canary["canaryService"]} == set(services)
    [virtual] = of(ARGO, "VirtualService")
    routing = canary["trafficRouting"]["istio"]["virtualService"]
    assert routing["name"] == virtual["metadata"]["name"]
    assert set(routing["routes"]) == {route["name"] for route in virtual["spec"]["http"]}
    assert {r["destination"]["host"] for r in virtual["spec"]["http"][0]["route"]} == set(services)
    weights = [step["setWeight"] for step in canary["steps"] if "setWeight" in step]
    assert weights == sorted(weights) and weights[0] > 0 and weights[-1] < 100

    [template] = of(ARGO, "AnalysisTemplate")
    assert canary["analysis"]["templates"] == [{"templateName": template["metadata"]["name"]}]
    given = {arg["name"] for arg in canary["analysis"]["args"]}
    needed = {arg["name"] for arg in template["spec"]["args"] if "value" not in arg}
    assert given == needed
    queries = [metric["provider"]["prometheus"]["query"] for metric in template["spec"]["metrics"]]
    for query in queries:
        used = set(re.findall(r"\{\{args\.([\w-]+)\}\}", query))
        assert used <= {arg["name"] for arg in template["spec"]["args"]}, used
    # The series the queries read are those the service exposes: BentoML's own request metrics,
    # and the service's counter of predictions (`fraud_detector_predictions`, `_total` in Prometheus).
    series = {name for query in queries for name in re.findall(r"([a-z_]+)\{", query)}
    assert series == {
        "bentoml_service_request_total",
        "bentoml_service_request_duration_seconds_bucket",
        "fraud_detector_predictions_total",
    }
    assert 'name="fraud_detector_predictions"' in (REPO_ROOT / "serving" / "service.py").read_text()


def test_the_two_files_are_alternatives_that_route_the_same_host() -> None:
    """Both route `fraud-detector`; applying both would make two VirtualServices fight over it,
    which each file's header says."""
    for path in (ISTIO, ARGO):
        [virtual] = of(path, "VirtualService")
        assert virtual["spec"]["hosts"] == ["fraud-detector"]
        assert "not both" in path.read_text().split("\napiVersion")[0]
