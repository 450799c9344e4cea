"""The Spark engine's features, training set and scores equal the pandas path's, column for column,
to 1e-9: on hand-built edges (windows exactly 1 h, 24 h and 7 d apart, a customer without
history, labels that arrive late, ties, data without optional columns, ids from 0) and on the
generated days of the package's home, through the real graph."""

import dataclasses

import dagster as dg
import pandas as pd
import pytest

from mlops_assets.definitions import build_definitions
from mlops_assets.keys import (
    CUSTOMER_FEATURES,
    MERCHANT_FEATURES,
    SCORED_TRANSACTIONS,
    SCORING_JOB,
    TRAINING_SET,
    TRAINING_SET_JOB,
    VALIDATED_TRANSACTIONS,
)
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.featurize import features
from mlops_assets.lib.featurize.feature_spec import FeatureSpec
from mlops_assets.lib.spark import features as spark_features
from mlops_assets.ops.runs import QUIET
from mlops_assets.resources import build_resources
from mlops_assets.settings import Settings
from tests.lib.test_features import DAY, HOUR, T0, transactions
from tests.support.spark import assert_same

MINUTE, SECOND = pd.Timedelta(minutes=1), pd.Timedelta(seconds=1)


def spark_family(session, history: pd.DataFrame, spec: FeatureSpec, days: list[str]) -> tuple:
    frame = session.createDataFrame(history)
    customer, merchant = spark_features.entity_features(frame, days, spec, buckets=3)

    def collected(rows) -> pd.DataFrame:
        return spark_features.as_lake_types(rows.toPandas()).drop(columns=["_day"])

    return collected(customer), collected(merchant)


@pytest.fixture(scope="module")
def session(spark_home):
    settings, _ = spark_home
    return build_resources(settings)["spark"].session()


EDGES = [
    (pd.Timedelta(0), 1, 0, 10.0, "DE", 0),
    (HOUR, 1, 0, 20.0, "FR", 1),  # exactly 1 h after the first: the first leaves the 1 h window
    (HOUR, 1, 1, 5.0, "FR", 0),  # a tie: both rows at the same time count for each other
    (DAY, 1, 0, 30.0, "DE", None),  # exactly 24 h after the first; its label never arrives
    (DAY + HOUR, 0, 1, 0.0, "ES", 1),  # customer 0: no history; a zero amount
    (3 * DAY, 2, 0, 12.0, "DE", 1),  # label known exactly at the 3-day delay of the next rows
    (6 * DAY, 1, 1, 40.0, "DE", 0),
    (7 * DAY, 1, 0, 50.0, "IT", 0),  # exactly 7 d after the first
    (7 * DAY + SECOND, 1, 2, 60.0, "DE", 1),
    (7 * DAY + MINUTE, 3, 2, 70.0, "DE", 0),
]


@pytest.mark.parametrize(
    "spec",
    [FeatureSpec(), FeatureSpec(customer_windows=("30m", "1h", "2d"), risk_windows=("1d", "7d"), label_delay="0")],
    ids=["default", "other-windows"],
)
def test_features_of_hand_built_edges_equal_the_pandas_path(session, spec: FeatureSpec) -> None:
    history = transactions(*EDGES)
    days = sorted(history["event_timestamp"].dt.strftime("%Y-%m-%d").unique())
    customer, merchant = spark_family(session, history, spec, days)
    assert_same(customer, features.customer_features(history, history, spec), ["customer_id", "event_timestamp"])
    assert_same(merchant, features.merchant_features(history, history, spec), ["merchant_id", "event_timestamp"])
    # The edges hold: customer 1 at 1 h counts itself and its tie, not the row 1 h before.
    at_one_hour = customer[
        (customer["customer_id"] == 1) & (customer["event_timestamp"] == T0 + HOUR + pd.Timedelta(1, "us"))
    ]
    if "1h" in spec.customer_windows:
        assert at_one_hour["txn_count_1h"].tolist() == [2, 2]


