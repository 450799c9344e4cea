"""Batch scoring through the real graph: a day scored by the champion with the features training
used, re-scored by a named version, and its investigators' queue with its precision."""

import subprocess
from datetime import date

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from mlops_assets.defs.scoring import assets as scoring_assets
from mlops_assets.lib.data.labels import LabelFolder
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.modelling.registry import CHAMPION, MODEL_NAME, Registry
from mlops_assets.ops.features import build_features
from mlops_assets.ops.ingest import ingest_pending
from mlops_assets.synth import generator
from tests.serving.conftest import serving
from tests.support.processes import MLOPS

pytestmark = pytest.mark.slow
DAY = "2025-03-10"  # the last history day: in the first champion's holdout
NEXT_DAY = "2025-03-11"  # a day the online service answers before it is featurized
LATER_DAY = "2025-03-12"  # a day that comes in without `landed_day_job`: `scoring_sensor` scores it
CAPACITY = 20


def score(defs: dg.Definitions, instance: dg.DagsterInstance, ops: dict | None = None) -> dg.ExecuteInProcessResult:
    config = {"alert_queue": {"config": {"capacity": CAPACITY}}, **(ops or {})}
    job = defs.resolve_job_def("scoring_job")
    return job.execute_in_process(instance=instance, partition_key=DAY, run_config={"ops": config})


