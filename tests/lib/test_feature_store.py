"""The real Feast store of `feature_repo/` in a temporary MLOPS_HOME: point-in-time joins that
never leak the future, and online values equal to the offline ones."""

import subprocess
import sys

import pandas as pd
import pytest
import typeguard

from mlops_assets.feature_store import FEATURE_REPO, definitions, online_features, open_store
from mlops_assets.keys import FEATURE_SERVICE
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.featurize import features
from mlops_assets.lib.featurize.feature_spec import FeatureSpec
from mlops_assets.lib.featurize.point_in_time import historical_features
from mlops_assets.settings import Settings
from tests.lib.test_features import DAY, HOUR, transactions

LABELS_KNOWN_AFTER_2_DAYS = FeatureSpec(label_delay="2d")


@pytest.fixture
def history() -> pd.DataFrame:
    """Two customers, two merchants, four days; the last row is a large future fraud."""
    return transactions(
        (pd.Timedelta(0), 1, 10, 20.0, "DE", 0),
        (HOUR, 2, 10, 35.0, "FR", 0),
        (DAY, 1, 11, 25.0, "DE", 1),
        (DAY + 2 * HOUR, 1, 10, 40.0, "ES", 0),
        (2 * DAY, 2, 11, 15.0, "FR", 0),
        (3 * DAY, 1, 10, 30.0, "DE", 0),
        (3 * DAY + HOUR, 2, 10, 9000.0, "NG", 1),
    )


def write_feature_tables(settings: Settings, history: pd.DataFrame) -> None:
    """As the feature assets do: one Parquet table per day and entity in the lake."""
    lake = Lake(str(settings.lake_dir))
    for day, rows in history.groupby(history["event_timestamp"].dt.strftime("%Y-%m-%d")):
        lake.write("customer_features", features.customer_features(history, rows), day)
        lake.write("merchant_features", features.merchant_features(history, rows, LABELS_KNOWN_AFTER_2_DAYS), day)


@pytest.fixture
def store(settings: Settings, history: pd.DataFrame):
    write_feature_tables(settings, history)
    store = open_store(settings)
    store.apply(definitions())
    return store


def historical(store, entities: pd.DataFrame) -> pd.DataFrame:
    service = store.get_feature_service(FEATURE_SERVICE)
    frame = store.get_historical_features(entity_df=entities, features=service).to_df()
    frame = frame.sort_values("transaction_id").reset_index(drop=True)
    return pd.concat([frame[entities.columns], features.normalize_features(frame)], axis=1)


def test_point_in_time_join_takes_the_previous_transaction_and_never_the_future(store, history) -> None:
    entities = history[["transaction_id", "customer_id", "merchant_id", "event_timestamp"]]
    joined = historical(store, entities)
    by_id = joined.set_index("transaction_id")
    # t0: customer 1's first transaction has no earlier row; t3 sees t0 and t2 (its own row excluded).
    assert pd.isna(by_id.loc["t0", "txn_count_24h"])
    assert by_id.loc["t3", "txn_count_24h"] == 1 and by_id.loc["t3", "amount_usd_mean_7d"] == 22.5
    assert by_id.loc["t3", "last_txn_at"] == history.loc[2, "event_timestamp"]
    # The 9,000 fraud of t6 is in no earlier row, customer's or merchant's.
    assert joined["amount_usd_mean_30d"].max() < 100 and joined["merchant_amount_usd_mean_7d"].max() < 100
    # Merchant 10 at t5 sees its row from t3 (day 1), when no label was known yet; t6 sees t5's row
    # (day 3), with the labels of day 0 known (two days' delay): both legit.
    assert by_id.loc["t5", "merchant_labelled_txn_30d"] == 0 and pd.isna(by_id.loc["t5", "merchant_fraud_rate_30d"])
    assert by_id.loc["t6", "merchant_labelled_txn_30d"] == 2 and by_id.loc["t6", "merchant_fraud_rate_30d"] == 0.0
    assert len(joined) == len(entities)  # every transaction, also those without history


def test_the_as_of_join_gives_feasts_values_row_for_row(store, history) -> None:
    """`historical_features` replaces Feast's join for speed, not for other values: the same rows,
    including the entities without history and the rows whose latest feature is past the TTL."""
    entities = history[["transaction_id", "customer_id", "merchant_id", "event_timestamp"]]
    later = entities.assign(transaction_id=entities["transaction_id"] + "-later")
    ttl = pd.Timedelta(features.DEFAULT_SPEC.history)
    later["event_timestamp"] = later["event_timestamp"] + ttl + pd.Timedelta(hours=2)  # some in, some past
    stranger = entities.head(2).assign(transaction_id=["s0", "s1"], customer_id=999, merchant_id=[10, 999])
    asked = pd.concat([entities, later, stranger], ignore_index=True).sample(frac=1, random_state=0)

    ours = historical_features(store, asked)
    assert ours.index.equals(asked.index) and ours["transaction_id"].tolist() == asked["transaction_id"].tolist()
    ours = pd.concat([ours[asked.columns], features.normalize_features(ours)], axis=1)
    feasts = historical(store, asked)
    pd.testing.assert_frame_equal(ours.sort_values("transaction_id").reset_index(drop=True), feasts)
    # Both cases really occur: a later row inside the TTL, and one past it.
    by_id = feasts.set_index("transaction_id")
    assert pd.notna(by_id.loc["t0-later", "txn_count_30d"]) and pd.isna(by_id.loc["t6-later", "txn_count_30d"])