def test_only_the_range_is_computed_from_the_whole_history(session) -> None:
    history = transactions(*EDGES)
    last_day = (T0 + 7 * DAY).strftime("%Y-%m-%d")
    rows = history[history["event_timestamp"].dt.strftime("%Y-%m-%d") == last_day]
    customer, merchant = spark_family(session, history, FeatureSpec(), [last_day])
    assert len(customer) == len(rows) == 3
    assert_same(customer, features.customer_features(history, rows), ["customer_id", "event_timestamp"])
    assert_same(merchant, features.merchant_features(history, rows), ["merchant_id", "event_timestamp"])


def test_data_without_optional_columns_gives_missing_values_as_in_pandas(session) -> None:
    history = transactions(*EDGES).drop(columns=["card_present", "country", "channel", "merchant_category"])
    days = sorted(history["event_timestamp"].dt.strftime("%Y-%m-%d").unique())
    customer, merchant = spark_family(session, history, FeatureSpec(), days)
    expected = features.customer_features(history, history)
    assert_same(customer, expected, ["customer_id", "event_timestamp"])
    assert customer["card_not_present_share_7d"].isna().all() and (customer["distinct_countries_7d"] == 0).all()
    assert_same(merchant, features.merchant_features(history, history), ["merchant_id", "event_timestamp"])


def test_feature_tables_of_the_generated_days_equal_the_pandas_path(spark_home) -> None:
    settings, _ = spark_home
    lake = Lake(str(settings.lake_dir))
    days = lake.partitions(VALIDATED_TRANSACTIONS)
    history = pd.concat([lake.read(VALIDATED_TRANSACTIONS, day) for day in days], ignore_index=True)
    for day in days:
        rows = history[history["event_timestamp"].dt.strftime("%Y-%m-%d") == day]
        assert_same(
            lake.read(CUSTOMER_FEATURES, day),
            features.customer_features(history, rows),
            ["customer_id", "event_timestamp"],
        )
        assert_same(
            lake.read(MERCHANT_FEATURES, day),
            features.merchant_features(history, rows),
            ["merchant_id", "event_timestamp"],
        )


def pandas_defs(settings: Settings) -> dg.Definitions:
    return build_definitions(build_resources(dataclasses.replace(settings, engine="pandas")))


def run_on_both(
    settings: Settings,
    defs: dg.Definitions,
    job_name: str,
    table: str,
    config: dict | None = None,
    day: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Runs `job_name` (with op `config`, on `day`) with the Spark engine, then with pandas; the
    table each wrote."""
    lake, written = Lake(str(settings.lake_dir)), {}
    with dg.DagsterInstance.ephemeral() as instance:
        for engine, engine_defs in (("spark", defs), ("pandas", pandas_defs(settings))):
            job = engine_defs.resolve_job_def(job_name)
            run_config = QUIET | {"ops": config or {}}
            assert job.execute_in_process(instance=instance, run_config=run_config, partition_key=day).success
            written[engine] = lake.read(table, day)
    return written


def test_training_set_equals_the_pandas_path(spark_home) -> None:
    settings, defs = spark_home
    config = {"training_set": {"config": {"days": 10, "holdout_days": 4}}}
    written = run_on_both(settings, defs, TRAINING_SET_JOB, TRAINING_SET, config)
    assert len(written["spark"]) > 10_000 and written["spark"]["is_holdout"].any()
    assert written["spark"].dtypes.equals(written["pandas"].dtypes)
    assert_same(written["spark"], written["pandas"], ["transaction_id"])


def test_scores_equal_the_pandas_path(spark_home) -> None:
    settings, defs = spark_home
    lake = Lake(str(settings.lake_dir))
    day = lake.partitions(VALIDATED_TRANSACTIONS)[-1]
    scored = run_on_both(settings, defs, SCORING_JOB, SCORED_TRANSACTIONS, day=day)
    assert len(scored["spark"]) == lake.row_count(VALIDATED_TRANSACTIONS, day)
    assert scored["spark"]["fraud_probability"].between(0, 1).all() and scored["spark"]["is_fraud"].any()
    # When each was scored differs; nothing else does.
    assert_same(*(scored[engine].drop(columns=["scored_at"]) for engine in ("spark", "pandas")), ["transaction_id"])
