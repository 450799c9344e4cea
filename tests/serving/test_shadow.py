"""Shadow scoring through the real server: with a `challenger` beside the champion, requests are
also scored by it off the response path, both scores reach the pipeline's `shadow_scores` table
(with the labels validation knows), and the evaluation and drift report compare the two models on
that live traffic."""

from __future__ import annotations

import time

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from mlops_assets.defs.evaluation.assets import model_evaluation
from mlops_assets.defs.features.assets import point_in_time_inputs
from mlops_assets.defs.monitoring import sensors
from mlops_assets.defs.monitoring.sensors import shadow_sensor
from mlops_assets.keys import SHADOW_SCORES
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.modelling.registry import CHALLENGER, VersionInfo
from mlops_assets.lib.quality.shadow import ShadowLog
from mlops_assets.ops.retrain import retrain
from serving.schemas import Transaction
from tests.serving.conftest import Served, new_transactions, wait_for_model

pytestmark = pytest.mark.slow

LANDED_DAY = "2025-03-08"  # a day in the lake, with labels (the feedback test relabels another)
NEW_DAY = "2025-03-11"  # the day of `new_transactions`


def landed_transactions(served: Served, day: str) -> list[dict]:
    """A validated day's transactions as a client would send them (no label)."""
    frame = Lake(str(served.settings.lake_dir)).read("validated_transactions", day)
    columns = [name for name in Transaction.model_fields if name in frame]
    rows = frame[columns].astype(object).where(frame[columns].notna(), None)
    rows["event_timestamp"] = frame["event_timestamp"].map(lambda t: t.isoformat())
    return rows.to_dict(orient="records")


def predict(served: Served, transactions: list[dict]) -> dict[str, tuple[str, float, bool]]:
    """Transaction id -> (answering version, P(fraud), is_fraud), posted 500 at a time."""
    answered = {}
    for start in range(0, len(transactions), 500):
        answer = served.client.post("/predict", json={"transactions": transactions[start : start + 500]})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        for p in body["predictions"]:
            answered[p["transaction_id"]] = (body["model_version"], p["fraud_probability"], p["is_fraud"])
    return answered


def shadowed(
    log: ShadowLog, days: list[str], ids: set[str], pair: tuple[str, str], seconds: float = 30
) -> pd.DataFrame:
    """The shadow rows of `ids` by a (champion, challenger) `pair`, once every worker wrote them.
    (Earlier tests may have shadowed the same transactions with other pairs.)"""
    deadline = time.monotonic() + seconds
    while True:
        rows = pd.concat([log.read(day) for day in days], ignore_index=True)
        rows = rows[rows["transaction_id"].isin(ids) & (rows["champion_version"] == pair[0])]
        rows = rows[rows["challenger_version"] == pair[1]]
        if set(rows["transaction_id"]) == ids:
            return rows.set_index("transaction_id")
        assert time.monotonic() < deadline, f"{len(ids) - rows['transaction_id'].nunique()} rows not shadowed"
        time.sleep(0.5)


def restore_challenger(served: Served, before: VersionInfo | None) -> None:
    if before is not None:
        served.registry.set_challenger(before.version)
    else:
        served.registry.client.delete_registered_model_alias(served.registry.model_name, CHALLENGER)


