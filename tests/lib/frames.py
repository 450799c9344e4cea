"""Labelled model inputs computed in memory: what `training_set` builds through Feast, without the
store (the two agree: `bench/features.py` checks it), for tests and benchmarks of the models."""

import tempfile
from datetime import date
from pathlib import Path

import pandas as pd

from mlops_assets.lib.featurize import features
from mlops_assets.lib.featurize.feature_spec import FeatureSpec
from mlops_assets.synth import generator


def point_in_time(entities: pd.DataFrame, table: pd.DataFrame, key: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """The latest feature row of the entity at or before each event, no older than the TTL."""
    left = entities.sort_values("event_timestamp")
    right = table.sort_values("event_timestamp").rename(columns={"event_timestamp": "_feature_time"})
    joined = pd.merge_asof(left, right, left_on="event_timestamp", right_on="_feature_time", by=key)
    ttl = pd.Timedelta(features.DEFAULT_SPEC.history)
    joined.loc[joined["_feature_time"] < joined["event_timestamp"] - ttl, list(columns)] = None
    return joined.set_index("transaction_id")[list(columns)]


def transactions(days: int, rows_per_day: int, scenario: str = "baseline", seed: int = 5, start=date(2025, 1, 1)):
    """Generated transactions as one frame, as validation would pass them on."""
    with tempfile.TemporaryDirectory() as folder:
        result = generator.generate(start, days, rows_per_day, Path(folder), scenario=scenario, seed=seed)
        frame = pd.concat([pd.read_parquet(path) for path in result.files], ignore_index=True)
    frame["is_fraud"] = frame["is_fraud"].astype("Int64")
    return frame.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def labelled_inputs(history: pd.DataFrame, spec: FeatureSpec = features.DEFAULT_SPEC) -> pd.DataFrame:
    """`transaction_id`, `customer_id`, `event_timestamp`, the model inputs the data's columns give
    under `spec`, and `is_fraud`."""
    customer = features.customer_features(history, history, spec)
    merchant = features.merchant_features(history, history, spec)
    entities = history[["transaction_id", "customer_id", "merchant_id", "event_timestamp"]]
    joined = pd.concat(
        [
            point_in_time(entities, customer, "customer_id", tuple(features.customer_feature_kinds(spec))),
            point_in_time(entities, merchant, "merchant_id", tuple(features.merchant_feature_kinds(spec))),
        ],
        axis=1,
    ).loc[history["transaction_id"]]
    inputs = features.model_input(history, joined.reset_index(drop=True), spec)
    inputs = inputs[list(features.available_inputs(history, spec))]
    return pd.concat(
        [
            history[["transaction_id", "customer_id", "event_timestamp"]].reset_index(drop=True),
            inputs,
            history["is_fraud"].astype("int64").reset_index(drop=True),
        ],
        axis=1,
    )