def test_online_features_and_model_input_equal_the_training_row(store, history) -> None:
    request = history.iloc[[5]]  # customer 1 at merchant 10, day 3
    training_row = historical(store, request[["transaction_id", "customer_id", "merchant_id", "event_timestamp"]])

    # Serving: the store holds everything known just before the request arrives.
    store.materialize(
        start_date=(history["event_timestamp"].min() - DAY).to_pydatetime(),
        end_date=request["event_timestamp"].iloc[0].to_pydatetime(),
    )
    online = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE),
        entity_rows=[{"customer_id": 1, "merchant_id": 10}],
    ).to_df()

    pd.testing.assert_frame_equal(features.normalize_features(online), training_row[list(features.feature_columns())])
    served = features.model_input(request, online)
    trained = features.model_input(request, training_row)
    pd.testing.assert_frame_equal(served, trained)


def test_rematerializing_gives_the_same_online_values(store, history) -> None:
    window = dict(
        start_date=(history["event_timestamp"].min() - DAY).to_pydatetime(),
        end_date=(history["event_timestamp"].max() + DAY).to_pydatetime(),
    )
    rows = [{"customer_id": 1, "merchant_id": 10}, {"customer_id": 2, "merchant_id": 11}]
    service = store.get_feature_service(FEATURE_SERVICE)
    store.materialize(**window)
    first = store.get_online_features(features=service, entity_rows=rows).to_df()
    store.materialize(**window)
    pd.testing.assert_frame_equal(first, store.get_online_features(features=service, entity_rows=rows).to_df())
    assert first["amount_usd_mean_30d"].tolist()[1] == pytest.approx((35.0 + 15.0 + 9000.0) / 3)


def test_serving_treats_values_older_than_the_ttl_as_missing(store, history) -> None:
    store.materialize(
        start_date=(history["event_timestamp"].min() - DAY).to_pydatetime(),
        end_date=(history["event_timestamp"].max() + DAY).to_pydatetime(),
    )
    soon = history.tail(1).assign(event_timestamp=history["event_timestamp"].max() + DAY)
    much_later = soon.assign(event_timestamp=soon["event_timestamp"] + pd.Timedelta(features.DEFAULT_SPEC.history))
    fresh = features.normalize_features(online_features(store, soon))
    stale = features.normalize_features(online_features(store, much_later))
    assert fresh["txn_count_30d"].tolist() == [3.0] and fresh["merchant_txn_count_7d"].notna().all()
    assert stale.isna().all().all()
    # A new customer at a known merchant: customer values missing, merchant values present.
    newcomer = features.normalize_features(online_features(store, soon.assign(customer_id=999)))
    assert newcomer["txn_count_30d"].isna().all() and newcomer["merchant_txn_count_7d"].notna().all()


def test_reads_go_on_while_another_process_materializes(store, settings, history) -> None:
    """A materialization marks its feature views MATERIALIZING in the shared registry until it ends
    (or forever, if its process is killed). Training sets and serving read meanwhile, from the
    values already there: a retraining that starts while a day's features load must not fail."""
    from feast.feature_view import FeatureViewState

    window = dict(
        start_date=(history["event_timestamp"].min() - DAY).to_pydatetime(),
        end_date=(history["event_timestamp"].max() + DAY).to_pydatetime(),
    )
    store.materialize(**window)
    rows = [{"customer_id": 1, "merchant_id": 10}]
    served = store.get_online_features(features=store.get_feature_service(FEATURE_SERVICE), entity_rows=rows).to_df()
    views = ("customer_activity", "merchant_activity")
    for name in views:  # what a materialization in another process commits when it starts
        store.set_feature_view_state(name, FeatureViewState.MATERIALIZING)

    reader = open_store(settings)  # another process: the trainer, or a serving worker
    assert {reader.get_feature_view(name).state for name in views} == {FeatureViewState.MATERIALIZING}
    entities = history[["transaction_id", "customer_id", "merchant_id", "event_timestamp"]]
    assert len(historical(reader, entities)) == len(entities)
    during = reader.get_online_features(features=reader.get_feature_service(FEATURE_SERVICE), entity_rows=rows).to_df()
    pd.testing.assert_frame_equal(during, served)


# Feast imported as the `feast` CLI imports it, with typeguard instrumenting its classes: the
# repository's definitions load, and a wrong argument type is refused (the checks are on).
CHECKED_IMPORT = """
import sys, feast, typeguard
sys.path.insert(0, sys.argv[1])
for name in ("entities", "sources", "feature_views", "feature_services"):
    __import__(name)
try:
    feast.Entity(name=1, join_keys=["customer_id"])
except typeguard.TypeCheckError:
    print("definitions pass Feast's type checks")
"""


def test_the_definitions_pass_feasts_own_type_checks(settings) -> None:
    # In this project's processes Feast imports without them (feast_import._typeguard_off).
    done = subprocess.run(
        [sys.executable, "-c", CHECKED_IMPORT, str(FEATURE_REPO)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "definitions pass Feast's type checks"
    instrumenting = typeguard.typechecked
    definitions()
    assert typeguard.typechecked is instrumenting  # restored for everything imported later