def test_a_day_is_scored_rescored_by_a_named_version_and_queued(home, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, defs = home
    monkeypatch.setattr(scoring_assets, "CHUNK_ROWS", 400)  # the day in four parts, as a large day is
    with dg.DagsterInstance.get() as instance:
        assert score(defs, instance).success
        lake = Lake(str(settings.lake_dir))
        scored = lake.read("scored_transactions", DAY)
        queue = lake.read("alert_queue", DAY)
        shown = instance.get_latest_materialization_event(dg.AssetKey("alert_queue")).asset_materialization

        registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
        champion = registry.alias(CHAMPION)
        other = next(v for v in registry.versions() if v.version != champion.version)
        assert score(defs, instance, {"scored_transactions": {"config": {"version": other.version}}}).success
        rescored = lake.read("scored_transactions", DAY)
        history = instance.fetch_materializations(dg.AssetKey("scored_transactions"), limit=10).records

    validated = lake.read("validated_transactions", DAY)
    assert scored["transaction_id"].tolist() == validated["transaction_id"].tolist()
    assert set(scored["model_version"]) == {champion.version}
    threshold = float(champion.tags["threshold"])
    assert (scored["is_fraud"] == (scored["fraud_probability"] >= threshold)).all()
    # The features are training's: the champion scores its own holdout rows as in the training set.
    training = lake.read("training_set")
    holdout = training[training["event_timestamp"].dt.strftime("%Y-%m-%d") == DAY].set_index("transaction_id")
    model = registry.load(champion.version)
    offline = pd.Series(model.predict_proba(holdout), index=holdout.index)
    by_id = scored.set_index("transaction_id")["fraud_probability"]
    np.testing.assert_allclose(by_id.loc[offline.index].to_numpy(), offline.to_numpy(), atol=1e-9)

    # Re-scored with another version: each row says which version scored it, and Dagster keeps
    # which version scored each materialization.
    assert set(rescored["model_version"]) == {other.version}
    assert not np.allclose(rescored["fraud_probability"], scored["fraud_probability"])
    versions = [r.asset_materialization.metadata["model_version"].value for r in history]
    assert versions[:2] == [other.version, champion.version]

    # The queue: at most the capacity, ranked by each card's most suspicious transaction.
    assert 0 < len(queue) <= CAPACITY and queue["rank"].tolist() == list(range(1, len(queue) + 1))
    best = scored.groupby("customer_id")["fraud_probability"].max()
    assert queue["fraud_probability"].tolist() == best.loc[queue["customer_id"]].tolist()
    assert queue["fraud_probability"].is_monotonic_decreasing
    assert best.drop(queue["customer_id"]).max() <= queue["fraud_probability"].min()
    assert all(factors.count("(") >= 1 for factors in queue["factors"])
    # Its precision, by hand: the share of queued cards with a fraud that day.
    frauds = validated.groupby("customer_id")["is_fraud"].max()
    by_hand = float((frauds.loc[queue["customer_id"]] == 1).mean())
    assert shown.metadata["card_precision_at_capacity"].value == pytest.approx(round(by_hand, 4))
    assert shown.metadata["cards_with_labels"].value == len(queue)


def test_mlops_score_prints_the_days_counts_and_the_queues_head(home) -> None:
    settings, _ = home
    champion = Registry(settings.mlflow_tracking_uri, MODEL_NAME).alias(CHAMPION).version
    done = subprocess.run([MLOPS, "score", "--day", DAY, "--capacity", "5"], capture_output=True, text=True)
    unknown = subprocess.run([MLOPS, "score", "--day", DAY, "--version", "99"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith(f"{DAY}: 1,") and f"scored by version {champion}" in lines[0]
    assert "5 cards queued (capacity 5)" in lines[0] and lines[1].startswith("card precision of the queue")
    assert [line.split(".")[0].strip() for line in lines[2:]] == ["1", "2", "3", "4", "5"]
    assert unknown.returncode == 1 and "--version 99 is not a registered version" in unknown.stderr


def first_of_the_day(transactions: pd.DataFrame) -> pd.Series:
    """Whether each row is the day's first transaction of its card and of its merchant: the rows
    whose point-in-time features are the values online before the day (the features of a later
    row include the day's earlier transactions, which the online store has not seen yet)."""
    ordered = transactions.sort_values("event_timestamp", kind="stable")
    first = ~ordered["customer_id"].duplicated() & ~ordered["merchant_id"].duplicated()
    return first.reindex(transactions.index)


def test_a_days_batch_scores_equal_the_online_services_for_the_same_transactions(home) -> None:
    """The service answers a day's transactions when they come in (with the features online
    after the day before); the day is then landed, featurized and batch-scored."""
    settings, defs = home
    [path] = generator.generate(date.fromisoformat(NEXT_DAY), 1, 1500, settings.landing_dir, seed=9).files
    sent = pd.read_parquet(path).drop(columns=["is_fraud"])
    sent["event_timestamp"] = sent["event_timestamp"].map(lambda t: t.isoformat())
    with serving(settings.home / "bentoml.log", {}) as (_, client):
        answer = client.post("/predict", json={"transactions": sent.to_dict(orient="records")})
    assert answer.status_code == 200, answer.text
    online = pd.DataFrame(answer.json()["predictions"]).set_index("transaction_id")

    with dg.DagsterInstance.get() as instance:
        assert not ingest_pending(defs, instance).failed_days
        assert not build_features(defs, instance, [NEXT_DAY])
        job = defs.resolve_job_def("scoring_job")
        assert job.execute_in_process(instance=instance, partition_key=NEXT_DAY).success
    scored = Lake(str(settings.lake_dir)).read("scored_transactions", NEXT_DAY)

    compared = scored[first_of_the_day(scored)].set_index("transaction_id")
    assert len(compared) >= 20
    assert set(online.loc[compared.index, "model_version"]) == set(compared["model_version"])
    np.testing.assert_allclose(
        compared["fraud_probability"].to_numpy(), online.loc[compared.index, "fraud_probability"].to_numpy(), atol=1e-6
    )
    assert online.loc[compared.index, "is_fraud"].tolist() == compared["is_fraud"].tolist()
    # Later rows differ: their point-in-time features count the day's earlier transactions.
    later = scored[~first_of_the_day(scored)].set_index("transaction_id")
    gaps = (later["fraud_probability"] - online.loc[later.index, "fraud_probability"]).abs()
    assert gaps.max() > 1e-3


def scoring_tick(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[dg.RunRequest] | str:
    """One evaluation of `scoring_sensor`: its run requests, or its skip reason."""
    sensor = defs.resolve_sensor_def("scoring_sensor")
    resources = {key: defs.resources[key] for key in sensor.required_resource_keys}
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=resources) as context:
        result = sensor.evaluate_tick(context)
    return result.run_requests or result.skip_message


def run(defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest) -> None:
    job = defs.resolve_job_def(request.job_name or "scoring_job")
    assert job.execute_in_process(
        instance=instance, partition_key=request.partition_key, asset_selection=request.asset_selection
    ).success


def test_the_scoring_sensor_scores_a_new_day_once_and_ranks_its_queue_again_after_late_labels(home) -> None:
    settings, defs = home
    lake = Lake(str(settings.lake_dir))
    generator.generate(date.fromisoformat(LATER_DAY), 1, 1500, settings.landing_dir, seed=10)
    with dg.DagsterInstance.get() as instance:
        assert not ingest_pending(defs, instance).failed_days
        assert not build_features(defs, instance, [LATER_DAY])
        [request] = scoring_tick(defs, instance)
        assert (request.partition_key, request.asset_selection) == (LATER_DAY, None)
        run(defs, instance, request)
        assert scoring_tick(defs, instance) == "every day after 2025-03-10 is scored and queued"
        scored = lake.read("scored_transactions", LATER_DAY)
        before = instance.get_latest_materialization_event(dg.AssetKey("alert_queue")).asset_materialization

        # Late labels: a fraud on every queued card. The day is validated again (what
        # `label_sensor` asks for), its features follow, and only its queue is ranked again.
        queue = lake.read("alert_queue", LATER_DAY)
        late = pd.DataFrame({"transaction_id": queue["transaction_ids"].str.split(",").str[0], "is_fraud": 1})
        LabelFolder.of_landing(str(settings.landing_dir)).write(late, "feedback")
        ingest = defs.resolve_job_def("ingest_job")
        assert ingest.execute_in_process(instance=instance, partition_key=LATER_DAY).success
        assert not build_features(defs, instance, [LATER_DAY])
        [again] = scoring_tick(defs, instance)
        assert again.partition_key == LATER_DAY and again.asset_selection == [dg.AssetKey("alert_queue")]
        run(defs, instance, again)
        assert scoring_tick(defs, instance) == "every day after 2025-03-10 is scored and queued"
        shown = instance.get_latest_materialization_event(dg.AssetKey("alert_queue")).asset_materialization

    assert before.metadata["card_precision_at_capacity"].value < 1.0
    assert shown.partition == LATER_DAY and shown.metadata["card_precision_at_capacity"].value == 1.0
    pd.testing.assert_frame_equal(lake.read("scored_transactions", LATER_DAY), scored)  # not scored again
