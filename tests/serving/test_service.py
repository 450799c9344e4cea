"""The BentoML service through a real server (`mlops serve`, which runs `bentoml serve`) on a
loopback port: a trained champion in a real MLflow registry, online features in the real Feast
store, a real HTTP client."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import dagster as dg
import httpx
import numpy as np
import pandas as pd
import pytest

from mlops_assets.defs.features.assets import point_in_time_inputs
from mlops_assets.defs.ingestion.jobs import ingest_job
from mlops_assets.lib.data.labels import LabelFolder
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.modelling.registry import MODEL_NAME
from tests.serving.conftest import Served, new_transactions, wait_for_model

pytestmark = pytest.mark.slow


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
        # Found by the fuzzing test: both were a 500 (beyond what pandas and int64 hold).
        (lambda t: {"transactions": [{**t, "event_timestamp": "9999-12-31T00:00:00Z"}]}, "event_timestamp"),
        (lambda t: {"transactions": [{**t, "customer_id": 10**19}]}, "customer_id"),
        (lambda t: {"transactions": []}, "transactions"),
        (lambda t: {"transactions": [t] * 10_001}, "transactions"),
        (lambda t: {"transaction": [t]}, "transactions"),
        # Found by the fuzzing test: an error without a place (`"loc": []`).
        (lambda t: [t], "body"),
    ],
    ids=[
        "missing",
        "wrong-type",
        "negative-amount",
        "bad-timestamp",
        "year-9999",
        "id-over-18-digits",
        "empty",
        "oversized",
        "misnamed",
        "not-an-object",
    ],
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
    [error] = answer.json()["detail"]
    assert answer.status_code == 400 and error["type"] == "json_invalid" and error["loc"] == ["body"], answer.text


def test_unknown_categories_and_customers_are_scored_with_defaults(served: Served) -> None:
    transaction = one(served, channel="carrier pigeon", merchant_category="moon rocks", country="XX")
    stranger = one(served, transaction_id="stranger", customer_id=987_654_321, merchant_id=123_456_789)
    answer = served.client.post("/predict", json={"transactions": [transaction, stranger]})
    assert answer.status_code == 200, answer.text
    scores = [p["fraud_probability"] for p in answer.json()["predictions"]]
    assert all(0.0 <= s <= 1.0 for s in scores)


def wait_for_version(served: Served, version: str) -> None:
    wait_for_model(served, lambda model: model["version"] == version, f"the service moves to version {version}")


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
        # Every stream, whichever worker its connection landed on, answered by the new version.
        while time.monotonic() < deadline and not all(sum(v == new for _, v in seen) >= 10 for seen in streams):
            time.sleep(0.2)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
        registry.promote(old)
        wait_for_version(served, old)
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
    docs = served.client.get("/docs")
    assert docs.headers["content-type"].startswith("text/html")
    # Swagger UI from the service itself, on BentoML's document of every route: nothing from the internet.
    assert "/static_content/swagger-ui-bundle.js" in docs.text and "/docs.json" in docs.text
    assert "https://" not in docs.text


def test_explain_gives_the_networks_evidence_strongest_first(served: Served) -> None:
    # The most suspicious of 200 transactions: evidence for fraud against the low prior.
    transactions = new_transactions(served, 200)
    scored = served.client.post("/predict", json={"transactions": transactions}).json()["predictions"]
    transaction = transactions[int(np.argmax([p["fraud_probability"] for p in scored]))]
    answer = served.client.post("/explain", json={"transaction": transaction})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    champion = served.registry.alias("champion")
    network = {v.version: v for v in served.registry.versions()}[body["network_version"]]
    assert body["model_version"] == champion.version and network.tags["kind"] == "bayesian_network"
    assert network.tags["dagster_run_id"] == champion.tags["dagster_run_id"]  # trained with the champion
    predicted = served.client.post("/predict", json={"transactions": [transaction]}).json()["predictions"][0]
    assert body["fraud_probability"] == pytest.approx(predicted["fraud_probability"], abs=1e-9)
    factors = body["factors"]
    strengths = [abs(f["log_odds"]) for f in factors]
    assert len(factors) >= 2 and strengths == sorted(strengths, reverse=True)
    assert {f["direction"] for f in factors} == {"for fraud", "against fraud"}
    assert all((f["log_odds"] > 0) == (f["direction"] == "for fraud") for f in factors)
    # The factors add up to the network's own log-odds of fraud.
    p = body["network_probability"]
    assert sum(f["log_odds"] for f in factors) == pytest.approx(math.log(p / (1 - p)), abs=1e-6)


def test_explain_names_a_bad_field(served: Served) -> None:
    transaction = {k: v for k, v in new_transactions(served, 1)[0].items() if k != "amount"}
    answer = served.client.post("/explain", json={"transaction": transaction})
    assert answer.status_code == 400 and answer.json()["detail"][0]["loc"][-1] == "amount", answer.text


def test_feedback_labels_reach_the_validated_table(served: Served) -> None:
    """Labels posted for a day in the lake are written as a label file; validating the day again
    (what `label_sensor` asks for) puts them into `validated_transactions`."""
    day = "2025-03-05"
    lake = Lake(str(served.settings.lake_dir))
    before = lake.read("validated_transactions", day)[["transaction_id", "is_fraud"]].head(3)
    flipped = [{"transaction_id": t, "is_fraud": 1 - int(f)} for t, f in before.itertuples(index=False)]
    answer = served.client.post("/feedback", json={"labels": flipped})
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 3
    written = Path(LabelFolder.of_landing(served.settings.landing_dir).folder.path) / answer.json()["file"]
    assert pd.read_parquet(written)[["transaction_id", "is_fraud"]].to_dict("records") == flipped

    with dg.DagsterInstance.get() as instance:
        job = served.defs.get_job_def(ingest_job.name)
        result = job.execute_in_process(instance=instance, partition_key=day)
    assert result.success
    after = lake.read("validated_transactions", day).set_index("transaction_id")["is_fraud"]
    assert [int(after[label["transaction_id"]]) for label in flipped] == [label["is_fraud"] for label in flipped]
    materialized = {
        event.materialization.asset_key.to_user_string(): event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    assert materialized["validated_transactions"]["late_labels_applied"].value == 3


@pytest.mark.parametrize(
    ("labels", "field"),
    [([{"transaction_id": "t1", "is_fraud": 2}], "is_fraud"), ([{"is_fraud": 1}], "transaction_id"), ([], "labels")],
    ids=["not-a-label", "missing-id", "empty"],
)
def test_bad_feedback_gets_a_400_that_names_the_field(served: Served, labels, field: str) -> None:
    answer = served.client.post("/feedback", json={"labels": labels})
    assert answer.status_code == 400, answer.text
    assert field in {str(part) for error in answer.json()["detail"] for part in error["loc"]}, answer.text


def test_every_response_says_which_version_answered(served: Served) -> None:
    version = served.registry.alias("champion").version
    transaction = new_transactions(served, 1)[0]
    answers = [
        served.client.post("/predict", json={"transactions": [transaction]}),
        served.client.post("/predict", json={"transactions": []}),
        served.client.post("/explain", json={"transaction": transaction}),
        served.client.post("/feedback", json={"labels": [{"transaction_id": "unseen-1", "is_fraud": 0}]}),
        served.client.get("/model"),
        served.client.get("/readyz"),
    ]
    assert [a.headers.get("x-model-version") for a in answers] == [version] * len(answers)


def test_metrics_count_predictions_by_class_and_give_the_version(served: Served) -> None:
    version = served.registry.alias("champion").version

    def counts() -> dict[str, float]:
        found = {"0": 0.0, "1": 0.0}
        for line in served.client.get("/metrics").text.splitlines():
            if line.startswith("fraud_detector_predictions_total{") and f'model_version="{version}"' in line:
                found[line.split('is_fraud="')[1][0]] = float(line.rsplit(" ", 1)[1])
        return found

    before = counts()
    answer = served.client.post("/predict", json={"transactions": new_transactions(served, 300)}).json()
    flagged = sum(p["is_fraud"] for p in answer["predictions"])
    after = counts()
    assert (after["1"] - before["1"], after["0"] - before["0"]) == (flagged, 300 - flagged), [
        line for line in served.client.get("/metrics").text.splitlines() if line.startswith("fraud_detector")
    ]
    metrics = served.client.get("/metrics").text.splitlines()
    gauge = [line for line in metrics if line.startswith("fraud_detector_model_version ")]
    assert gauge and float(gauge[0].split()[1]) == float(version)
