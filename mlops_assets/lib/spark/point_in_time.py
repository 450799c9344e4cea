"""Point-in-time features, model inputs and scores on Spark: the values of the DuckDB as-of join
(`lib/featurize/point_in_time.py`) and of `features.model_input`, for entity rows that stay in
Spark, so that a training window or a day to score is never in one process's memory.

The join reads the same views of the Feast registry (`view_joins`): for each, the entity rows
and the view's rows of the same keys are put in one time order, feature rows before entity rows
at the same time, and each entity row takes the latest feature row before it (a running `last`
per key: one sort, no row compared with a window of others). A row older than the view's TTL
gives missing values, as in Feast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.featurize import features
from mlops_assets.lib.featurize.feature_spec import FeatureSpec
from mlops_assets.lib.featurize.point_in_time import ViewJoin
from mlops_assets.lib.spark.features import as_lake_types
from mlops_assets.lib.spark.session import day_paths

TIME = features.TIME


def view_table(view: ViewJoin) -> str:
    """The lake table a view's source reads (`.../<table>/*.parquet`)."""
    return view.path.rstrip("/").rsplit("/", 2)[-2]


def historical_features(spark, lake: Lake, views: list[ViewJoin], entities, days: list[str]):
    """`entities` (a Spark DataFrame with the views' entity keys and `event_timestamp`, all in
    `days`) with every view's features as of each row. Only the views' files that the rows' times
    and TTLs reach are read."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    joined = entities
    for view in views:
        reach = pd.Timedelta(view.ttl or timedelta(0)).ceil("D").days + 1
        first = pd.Timestamp(min(days)) - pd.Timedelta(days=reach)
        window = pd.date_range(first, max(days), freq="D").strftime("%Y-%m-%d")
        paths = day_paths(lake, view_table(view), window)
        entity_keys = list(view.keys.values())
        rows = joined.select(
            *entity_keys, F.col(TIME).alias("_t"), F.lit(1).alias("_kind"), F.struct(*joined.columns).alias("_e")
        )
        if paths:
            found = spark.read.parquet(*paths).select(
                *(F.col(key).alias(entity_key) for key, entity_key in view.keys.items()),
                F.col(view.timestamp_field).alias("_t"),
                F.lit(0).alias("_kind"),
                F.struct(*view.features).alias("_f"),
            )
            rows = rows.unionByName(found, allowMissingColumns=True)
        else:  # no feature rows yet: every value missing
            rows = rows.withColumn("_f", F.struct(*(F.lit(None).cast("double").alias(n) for n in view.features)))
        order = Window.partitionBy(*entity_keys).orderBy("_t", "_kind").rowsBetween(Window.unboundedPreceding, 0)
        rows = rows.select(
            "_kind",
            "_e",
            F.last("_f", ignorenulls=True).over(order).alias("_f"),
            F.last(F.when(F.col("_kind") == 0, F.col("_t")), ignorenulls=True).over(order).alias("_at"),
            F.col("_t"),
        ).where(F.col("_kind") == 1)
        fresh = F.col("_at").isNotNull()
        if view.ttl:
            fresh = fresh & (
                F.col("_at") >= F.col("_t") - F.expr(f"INTERVAL {view.ttl // timedelta(microseconds=1)} MICROSECONDS")
            )
        joined = rows.select("_e.*", *(F.when(fresh, F.col(f"_f.`{name}`")).alias(name) for name in view.features))
    return joined


def _schema(frame, keep: list[str], added: dict[str, str]):
    """A Spark schema: `keep` of `frame`'s fields, then `added` (name -> Spark type name)."""
    from pyspark.sql import types as T

    fields = [frame.schema[name] for name in keep]
    kinds = {
        "double": T.DoubleType(),
        "boolean": T.BooleanType(),
        "string": T.StringType(),
        "timestamp": T.TimestampType(),
    }
    return T.StructType([*fields, *(T.StructField(name, kinds[kind], True) for name, kind in added.items())])


def with_model_inputs(joined, spec: FeatureSpec, keep: list[str]):
    """`keep` of the joined rows' columns and every model input (`features.model_inputs(spec)`),
    computed by `features.model_input` in the Python workers, batch by batch."""
    names = features.model_inputs(spec)

    def run(batches):
        for batch in batches:
            batch = as_lake_types(batch)
            inputs = features.model_input(batch, batch[list(features.feature_columns(spec))], spec)
            yield pd.concat([batch[keep].reset_index(drop=True), inputs], axis=1)

    return joined.mapInPandas(run, schema=_schema(joined, keep, dict.fromkeys(names, "double")))


@dataclass(frozen=True)
class Scoring:
    """What batch scoring writes: `keep` of each transaction's columns, the `model`'s
    `fraud_probability`, `is_fraud` at `threshold`, `version` and `scored_at`, into `table`."""

    model: object
    version: str
    threshold: float
    scored_at: pd.Timestamp
    keep: list[str]
    table: str


def scored(joined, spec: FeatureSpec, scoring: Scoring):
    """The joined rows scored as `scoring` says; the model goes to the workers with the function."""
    model, keep = scoring.model, scoring.keep

    def run(batches):
        for batch in batches:
            batch = as_lake_types(batch)
            inputs = features.model_input(batch, batch[list(features.feature_columns(spec))], spec)
            probability = pd.Series(model.predict_proba(inputs) if len(batch) else [], dtype="float64")
            yield (
                batch[keep]
                .reset_index(drop=True)
                .assign(
                    fraud_probability=probability.to_numpy(),
                    is_fraud=(probability >= scoring.threshold).to_numpy(),
                    model_version=scoring.version,
                    scored_at=scoring.scored_at,
                )
            )

    added = {"fraud_probability": "double", "is_fraud": "boolean", "model_version": "string", "scored_at": "timestamp"}
    return joined.mapInPandas(run, schema=_schema(joined, keep, added))
