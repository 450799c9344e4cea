"""The BentoML service through a real server (`mlops serve`, which runs `bentoml serve`) on a
loopback port: a trained champion in a real MLflow registry, online features in the real Feast
store, a real HTTP client."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import date

import dagster as dg
import httpx
import numpy as np
import pandas as pd
import pytest

from mlops_assets.cli import start_server
from mlops_assets.features.assets import point_in_time_inputs
from mlops_assets.lib import generator
from mlops_assets.lib.registry import MODEL_NAME, Registry
from mlops_assets.settings import Settings
from tests.conftest import use_home
from tests.history import first_champion
from tests.ingestion.test_daemon import MLOPS, free_port

pytestmark = pytest.mark.slow
START_SECONDS = 120


@dataclass
class Served:
    settings: Settings
    defs: dg.Definitions
    url: str
    client: httpx.Client

    @property
    def registry(self) -> Registry:
        return Registry(self.settings.mlflow_tracking_uri, MODEL_NAME)


def wait_ready(client: httpx.Client, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"bentoml serve exited with {process.returncode}"
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the service was not ready within {seconds} s")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """Ten baseline days with features, one `retrain_job` (a champion), then the service."""
    home = tmp_path_factory.mktemp("serving")
    with pytest.MonkeyPatch.context() as patch:
        settings = use_home(patch, home)
        patch.setenv("MLOPS_SERVING_POLL", "0.5")
        with dg.DagsterInstance.get() as instance:
            defs, first = first_champion(settings, instance)
            assert first.success
        port = free_port()
        with open(home / "bentoml.log", "w") as log:
            process = start_server([MLOPS, "serve", "--port", str(port)], log)
            try:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                    wait_ready(client, process, START_SECONDS)
                    yield Served(settings, defs, f"http://127.0.0.1:{port}", client)
            finally:
                process.terminate()
                process.wait(timeout=60)


def new_transactions(served: Served, count: int) -> list[dict]:
    """Transactions of the day after the history (in no feature yet), as a client sends them."""
    folder = served.settings.home / "outside"
    [path] = generator.generate(date(2025, 3, 11), 1, 1500, folder, seed=8).files
    rows = pd.read_parquet(path).drop(columns=["is_fraud"]).head(count)
    rows["event_timestamp"] = rows["event_timestamp"].map(lambda t: t.isoformat())
    return rows.to_dict(orient="records")


def test_predict_scores_like_the_training_path_in_request_order(served: Served) -> None:
    transactions = new_transactions(served, 200)
    answer = served.client.post("/predict", json={"transactions": transactions})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    champion = served.registry.alias("champion")
    assert body["model_version"] == champion.version
    assert [p["transaction_id"] for p in body["predictions"]] == [t["transaction_id"] for t in transactions]
    # The training path: Feast's point-in-time join and the same model, in this process.
    frame = pd.DataFrame(transactions)
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    context = dg.build_asset_context(resources={"feast": served.defs.resources["feast"]})
    inputs = point_in_time_inputs(context, served.defs.resources["feast"], frame)
    expected = served.registry.load(champion.version).predict_proba(inputs)
    served_scores = np.array([p["fraud_probability"] for p in body["predictions"]])
    np.testing.assert_allclose(served_scores, expected, atol=1e-6)
    threshold = float(champion.tags["threshold"])
    assert [p["is_fraud"] for p in body["predictions"]] == [bool(s >= threshold) for s in expected]


def test_model_says_which_champion_answers(served: Served) -> None:
    champion = served.registry.alias("champion")
    info = served.client.get("/model").json()
    assert info["name"] == MODEL_NAME and info["version"] == champion.version
    assert info["threshold"] == pytest.approx(float(champion.tags["threshold"]))
    assert {"pr_auc", "recall_at_fpr", "calibration_error", "expected_cost_per_1000"} <= set(info["metrics"])
    assert info["metrics"]["pr_auc"] == pytest.approx(float(champion.tags["pr_auc"]))
    assert info["training_window"] == champion.tags["training_window"]


def one(served: Served, **changes) -> dict:
    transaction = new_transactions(served, 1)[0]
    return {**transaction, **changes}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (lambda t: {"transactions": [{k: v for k, v in t.items() if k != "customer_id"}]}, "customer_id"),
        (lambda t: {"transactions": [{**t, "amount": "twelve"}]}, "amount"),
        (lambda t: {"transactions": [{**t, "amount": -5}]}, "amount"),
        (lambda t: {"transactions": [{**t, "event_timestamp": "yesterday"}]}, "event_timestamp"),
        (lambda t: {"transactions": []}, "transactions"),
        (lambda t: {"transactions": [t] * 10_001}, "transactions"),
        (lambda t: {"transaction": [t]}, "transactions"),
    ],
    ids=["missing", "wrong-type", "negative-amount", "bad-timestamp", "empty", "oversized", "misnamed"],
)
def test_bad_input_gets_a_400_that_names_the_field(served: Served, body, field: str) -> None:
    answer = served.client.post("/predict", json=body(new_transactions(served, 1)[0]))
    assert answer.status_code == 400, answer.text
    assert field in {str(part) for error in answer.json()["detail"] for part in error["loc"]}, answer.text


@pytest.mark.parametrize("amount", [b"NaN", b"Infinity", b"1e999"])
def test_non_finite_amounts_are_refused(served: Served, amount: bytes) -> None:
    transaction = new_transactions(served, 1)[0]
    text = httpx.Request("POST", "/", json={"transactions": [{**transaction, "amount": 1.5}]}).content
    answer = served.client.post(
        "/predict", content=text.replace(b"1.5", amount), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400 and answer.json()["detail"][0]["loc"][-1] == "amount", answer.text


def test_malformed_json_is_a_400(served: Served) -> None:
    answer = served.client.post("/predict", content=b'{"transactions": [', headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["detail"][0]["type"] == "json_invalid"


def test_unknown_categories_and_customers_are_scored_with_defaults(served: Served) -> None:
    transaction = one(served, channel="carrier pigeon", merchant_category="moon rocks", country="XX")
    stranger = one(served, transaction_id="stranger", customer_id=987_654_321, merchant_id=123_456_789)
    answer = served.client.post("/predict", json={"transactions": [transaction, stranger]})
    assert answer.status_code == 200, answer.text
    scores = [p["fraud_probability"] for p in answer.json()["predictions"]]
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_a_new_champion_is_picked_up_without_a_failed_request(served: Served) -> None:
    registry = served.registry
    old = registry.alias("champion").version
    new = next(v.version for v in registry.versions() if v.version != old)
    transactions = new_transactions(served, 20)
    streams: list[list[tuple[int, str]]] = [[] for _ in range(4)]
    stop = threading.Event()

    def stream(seen: list[tuple[int, str]]) -> None:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            for _ in range(2000):  # bounded; stopped once the new version has answered a while
                if stop.is_set():
                    return
                answer = client.post("/predict", json={"transactions": transactions})
                seen.append((answer.status_code, answer.json().get("model_version", answer.text)))

    workers = [threading.Thread(target=stream, args=(seen,)) for seen in streams]
    for worker in workers:
        worker.start()
    try:
        time.sleep(2)
        registry.promote(new)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(v == new for seen in streams for _, v in seen) < 40:
            time.sleep(0.2)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
        registry.promote(old)
    answers = [answer for seen in streams for answer in seen]
    assert {status for status, _ in answers} == {200}, [a for a in answers if a[0] != 200][:5]
    for seen in streams:
        versions = [version for _, version in seen]
        assert versions[0] == old and versions[-1] == new, versions
        # In one client's stream, once the new version answered the old one never did again.
        assert old not in versions[versions.index(new) :]


def test_health_metrics_and_docs_answer(served: Served) -> None:
    assert [served.client.get(f"/{route}").status_code for route in ("healthz", "livez", "readyz")] == [200] * 3
    assert "bentoml_service_request_total" in served.client.get("/metrics").text
    assert {"/predict", "/model"} <= set(served.client.get("/docs.json").json()["paths"])
    assert served.client.get("/docs").headers["content-type"].startswith("text/html")
