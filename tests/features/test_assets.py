"""The feature stage through the real graph: generated days, real Feast store, real lake."""

from datetime import date

import dagster as dg
import pandas as pd
import pytest

from mlops_assets.defs.features.assets import entity_features, online_features
from mlops_assets.defs.ingestion.assets import raw_transactions
from mlops_assets.defs.training.training_set import training_set
from mlops_assets.defs.validation.assets import validate_transactions
from mlops_assets.keys import FEATURE_SERVICE
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.featurize import features
from mlops_assets.settings import Settings
from tests.conftest import land
from tests.lib.frames import point_in_time

DAYS = ["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"]
ALL = [raw_transactions, validate_transactions, entity_features, online_features, training_set]


@pytest.fixture
def built(settings: Settings, resources: dict) -> Lake:
    """Four ingested days with features and the online store; then the training set."""
    land(settings, days=len(DAYS), rows=600)
    for day in DAYS:
        selection = [raw_transactions, validate_transactions, entity_features, online_features]
        assert dg.materialize(selection, partition_key=day, resources=resources).success
    config = {"ops": {"training_set": {"config": {"days": 4, "holdout_days": 1}}}}
    result = dg.materialize([training_set], selection=[training_set], resources=resources, run_config=config)
    assert result.success
    return Lake(str(settings.lake_dir))


def test_training_set_is_the_point_in_time_join_of_the_feature_tables(built: Lake) -> None:
    training = built.read("training_set")
    transactions = pd.concat(built.read("validated_transactions", day) for day in DAYS)
    assert len(training) == len(transactions) == 2400
    customer = pd.concat(built.read("customer_features", day) for day in DAYS)
    merchant = pd.concat(built.read("merchant_features", day) for day in DAYS)
    expected_features = pd.concat(
        [
            point_in_time(transactions, customer, "customer_id", tuple(features.customer_feature_kinds())),
            point_in_time(transactions, merchant, "merchant_id", tuple(features.merchant_feature_kinds())),
        ],
        axis=1,
    ).loc[training["transaction_id"]]
    ordered = transactions.set_index("transaction_id").loc[training["transaction_id"]].reset_index()
    expected = features.model_input(ordered, expected_features.reset_index(drop=True))
    # The generator writes every optional column: every input the code computes is there.
    pd.testing.assert_frame_equal(training[list(features.model_inputs())], expected)
    assert training["is_fraud"].tolist() == ordered["is_fraud"].astype(int).tolist()
    assert training.loc[training["is_holdout"], "event_timestamp"].dt.strftime("%Y-%m-%d").unique().tolist() == [
        DAYS[-1]
    ]
    assert training["customer_id"].tolist() == ordered["customer_id"].tolist()
    # Day one has no history; by day four most customers have some.
    assert (training["has_history"] == 0).sum() > 0 and training["has_history"].mean() > 0.3


def test_online_store_holds_each_entitys_latest_offline_row(built: Lake, resources: dict) -> None:
    customer = pd.concat(built.read("customer_features", day) for day in DAYS)
    latest = customer.sort_values("event_timestamp").groupby("customer_id").tail(1).head(25)
    store = resources["feast"].store()
    online = store.get_online_features(
        features=[f"customer_activity:{name}" for name in features.customer_feature_kinds()],
        entity_rows=[{"customer_id": int(customer_id)} for customer_id in latest["customer_id"]],
    ).to_df()
    assert store.get_feature_service(FEATURE_SERVICE).name == "fraud_detection_v1"
    no_merchant = {name: None for name in features.merchant_feature_kinds()}
    customer_columns = list(features.customer_feature_kinds())
    served = features.normalize_features(online.assign(**no_merchant))[customer_columns]
    offline = features.normalize_features(latest.reset_index(drop=True).assign(**no_merchant))[customer_columns]
    pd.testing.assert_frame_equal(served, offline)


def test_rematerializing_a_day_of_features_is_idempotent(built: Lake, resources: dict) -> None:
    before = {key: built.read(key, DAYS[2]) for key in ("customer_features", "merchant_features")}
    # Only the features run; validated_transactions is loaded from the lake as it is.
    result = dg.materialize(
        [raw_transactions, validate_transactions, entity_features],
        selection=[entity_features],
        partition_key=DAYS[2],
        resources=resources,
    )
    assert result.success
    for key, table in before.items():
        pd.testing.assert_frame_equal(built.read(key, DAYS[2]), table)


