"""The BentoML service through a real `bentoml serve` process on a loopback port: a trained
champion in a real MLflow registry, online features in the real Feast store, a real HTTP client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import httpx
import numpy as np
import pandas as pd
import pytest

from mlops_assets.definitions import build_definitions
from mlops_assets.features.assets import point_in_time_inputs
from mlops_assets.features.jobs import build_features
from mlops_assets.ingestion.runner import ingest_pending
from mlops_assets.lib import generator
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.registry import MODEL_NAME, Registry
from mlops_assets.resources import build_local_resources
from mlops_assets.settings import REPO_ROOT, Settings
from mlops_assets.training.jobs import retrain
from tests.conftest import use_home
from tests.ingestion.test_daemon import free_port

pytestmark = pytest.mark.slow
DAYS = 10
CONFIG = {
    "training_set": {"config": {"days": DAYS, "holdout_days": 4}},
    "bayesian_network": {"config": {"structure_rows": 8000}},
}
BENTOML = str(Path(sys.executable).with_name("bentoml"))
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


def start_service(settings: Settings, port: int, log) -> subprocess.Popen:
    """`bentoml serve` of the service on 127.0.0.1:`port`, SIGINT reset so that SIGTERM stops it."""
    return subprocess.Popen(
        [BENTOML, "serve", "serving.service:FraudDetector", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT,
        env={**os.environ, **settings.export(), "MLOPS_SERVING_POLL": "0.5"},
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


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
        generator.generate(date(2025, 3, 1), DAYS, 1500, settings.landing_dir, seed=8)
        defs = build_definitions(build_local_resources(settings))
        with dg.DagsterInstance.get() as instance:
            assert not ingest_pending(defs, instance).failed_days
            assert not build_features(defs, instance, Lake(str(settings.lake_dir)).partitions("validated_transactions"))
            assert retrain(defs, instance, None, CONFIG).success
        port = free_port()
        with open(home / "bentoml.log", "w") as log:
            process = start_service(settings, port, log)
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
    assert info["metrics"]["pr_auc"] == pytest.approx(float(champion.tags["pr_auc"]))
    assert info["training_window"] == champion.tags["training_window"]
