"""The customer and merchant features of a range of days on Spark, read from the lake's validated
days and written back as the lake's daily feature tables, value for value what the pandas path
(`lib/featurize/features.py`) writes.

How: the history (the range and the `spec.history_days` before it) is shuffled by entity into
buckets; each bucket holds every row of its entities, so the windows of its rows are the
vectorized running sums of the pandas path, run in the bucket's Python worker
(`applyInPandas`). That is one shuffle per entity kind and O(n log n) work. Spark's own range
windows were the other way: for a bounded frame Spark aggregates every row of the frame again at
each row, so a 30-day window of a merchant with 1,000 rows a day costs 30,000 additions per row.

A bucket's rows must fit a Python worker: the buckets are sized from the history's row count
(`ROWS_PER_BUCKET`). One entity's rows are never split, so one merchant with a large share of all
transactions makes its bucket large (a skew this data does not have; see docs/spark.md).
"""

from __future__ import annotations

import math

import pandas as pd

from mlops_assets.lib.featurize import features
from mlops_assets.lib.featurize.feature_spec import FeatureSpec
from mlops_assets.lib.spark.session import DAY_COLUMN

TIME = features.TIME
# Rows of history per bucket: with the columns a feature family reads, about 200 MB in a worker.
ROWS_PER_BUCKET = 2_000_000
_BUCKET = "_bucket"
# The columns each family reads of the validated transactions; optional ones may be absent.
CUSTOMER_COLUMNS = ("customer_id", "merchant_id", TIME, "amount", "card_present", "country")  # of HISTORY_COLUMNS
MERCHANT_COLUMNS = ("merchant_id", TIME, "amount", "is_fraud")
OPTIONAL = {"card_present": "boolean", "country": "string"}


def bucket_count(history_rows: int, partitions: int) -> int:
    """Buckets of entities: at least `partitions` (the engine's parallelism), and enough that none
    holds much more than `ROWS_PER_BUCKET` rows of history."""
    return max(partitions, math.ceil(history_rows / ROWS_PER_BUCKET), 1)


def spark_schema(kinds: dict[str, str], key: str) -> str:
    """The DDL schema of a feature table: its key, `event_timestamp`, and each feature by kind."""
    types = {features.COUNT: "bigint", features.NUMBER: "double", features.TIMESTAMP: "timestamp"}
    columns = [f"{key} bigint", f"{TIME} timestamp", *(f"`{name}` {types[kind]}" for name, kind in kinds.items())]
    return ", ".join([*columns, f"{DAY_COLUMN} string"])


def entity_features(history, days: list[str], spec: FeatureSpec, buckets: int) -> tuple:
    """The customer and merchant feature rows of the transactions of `days`, as Spark DataFrames
    with a `_day` column, from `history`: validated transactions (a Spark DataFrame) of `days` and
    the days before them that `spec` reaches, refused days already left out."""
    from pyspark.sql import functions as F

    for name, kind in OPTIONAL.items():
        if name not in history.columns:  # data without the optional column: all missing, as in pandas
            history = history.withColumn(name, F.lit(None).cast(kind))
    days = sorted(days)

    def family(key: str, columns: tuple[str, ...], compute, kinds: dict[str, str]):
        rows = history.select(*columns).withColumn(_BUCKET, F.pmod(F.xxhash64(key), F.lit(buckets)))
        return rows.groupBy(_BUCKET).applyInPandas(compute, schema=spark_schema(kinds, key))

    customer = family(
        "customer_id",
        CUSTOMER_COLUMNS,
        _bucket_features(features.customer_features, days, spec),
        features.customer_feature_kinds(spec),
    )
    merchant = family(
        "merchant_id",
        MERCHANT_COLUMNS,
        _bucket_features(features.merchant_features, days, spec),
        features.merchant_feature_kinds(spec),
    )
    return customer, merchant


def _bucket_features(compute, days: list[str], spec: FeatureSpec):
    """The function a bucket's Python worker runs: the pandas path's features of the bucket's rows
    of `days`, from all of the bucket's rows, with the day of each."""

    def run(bucket: pd.DataFrame) -> pd.DataFrame:
        history = as_lake_types(bucket.drop(columns=[_BUCKET]))
        day = history[TIME].dt.strftime("%Y-%m-%d")
        in_range = day.isin(days).to_numpy()
        rows = compute(history, history[in_range], spec)
        return rows.assign(**{DAY_COLUMN: day[in_range].to_numpy()})

    return run


def as_lake_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns as the lake's pandas readers give them: Spark hands timestamps to Python as naive
    values in the session's time zone (UTC) and nullable integers as floats."""
    typed = frame.copy()
    for name in typed.columns:
        if pd.api.types.is_datetime64_any_dtype(typed[name]):
            typed[name] = pd.to_datetime(typed[name], utc=True).astype(features.MICROS)
    if "is_fraud" in typed:
        typed["is_fraud"] = typed["is_fraud"].astype("Int64")
    if "card_present" in typed:
        typed["card_present"] = typed["card_present"].astype("boolean")
    return typed