def test_a_challenger_scores_live_traffic_in_the_shadow(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = served.registry
    champion, before = registry.alias("champion"), registry.alias(CHALLENGER)
    challenger = next(v for v in reversed(registry.versions()) if v.version != champion.version)
    registry.set_challenger(challenger.version)
    try:
        wait_for_model(
            served,
            lambda model: (model.get("shadow") or {}).get("version") == challenger.version,
            f"the service shadows with version {challenger.version}",
        )
        info = served.client.get("/model").json()["shadow"]
        assert info["share"] == 1.0 and info["threshold"] == pytest.approx(float(challenger.tags["threshold"]))

        fresh, landed = new_transactions(served, 200), landed_transactions(served, LANDED_DAY)
        answered = predict(served, fresh + landed)
        log = ShadowLog.of_landing(served.settings.landing_dir)
        assert {version for version, _, _ in answered.values()} == {champion.version}
        rows = shadowed(log, [NEW_DAY, LANDED_DAY], set(answered), (champion.version, challenger.version))

        # The champion's side is exactly what the client was answered.
        ids = list(answered)
        assert rows.loc[ids, "champion_version"].tolist() == [answered[t][0] for t in ids]
        np.testing.assert_array_equal(rows.loc[ids, "champion_probability"], [answered[t][1] for t in ids])
        assert rows.loc[ids, "champion_is_fraud"].tolist() == [answered[t][2] for t in ids]
        # The challenger's side is the challenger on the training path's inputs (new-day rows, whose
        # point-in-time features are the latest, as online).
        frame = pd.DataFrame(fresh)
        frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
        context = dg.build_asset_context(resources={"feast": served.defs.resources["feast"]})
        inputs = point_in_time_inputs(context, served.defs.resources["feast"], frame)
        expected = registry.load(challenger.version).predict_proba(inputs)
        new_ids = frame["transaction_id"].tolist()
        np.testing.assert_allclose(rows.loc[new_ids, "challenger_probability"], expected, atol=1e-6)
        threshold = float(challenger.tags["threshold"])
        assert rows.loc[new_ids, "challenger_is_fraud"].tolist() == [bool(s >= threshold) for s in expected]
        metrics = served.client.get("/metrics").text
        assert f'fraud_detector_shadow_scored_rows_total{{challenger_version="{challenger.version}"}}' in metrics

        # The pipeline: the sensor asks for each day once per state of its fragments ...
        monkeypatch.setattr(sensors, "SHADOW_SETTLE_SECONDS", 0)
        with dg.DagsterInstance.get() as instance:
            resources = {name: served.defs.resources[name] for name in ("landing", "lake")}
            with dg.build_sensor_context(instance=instance, resources=resources) as context:
                requested = shadow_sensor(context)
            assert {r.partition_key for r in requested} == {NEW_DAY, LANDED_DAY}
            with dg.build_sensor_context(instance=instance, resources=resources) as context:
                again = shadow_sensor(context)
            assert [r.run_key for r in again] == [r.run_key for r in requested]
            # ... and the day's table joins the labels validation knows.
            result = served.defs.resolve_job_def("shadow_job").execute_in_process(
                instance=instance, partition_key=LANDED_DAY
            )
            assert result.success
            table = Lake(str(served.settings.lake_dir)).read(SHADOW_SCORES, LANDED_DAY).set_index("transaction_id")
            truth = Lake(str(served.settings.lake_dir)).read("validated_transactions", LANDED_DAY)
            truth = truth.set_index("transaction_id")["is_fraud"]
            landed_ids = [t["transaction_id"] for t in landed]
            assert table.loc[landed_ids, "is_fraud"].tolist() == truth.loc[landed_ids].tolist()
            [materialization] = result.asset_materializations_for_node("shadow_scores")
            assert materialization.metadata["rows"].value == len(landed)
            assert materialization.metadata["labelled_rows"].value == int(truth.loc[landed_ids].notna().sum())

            # The drift report and the evaluation compare the challenger with the champion on it.
            reported = served.defs.resolve_job_def("monitoring_job").execute_in_process(
                instance=instance, partition_key=LANDED_DAY, asset_selection=[dg.AssetKey("drift_report")]
            )
            assert reported.success
            evaluated = retrain(served.defs, instance, None, {}, selection=[model_evaluation])
            assert evaluated.success
        [beside] = Lake(str(served.settings.lake_dir)).read_record(f"drift_report/{LANDED_DAY}")["shadow"]
        assert (beside["challenger_version"], beside["rows"]) == (challenger.version, len(landed))
        live = Lake(str(served.settings.lake_dir)).read_record("model_evaluation")["live_traffic"]
        assert (live["champion_version"], live["challenger_version"]) == (champion.version, challenger.version)
        assert live["rows"] == len(landed) and live["labelled_frauds"] == int(truth.loc[landed_ids].sum())
        agreement = float((table["champion_is_fraud"] == table["challenger_is_fraud"]).mean())
        assert live["decision_agreement"] == pytest.approx(agreement)
        assert 0.0 <= live["challenger_pr_auc"] <= 1.0 and 0.0 <= live["champion_pr_auc"] <= 1.0
    finally:
        restore_challenger(served, before)
