"""`scored_transactions`: every validated transaction of a day scored by the champion (or by a
version named in config, to re-score), with the point-in-time features training used, in chunks
so that a day larger than memory allows whole is scored piece by piece.
`alert_queue`: the day's cards for investigators, ranked, at a daily capacity
(`lib.quality.queue`), each with its most suspicious transactions and the Bayesian network's
strongest evidence on the top one; once labels are in, its card precision in the metadata."""

from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from mlops_assets.defs.features.assets import SPEC, feature_views, point_in_time_inputs
from mlops_assets.defs.partitions import DAILY
from mlops_assets.keys import CUSTOMER_FEATURES, MERCHANT_FEATURES, SCORED_TRANSACTIONS, VALIDATED_TRANSACTIONS
from mlops_assets.lib.modelling.registry import CHAMPION, Registry
from mlops_assets.lib.quality.queue import RANKED_COLUMNS, queue_precision, rank_cards
from mlops_assets.lib.spark import engine as spark_engine
from mlops_assets.lib.spark.conf import DRIVER_STEP_K8S_CONFIG
from mlops_assets.lib.spark.point_in_time import Scoring
from mlops_assets.resources.feature_store import FeastResource
from mlops_assets.resources.lake import LakeResource
from mlops_assets.resources.model_registry import ModelRegistryResource
from mlops_assets.resources.spark import SparkResource

# Rows scored at a time: the model inputs of 200,000 rows take a few hundred MB. Each part's
# as-of join still reads every feature row its TTL reaches, so time and memory grow with the day
# (docs/performance.md: 370 s and 10.5 GB at 10,000,000 rows); past that, MLOPS_ENGINE=spark.
CHUNK_ROWS = 200_000
SCORED_COLUMNS = ["transaction_id", "customer_id", "merchant_id", "event_timestamp", "amount"]


class ScoringConfig(dg.Config):
    version: str = Field(
        default="",
        description="The registered version to score with (to re-score a range after a promotion, or with "
        "another model); empty: the champion at the time of the run.",
    )


@dataclass
class _Tally:
    """What the metadata says of the scored rows, counted as the chunks go by."""

    rows: int = 0
    flagged: int = 0
    probability_sum: float = 0.0

    def add(self, scored: pd.DataFrame) -> pd.DataFrame:
        self.rows += len(scored)
        self.flagged += int(scored["is_fraud"].sum())
        self.probability_sum += float(scored["fraud_probability"].sum())
        return scored


@dg.asset(
    partitions_def=DAILY,
    deps=[VALIDATED_TRANSACTIONS, CUSTOMER_FEATURES, MERCHANT_FEATURES],
    group_name="scoring",
    kinds={"mlflow", "parquet"},
    op_tags={"dagster-k8s/config": DRIVER_STEP_K8S_CONFIG},
)
def scored_transactions(
    context: dg.AssetExecutionContext,
    config: ScoringConfig,
    model_registry: ModelRegistryResource,
    feast: FeastResource,
    lake: LakeResource,
    spark: SparkResource,
) -> dg.MaterializeResult:
    """The day's validated transactions with `model_version`, `fraud_probability`, `is_fraud` at
    that version's threshold, and `scored_at`; read, scored and written `CHUNK_ROWS` at a time, so
    the day is never in memory whole (or by Spark, with `MLOPS_ENGINE=spark`)."""
    registry, day, table = model_registry.registry(), context.partition_key, lake.lake()
    info = registry.version(config.version) if config.version else registry.alias(CHAMPION)
    if info is None:
        raise dg.Failure(f"version {config.version} is not registered" if config.version else "no champion yet")
    model = registry.load(info.version)
    threshold = float(info.tags.get("threshold", 0.5))
    scored_at = pd.Timestamp(datetime.now(UTC))

    def scored(chunk: pd.DataFrame) -> pd.DataFrame:
        probability = model.predict_proba(point_in_time_inputs(context, feast, chunk)) if len(chunk) else []
        return chunk[SCORED_COLUMNS].assign(
            fraud_probability=np.asarray(probability, dtype="float64"),
            is_fraud=lambda frame: frame["fraud_probability"] >= threshold,
            model_version=info.version,
            scored_at=scored_at,
        )

    tally = _Tally()
    empty = scored(table.empty(VALIDATED_TRANSACTIONS, day))
    if spark.enabled:
        scoring = Scoring(model, info.version, threshold, scored_at, SCORED_COLUMNS, SCORED_TRANSACTIONS)
        views = feature_views(context, feast)
        path, tally.rows, tally.flagged, tally.probability_sum = spark_engine.score_day(
            spark, table, views, day, SPEC, scoring, empty
        )
    else:
        parts = (tally.add(scored(chunk)) for chunk in table.read_parts(VALIDATED_TRANSACTIONS, day, CHUNK_ROWS))
        path = table.write_parts(SCORED_TRANSACTIONS, day, parts, empty)
    context.log.info(f"{tally.rows} transactions of {day} scored by version {info.version}")
    return dg.MaterializeResult(
        metadata={
            "rows": tally.rows,
            "model_version": info.version,
            "kind": info.tags.get("kind", ""),
            "threshold": threshold,
            "flagged": tally.flagged,
            "mean_probability": round(tally.probability_sum / tally.rows, 6) if tally.rows else 0.0,
            "path": path,
            "engine": "spark" if spark.enabled else "pandas",
        },
    )