def test_a_day_that_failed_its_checks_is_refused_by_later_runs_until_it_passes(
    settings: Settings, resources: dict
) -> None:
    """Blocking checks stop the run they fail in; the lake's verdicts carry the block to later
    runs: the day's features are refused, its rows leave the next day's history and the
    training set, until the day is validated again and passes."""
    land(settings, start=date.fromisoformat(DAYS[0]), rows=600)
    land(settings, start=date.fromisoformat(DAYS[1]), rows=600, scenario="dirty")  # about 2% bad rows
    land(settings, start=date.fromisoformat(DAYS[2]), rows=600)
    lake = Lake(str(settings.lake_dir))
    validation = [raw_transactions, validate_transactions]
    strict = {"ops": {"validate_transactions": {"config": {"max_quarantine_share": 0.0}}}}
    assert dg.materialize(validation, partition_key=DAYS[0], resources=resources).success
    blocked = dg.materialize(
        validation, partition_key=DAYS[1], resources=resources, run_config=strict, raise_on_error=False
    )
    assert not blocked.success  # in the same run: Dagster's blocking check
    assert dg.materialize(validation, partition_key=DAYS[2], resources=resources).success

    def features_of(day: str) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [*validation, entity_features],
            selection=[entity_features],
            partition_key=day,
            resources=resources,
            raise_on_error=False,
        )

    refused = features_of(DAYS[1])  # a later, separate run
    assert not refused.success
    [failure] = [event for event in refused.all_events if event.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.error.message
    assert (
        f"validated_transactions {DAYS[1]} failed quarantine_share_below_threshold in run {blocked.run_id}" in message
    )
    assert not lake.exists("customer_features", DAYS[1])
    after = features_of(DAYS[2])
    assert after.success
    metadata = after.asset_materializations_for_node("entity_features")[0].metadata
    assert metadata["history_days_refused"].value == [DAYS[1]]
    validated = {day: len(lake.read("validated_transactions", day)) for day in (DAYS[0], DAYS[2])}
    assert metadata["history_rows"].value == sum(validated.values())

    # The training set leaves the day out of its window.
    online = [*validation, entity_features, online_features]
    assert dg.materialize(online, selection=[online_features], partition_key=DAYS[2], resources=resources).success
    config = {"ops": {"training_set": {"config": {"days": 3, "holdout_days": 1}}}}
    training = dg.materialize([training_set], selection=[training_set], resources=resources, run_config=config)
    assert training.success
    assert list(training.asset_materializations_for_node("training_set")[0].metadata["days_refused"].value) == [DAYS[1]]
    labelled = sum(int(lake.read("validated_transactions", day)["is_fraud"].notna().sum()) for day in validated)
    assert len(lake.read("training_set")) == labelled

    # Validated again under the default threshold, the day passes and is refused no more.
    assert dg.materialize(validation, partition_key=DAYS[1], resources=resources).success
    assert features_of(DAYS[1]).success
    assert (
        features_of(DAYS[2])
        .asset_materializations_for_node("entity_features")[0]
        .metadata["history_days_refused"]
        .value
        == []
    )


def test_a_range_of_days_is_built_in_one_run_with_the_values_of_day_by_day_runs(
    settings: Settings, resources: dict, instance: dg.DagsterInstance
) -> None:
    """`build_features` (what `mlops backfill` runs) over five ingested days: one run covering the
    range, writing each day's files, with the rows each day's own run would write."""
    from mlops_assets.definitions import build_definitions
    from mlops_assets.keys import RANGE_END_TAG, RANGE_START_TAG
    from mlops_assets.ops.features import build_features
    from mlops_assets.ops.ingest import ingest_pending

    land(settings, days=5, rows=400)
    defs = build_definitions(resources)
    assert not ingest_pending(defs, instance).failed_days
    days = [f"2025-03-0{i}" for i in range(1, 6)]
    assert build_features(defs, instance, days) == {}
    runs = instance.get_runs(filters=dg.RunsFilter(job_name="features_job"))
    assert len(runs) == 1 and (runs[0].tags[RANGE_START_TAG], runs[0].tags[RANGE_END_TAG]) == (days[0], days[-1])
    lake = Lake(str(settings.lake_dir))
    history = pd.concat([lake.read("validated_transactions", day) for day in days], ignore_index=True)
    for day in days:
        rows = history[history["event_timestamp"].dt.strftime("%Y-%m-%d") == day]
        expected = features.customer_features(history, rows)  # a row reads only rows before it
        pd.testing.assert_frame_equal(lake.read("customer_features", day), expected.reset_index(drop=True))
        assert len(lake.read("merchant_features", day)) == len(rows)


def test_the_gap_between_training_days_and_the_holdout_is_used_by_neither(built: Lake, resources: dict) -> None:
    from mlops_assets.defs.training.training_set import training_rows

    config = {"ops": {"training_set": {"config": {"days": 4, "holdout_days": 1, "gap_days": 1}}}}
    assert dg.materialize([training_set], selection=[training_set], resources=resources, run_config=config).success
    frame = built.read("training_set")
    day = frame["event_timestamp"].dt.strftime("%Y-%m-%d")
    assert sorted(day[frame["is_gap"]].unique()) == [DAYS[2]] and sorted(day[frame["is_holdout"]].unique()) == [DAYS[3]]
    assert sorted(training_rows(frame)["event_timestamp"].dt.strftime("%Y-%m-%d").unique()) == DAYS[:2]
    too_long = {"ops": {"training_set": {"config": {"days": 4, "holdout_days": 2, "gap_days": 2}}}}
    result = dg.materialize(
        [training_set], selection=[training_set], resources=resources, run_config=too_long, raise_on_error=False
    )
    assert not result.success and "leave training days" in str(result.all_events)
