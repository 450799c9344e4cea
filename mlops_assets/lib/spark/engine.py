"""The heavy steps on Spark, as the assets call them with `MLOPS_ENGINE=spark`: the entity
features of a range of days, a training window's labelled model inputs, and a day's scores, each
read from the lake's Parquet and (but for the training set, which the models fit in memory)
written back to it by Spark.

The session comes from the `spark` resource (`resources/spark.py`); nothing here knows Dagster.
"""

from __future__ import annotations

import pandas as pd

from mlops_assets.keys import CUSTOMER_FEATURES, MERCHANT_FEATURES, VALIDATED_TRANSACTIONS
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.featurize import features
from mlops_assets.lib.featurize.feature_spec import FeatureSpec
from mlops_assets.lib.featurize.point_in_time import ViewJoin
from mlops_assets.lib.spark import features as spark_features
from mlops_assets.lib.spark import point_in_time
from mlops_assets.lib.spark.session import DAY_COLUMN, day_paths, spark_path, write_days

TIME = features.TIME


def _summary(frame, columns: tuple[str, ...]) -> str:
    """Mean, spread and range of each numeric column (one pass of Spark), as a Markdown table."""
    from pyspark.sql import functions as F

    numeric = [name for name in columns if name != "last_txn_at"]
    aggregates = []
    for name in numeric:
        column = F.col(f"`{name}`").cast("double")
        aggregates += [F.mean(column), F.stddev(column), F.min(column), F.max(column)]
    values = frame.agg(*aggregates).first()
    table = pd.DataFrame(
        [values[4 * i : 4 * i + 4] for i in range(len(numeric))], index=numeric, columns=["mean", "std", "min", "max"]
    )
    return table.astype("float64").round(3).to_markdown()


def write_entity_features(
    resource, lake: Lake, history_days: list[str], days: list[str], history_rows: int, spec: FeatureSpec
):
    """Computes and writes the customer and merchant features of `days` from the validated
    `history_days` (which hold `history_rows`); per table, the paths written and the metadata of
    its rows (counts, entities, and feature statistics as a Markdown table)."""
    from pyspark.sql import functions as F

    spark = resource.session()
    history = spark.read.parquet(*day_paths(lake, VALIDATED_TRANSACTIONS, history_days))
    buckets = spark_features.bucket_count(history_rows, resource.parallelism())
    customer, merchant = spark_features.entity_features(history, days, spec, buckets)
    written = {}
    for key, frame, kinds, entity in (
        (CUSTOMER_FEATURES, customer, features.customer_feature_kinds(spec), "customer"),
        (MERCHANT_FEATURES, merchant, features.merchant_feature_kinds(spec), "merchant"),
    ):
        empty = _empty_features(key, spec)
        paths = write_days(lake, key, frame, days, empty, [TIME, f"{entity}_id"])
        stored = spark.read.parquet(*(spark_path(lake, path) for path in paths))
        counts = stored.agg(F.count(F.lit(1)), F.countDistinct(f"{entity}_id")).first()
        written[key] = (
            paths,
            {
                "dagster/row_count": int(counts[0]),
                f"{entity}s": int(counts[1]),
                "feature_statistics": _summary(stored, tuple(kinds)),
            },
        )
    return written


def _empty_features(key: str, spec: FeatureSpec) -> pd.DataFrame:
    """A feature table's columns and types, without rows (a day without transactions)."""
    bare = pd.DataFrame(
        {
            "customer_id": pd.Series(dtype="int64"),
            "merchant_id": pd.Series(dtype="int64"),
            TIME: pd.Series(dtype=features.MICROS),
            "amount": pd.Series(dtype="float64"),
            "is_fraud": pd.Series(dtype="Int64"),
        }
    )
    compute = features.customer_features if key == CUSTOMER_FEATURES else features.merchant_features
    return compute(bare, bare, spec)


def labelled_inputs(resource, lake: Lake, views: list[ViewJoin], days: list[str], spec: FeatureSpec) -> pd.DataFrame:
    """The labelled validated transactions of `days` with every model input, as of each one's
    time, collected (in time order) for the models to fit."""
    from pyspark.sql import functions as F

    spark = resource.session()
    transactions = spark.read.parquet(*day_paths(lake, VALIDATED_TRANSACTIONS, days)).where(
        F.col("is_fraud").isNotNull()
    )
    joined = point_in_time.historical_features(spark, lake, views, transactions, days)
    keep = list(transactions.columns)
    frame = point_in_time.with_model_inputs(joined, spec, keep).orderBy(TIME, "transaction_id").toPandas()
    # The transactions' columns in the types the lake's pandas readers give (text as `string`).
    types = lake.empty(VALIDATED_TRANSACTIONS, days[0]).dtypes
    return spark_features.as_lake_types(frame).astype({name: types[name] for name in keep})


def score_day(resource, lake: Lake, views: list[ViewJoin], day: str, spec: FeatureSpec, scoring, empty: pd.DataFrame):
    """Scores the validated transactions of `day` as `scoring` says (`point_in_time.Scoring`) and
    writes them to its table; the path written, the rows, those flagged and the sum of P(fraud)."""
    from pyspark.sql import functions as F

    spark = resource.session()
    transactions = spark.read.parquet(*day_paths(lake, VALIDATED_TRANSACTIONS, [day]))
    joined = point_in_time.historical_features(spark, lake, views, transactions, [day])
    frame = point_in_time.scored(joined, spec, scoring).withColumn(DAY_COLUMN, F.lit(day))
    path = write_days(lake, scoring.table, frame, [day], empty, [TIME, "transaction_id"])[0]
    totals = (
        spark.read.parquet(spark_path(lake, path))
        .agg(F.count(F.lit(1)), F.sum(F.col("is_fraud").cast("int")), F.sum("fraud_probability"))
        .first()
    )
    return path, int(totals[0]), int(totals[1] or 0), float(totals[2] or 0.0)
