"""`scored_transactions`: every validated transaction of a day scored by the champion (or by a
version named in config, to re-score), with the point-in-time features training used, in chunks
so that a day larger than memory allows whole is scored piece by piece.
`alert_queue`: the day's cards for investigators, ranked, at a daily capacity
(`lib.quality.queue`), each with its most suspicious transactions and the Bayesian network's
strongest evidence on the top one; once labels are in, its card precision in the metadata."""

from datetime import UTC, datetime

import dagster as dg
import pandas as pd
from pydantic import Field

from mlops_assets.defs.features.assets import point_in_time_inputs
from mlops_assets.defs.partitions import DAILY
from mlops_assets.keys import CUSTOMER_FEATURES, MERCHANT_FEATURES, VALIDATED_TRANSACTIONS
from mlops_assets.lib.modelling.registry import CHAMPION, Registry
from mlops_assets.lib.quality.queue import queue_precision, rank_cards
from mlops_assets.resources.feature_store import FeastResource
from mlops_assets.resources.lake import LakeResource
from mlops_assets.resources.model_registry import ModelRegistryResource

# Rows scored at a time: the point-in-time join and the model inputs of 200,000 rows take a few
# hundred MB, whatever the size of the day.
CHUNK_ROWS = 200_000
SCORED_COLUMNS = ["transaction_id", "customer_id", "merchant_id", "event_timestamp", "amount"]


class ScoringConfig(dg.Config):
    version: str = Field(
        default="",
        description="The registered version to score with (to re-score a range after a promotion, or with "
        "another model); empty: the champion at the time of the run.",
    )


@dg.asset(
    partitions_def=DAILY,
    deps=[VALIDATED_TRANSACTIONS, CUSTOMER_FEATURES, MERCHANT_FEATURES],
    group_name="scoring",
    kinds={"mlflow", "parquet"},
    io_manager_key="lake_io_manager",
)
def scored_transactions(
    context: dg.AssetExecutionContext,
    config: ScoringConfig,
    model_registry: ModelRegistryResource,
    feast: FeastResource,
    lake: LakeResource,
) -> dg.Output[pd.DataFrame]:
    """The day's validated transactions with `model_version`, `fraud_probability`, `is_fraud` at
    that version's threshold, and `scored_at`."""
    registry, day = model_registry.registry(), context.partition_key
    info = registry.version(config.version) if config.version else registry.alias(CHAMPION)
    if info is None:
        raise dg.Failure(f"version {config.version} is not registered" if config.version else "no champion yet")
    model = registry.load(info.version)
    threshold = float(info.tags.get("threshold", 0.5))
    transactions = lake.lake().read(VALIDATED_TRANSACTIONS, day)
    parts = []
    for start in range(0, len(transactions), CHUNK_ROWS):
        chunk = transactions.iloc[start : start + CHUNK_ROWS].reset_index(drop=True)
        probability = model.predict_proba(point_in_time_inputs(context, feast, chunk))
        parts.append(chunk[SCORED_COLUMNS].assign(fraud_probability=probability))
    scored = (
        pd.concat(parts, ignore_index=True) if parts else transactions[SCORED_COLUMNS].assign(fraud_probability=0.0)
    )
    scored["is_fraud"] = scored["fraud_probability"] >= threshold
    scored["model_version"] = info.version
    scored["scored_at"] = pd.Timestamp(datetime.now(UTC))
    context.log.info(f"{len(scored)} transactions of {day} scored by version {info.version}")
    return dg.Output(
        scored,
        metadata={
            "rows": len(scored),
            "model_version": info.version,
            "kind": info.tags.get("kind", ""),
            "threshold": threshold,
            "flagged": int(scored["is_fraud"].sum()),
            "mean_probability": round(float(scored["fraud_probability"].mean()), 6) if len(scored) else 0.0,
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


@dg.asset(partitions_def=DAILY, group_name="scoring", kinds={"pgmpy", "parquet"}, io_manager_key="lake_io_manager")
def alert_queue(
    context: dg.AssetExecutionContext,
    config: QueueConfig,
    model_registry: ModelRegistryResource,
    feast: FeastResource,
    lake: LakeResource,
    scored_transactions: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """The day's cards to investigate, most suspicious first, up to the capacity; each with its
    most suspicious transactions and, for the top one, the network's strongest factors."""
    day = context.partition_key
    queue = rank_cards(scored_transactions, config.capacity, config.transactions_per_card)
    validated = lake.lake().read(VALIDATED_TRANSACTIONS, day)
    top_ids = queue["transaction_ids"].str.split(",").str[0]
    top = validated.set_index("transaction_id").loc[top_ids].reset_index()
    versions = queue["model_version"].unique()
    queue["factors"] = _factors(
        context, feast, model_registry.registry(), str(versions[0]) if len(versions) else "", top, config.factors
    )
    precision, decided = queue_precision(queue, validated[["customer_id", "is_fraud"]])
    metadata = {
        "cards": len(queue),
        "capacity": config.capacity,
        "model_version": str(versions[0]) if len(versions) else "",
        "cards_with_labels": decided,
        "head": dg.MetadataValue.md(queue.head(10).to_markdown(index=False)),
    }
    if precision is not None:
        metadata["card_precision_at_capacity"] = round(precision, 4)
    context.log.info(f"{len(queue)} cards queued for {day}; card precision {precision}")
    return dg.Output(queue, metadata=metadata)
