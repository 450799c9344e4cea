"""The whole graph on data shaped unlike the simulator's: other column names brought in by the
importer, ids from 0, zero amounts, other dates, none of the optional columns, and fraud that
comes from other mechanisms (large tickets, compromised terminals). Features, training,
evaluation, drift and the real service over HTTP must all work with the columns there are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import numpy as np
import pandas as pd
import pytest

from mlops_assets.definitions import build_definitions
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.importer import import_tables
from mlops_assets.lib.modelling.registry import MODEL_NAME, Registry
from mlops_assets.ops.features import build_features
from mlops_assets.ops.ingest import ingest_pending
from mlops_assets.ops.retrain import retrain
from mlops_assets.resources import build_resources
from mlops_assets.settings import Settings
from tests.conftest import use_home
from tests.serving.conftest import serving

pytestmark = pytest.mark.slow

FIRST_DAY, DAYS = pd.Timestamp("2021-06-07"), 14
MAPPING = {
    "transaction_id": "TXN",
    "event_timestamp": "WHEN",
    "customer_id": "CARD_NO",
    "merchant_id": "POS_ID",
    "amount": "VALUE",
    "is_fraud": "LABEL",
}
CONFIG = {
    "training_set": {"config": {"days": DAYS, "holdout_days": 4, "gap_days": 1}},
    "bayesian_network": {"config": {"structure_rows": 8000}},
}


def foreign_world(seed: int = 4) -> pd.DataFrame:
    """Transactions of 400 cards at 150 terminals, in this test's own column names. Fraud: a ticket
    above 250 nearly always, and nearly every transaction at a terminal in the ten days after it is
    compromised (one terminal a day). Some amounts are 0 (card checks)."""
    rng = np.random.default_rng(seed)
    rows = DAYS * 1800
    when = FIRST_DAY + pd.to_timedelta(np.sort(rng.uniform(0, DAYS * 86400, rows)), unit="s")
    card = rng.integers(0, 400, rows)
    terminal = (card * 7 + rng.integers(0, 5, rows)) % 150  # each card keeps to a few terminals
    value = np.round(rng.lognormal(3.5, 0.8, rows), 2)
    value[rng.random(rows) < 0.005] = 0.0
    day = (when - FIRST_DAY).days.to_numpy()
    compromised = {(int(t), d + k) for d in range(DAYS) for t in rng.choice(150, 1) for k in range(10)}
    at_bad_terminal = np.array([(int(t), int(d)) in compromised for t, d in zip(terminal, day, strict=True)])
    fraud = ((value > 250) | at_bad_terminal) & (rng.random(rows) < 0.9)
    return pd.DataFrame(
        {
            "TXN": np.arange(rows),
            "WHEN": when.strftime("%Y-%m-%d %H:%M:%S"),  # naive, as exported
            "CARD_NO": card,
            "POS_ID": terminal,
            "VALUE": value,
            "LABEL": fraud.astype(int),
        }
    )


@dataclass
class Built:
    settings: Settings
    defs: dg.Definitions
    trained: dg.ExecuteInProcessResult

    @property
    def lake(self) -> Lake:
        return Lake(str(self.settings.lake_dir))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    """The world imported, ingested and featurized through Dagster, and the first champion."""
    home = tmp_path_factory.mktemp("foreign")
    source = home / "export.csv"
    foreign_world().to_csv(source, index=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(home)
        settings = use_home(patch, home)
        result = import_tables([source], MAPPING, settings.landing_dir)
        assert result.rows_landed == result.rows_read and not result.refusals
        with dg.DagsterInstance.get() as instance:
            defs = build_definitions(build_resources(settings))
            assert not ingest_pending(defs, instance).failed_days
            days = Lake(str(settings.lake_dir)).partitions("validated_transactions")
            assert len(days) == DAYS and days[0] == "2021-06-07"
            assert not build_features(defs, instance, days)
            trained = retrain(defs, instance, None, CONFIG)
            assert trained.success, trained.all_events
            yield Built(settings, defs, trained)


def test_models_train_without_the_optional_columns_and_pass_the_gates(built: Built) -> None:
    [materialization] = built.trained.asset_materializations_for_node("training_set")
    left_out = materialization.metadata["inputs_left_out"].value
    assert {"is_online", "is_card_present", "is_category_unknown", "distinct_countries_7d"} <= set(left_out)
    registry = Registry(built.settings.mlflow_tracking_uri, MODEL_NAME)
    champion = registry.alias("champion")
    model = registry.load(champion.version)
    assert not set(left_out) & set(model.inputs) and "amount_usd" in model.inputs
    evaluation = built.lake.read_record("model_evaluation")
    assert evaluation["best_passing"] is not None
    for candidate in evaluation["candidates"].values():
        assert candidate["metrics"]["roc_auc"] > 0.8, candidate  # the network included: its own variables
    network = registry.load(evaluation["candidates"]["bayesian_network"]["version"])
    assert "amount_usd" in network.discretizer.names and "merchant_category" not in network.discretizer.names


def test_a_drift_report_of_a_day_without_the_optional_columns(built: Built) -> None:
    day = (FIRST_DAY + pd.Timedelta(days=DAYS - 1)).strftime("%Y-%m-%d")
    result = built.defs.resolve_job_def("monitoring_job").execute_in_process(
        partition_key=day, instance=dg.DagsterInstance.get(), raise_on_error=False
    )
    assert result.success
    report = built.lake.read_record(f"drift_report/{day}")
    assert report["verdict"] in ("none", "warn", "drift") and report["rows"] > 1000


def test_the_service_scores_transactions_without_the_optional_columns(built: Built, tmp_path: Path) -> None:
    day = FIRST_DAY + pd.Timedelta(days=DAYS)
    transactions = [
        {"transaction_id": f"new-{i}", "event_timestamp": (day + pd.Timedelta(minutes=i)).isoformat(),
         "customer_id": i % 3, "merchant_id": 0, "amount": amount}
        for i, amount in enumerate([0.0, 35.0, 900.0])
    ]  # fmt: skip
    with serving(tmp_path / "serve.log", {}) as (_, client):
        answer = client.post("/predict", json={"transactions": transactions})
        assert answer.status_code == 200, answer.text
        scores = [p["fraud_probability"] for p in answer.json()["predictions"]]
        assert scores[2] > scores[1]  # the large ticket is this world's fraud
        explained = client.post("/explain", json={"transaction": transactions[2]})
        assert explained.status_code == 200, explained.text
        assert any(factor["evidence"].startswith("amount_usd=") for factor in explained.json()["factors"])
        assert (
            httpx.get(f"{client.base_url}/model").json()["version"]
            == Registry(built.settings.mlflow_tracking_uri, MODEL_NAME).alias("champion").version
        )