class QueueConfig(dg.Config):
    capacity: int = Field(default=100, ge=1, description="Cards the investigation team checks a day.")
    transactions_per_card: int = Field(default=3, ge=1, description="Most suspicious transactions shown per card.")
    factors: int = Field(default=3, ge=1, description="The Bayesian network's strongest factors shown per card.")


def _factors(
    context: dg.AssetExecutionContext,
    feast: FeastResource,
    registry: Registry,
    version: str,
    top: pd.DataFrame,
    count: int,
) -> list[str]:
    """For each row of `top` (validated transactions), the strongest evidence of the network that
    explains `version`, in words; empty strings when there is no network."""
    if top.empty:
        return []
    info = registry.version(version)
    network_info = registry.explaining_network(info) if info is not None else None
    if network_info is None:
        return [""] * len(top)
    network = registry.load(network_info.version)
    inputs = point_in_time_inputs(context, feast, top.reset_index(drop=True))
    found = []
    for index in range(len(inputs)):
        strongest = network.explain(inputs.iloc[[index]])[:count]
        found.append("; ".join(f"{name} ({value:+.2f})" for name, value in strongest))
    return found


@dg.asset(
    partitions_def=DAILY,
    deps=[SCORED_TRANSACTIONS],
    group_name="scoring",
    kinds={"pgmpy", "parquet"},
    io_manager_key="lake_io_manager",
)
def alert_queue(
    context: dg.AssetExecutionContext,
    config: QueueConfig,
    model_registry: ModelRegistryResource,
    feast: FeastResource,
    lake: LakeResource,
) -> dg.Output[pd.DataFrame]:
    """The day's cards to investigate, most suspicious first, up to the capacity; each with its
    most suspicious transactions and, for the top one, the network's strongest factors."""
    day, table = context.partition_key, lake.lake()
    scored = table.read(SCORED_TRANSACTIONS, day, columns=list(RANKED_COLUMNS))
    queue = rank_cards(scored, config.capacity, config.transactions_per_card)
    validated = table.read(VALIDATED_TRANSACTIONS, day)
    top_ids = queue["transaction_ids"].str.split(",").str[0]
    top = validated.set_index("transaction_id").loc[top_ids].reset_index()
    versions = queue["model_version"].unique()
    version = str(versions[0]) if len(versions) else ""
    queue["factors"] = _factors(context, feast, model_registry.registry(), version, top, config.factors)
    precision, decided = queue_precision(queue, validated[["customer_id", "is_fraud"]])
    metadata = {
        "cards": len(queue),
        "capacity": config.capacity,
        "model_version": version,
        "cards_with_labels": decided,
        "head": dg.MetadataValue.md(queue.head(10).to_markdown(index=False)),
    }
    if precision is not None:
        metadata["card_precision_at_capacity"] = round(precision, 4)
    context.log.info(f"{len(queue)} cards queued for {day}; card precision {precision}")
    return dg.Output(queue, metadata=metadata)
