"""`training_set`: the labelled transactions of a window with their point-in-time features, split
in time into training days, a gap and a holdout: the first step of `retrain_job`."""

import dagster as dg
import pandas as pd
from pydantic import Field

from mlops_assets.defs.features.assets import SPEC, feature_summary, feature_views, point_in_time_inputs
from mlops_assets.defs.validation import verdicts
from mlops_assets.keys import ONLINE_FEATURES, VALIDATED_TRANSACTIONS
from mlops_assets.lib.featurize import features
from mlops_assets.lib.spark import engine as spark_engine
from mlops_assets.lib.spark.conf import DRIVER_STEP_K8S_CONFIG
from mlops_assets.resources.feature_store import FeastResource
from mlops_assets.resources.lake import LakeResource
from mlops_assets.resources.spark import SparkResource


class TrainingSetConfig(dg.Config):
    days: int = Field(default=28, description="Days of labelled transactions, ending with the latest validated day.")
    end_day: str | None = Field(default=None, description="Last day (YYYY-MM-DD) instead of the latest one.")
    holdout_days: int = Field(
        default=7,
        description="The last days of the window, held out for evaluation: models never train on them "
        "(a time-based split: a random split would let models learn from the future).",
    )
    gap_days: int = Field(
        default=0,
        description="Days between the training days and the holdout that neither uses (the label delay, as "
        "fraud teams evaluate: a model in service has not seen the labels of its last days). Their frauds "
        "still count as known compromised cards for the evaluation.",
    )


def training_rows(training_set: pd.DataFrame) -> pd.DataFrame:
    """The rows models are fitted on: neither held out nor in the gap before the holdout."""
    return training_set[~training_set["is_holdout"] & ~training_set["is_gap"]].reset_index(drop=True)


def input_columns(frame: pd.DataFrame) -> list[str]:
    """The model inputs a training set (or a model's reference) holds, in the code's order."""
    return [name for name in features.model_inputs(SPEC) if name in frame.columns]


@dg.asset(
    deps=[ONLINE_FEATURES],
    group_name="features",
    kinds={"feast", "parquet"},
    io_manager_key="lake_io_manager",
    op_tags={"dagster-k8s/config": DRIVER_STEP_K8S_CONFIG},
)
def training_set(
    context: dg.AssetExecutionContext,
    config: TrainingSetConfig,
    feast: FeastResource,
    lake: LakeResource,
    spark: SparkResource,
) -> dg.Output[pd.DataFrame]:
    """Labelled transactions of the window with their point-in-time features, as model inputs (those
    the data's columns give), and which of them are held out for evaluation or lie in the gap."""
    if not 0 < config.holdout_days < config.days - config.gap_days or config.gap_days < 0:
        raise dg.Failure(
            f"holdout_days ({config.holdout_days}) must be at least 1 and leave training days beside "
            f"gap_days ({config.gap_days}) in days ({config.days})"
        )
    table = lake.lake()
    days = table.partitions(VALIDATED_TRANSACTIONS)
    end_day = config.end_day or (days[-1] if days else None)
    if end_day is None:
        raise dg.Failure("no validated transactions yet: ingest some days first (`mlops ingest`)")
    start_day = (pd.Timestamp(end_day) - pd.Timedelta(days=config.days - 1)).strftime("%Y-%m-%d")
    refused = verdicts.failed_days(table, [day for day in days if start_day <= day <= end_day])
    for day, why in refused.items():
        context.log.warning(f"training set leaves out {day}: validated_transactions {why}")
    window = [day for day in days if start_day <= day <= end_day and day not in refused]
    if not window:
        raise dg.Failure(f"no day of {start_day}..{end_day} passed its validation checks: {refused}")
    if spark.enabled:
        joined = spark_engine.labelled_inputs(spark, table, feature_views(context, feast), window, SPEC)
        inputs = joined[list(features.model_inputs(SPEC))]
        labelled = joined.drop(columns=list(inputs.columns))
    else:
        transactions = pd.concat([table.read(VALIDATED_TRANSACTIONS, day) for day in window], ignore_index=True)
        labelled = transactions[transactions["is_fraud"].notna()].reset_index(drop=True)
        inputs = point_in_time_inputs(context, feast, labelled)
    available = features.available_inputs(labelled, SPEC)
    holdout_start = pd.Timestamp(end_day, tz="UTC") - pd.Timedelta(days=config.holdout_days - 1)
    gap_start = holdout_start - pd.Timedelta(days=config.gap_days)
    frame = pd.concat(
        [
            labelled[["transaction_id", "customer_id", "event_timestamp"]],
            inputs[list(available)],
            labelled["is_fraud"].astype("int64"),
            (labelled["event_timestamp"] >= holdout_start).rename("is_holdout"),
            labelled["event_timestamp"].between(gap_start, holdout_start, inclusive="left").rename("is_gap"),
        ],
        axis=1,
    )
    left_out = [name for name in features.model_inputs(SPEC) if name not in available]
    context.log.info(
        f"training set {start_day}..{end_day}: {len(frame)} rows, {int(frame['is_holdout'].sum())} held out, "
        f"{int(frame['is_gap'].sum())} in the gap; {len(available)} inputs"
        + (f" (without {len(left_out)} of optional columns the data lacks)" if left_out else "")
    )
    return dg.Output(
        frame,
        metadata={
            "dagster/row_count": len(frame),
            "window": f"{start_day}..{end_day}",
            "days_refused": dg.MetadataValue.json(refused),
            "holdout_window": f"{holdout_start.date()}..{end_day}",
            "holdout_rows": int(frame["is_holdout"].sum()),
            "gap_days": config.gap_days,
            "fraud_share": round(float(frame["is_fraud"].mean()), 5) if len(frame) else 0.0,
            "without_customer_history": int((frame["has_history"] == 0).sum()),
            "inputs": len(available),
            "inputs_left_out": dg.MetadataValue.json(left_out),
            "engine": "spark" if spark.enabled else "pandas",
            "feature_statistics": dg.MetadataValue.md(feature_summary(inputs[list(available)], available)),
        },
    )
