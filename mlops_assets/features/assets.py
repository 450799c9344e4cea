"""Feature assets: entity features per day, the online store, and the training set."""

import contextlib
import io
import warnings
from collections.abc import Iterator

import dagster as dg
import pandas as pd
from pydantic import Field

from mlops_assets.lib import features
from mlops_assets.lib.feature_store import FEATURE_SERVICE, definitions
from mlops_assets.lib.point_in_time import historical_features
from mlops_assets.partitions import DAILY
from mlops_assets.resources import FeastResource, LakeResource
from mlops_assets.settings import Settings
from mlops_assets.validation import verdicts

# BackfillPolicy is beta in this Dagster release: its warning at every import would reach every terminal.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

# The deployment's feature windows, label delay and time zone (`MLOPS_*_WINDOWS`, ...): fixed for
# the life of the code location, since the partition mapping below and the Feast views follow them.
SPEC = Settings.from_env().features
# A day's features need the days before it that its longest window reaches, and the day itself.
WITH_HISTORY = dg.AssetIn(
    "validated_transactions",
    partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-SPEC.history_days, end_offset=0),
)


@contextlib.contextmanager
def _feast_output_to_log(context: dg.AssetExecutionContext) -> Iterator[None]:
    """Feast prints progress to stdout: it goes to the run's debug log instead of the terminal."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        yield
    if printed.getvalue().strip():
        context.log.debug(printed.getvalue())


def _summary(frame: pd.DataFrame, columns: tuple[str, ...]) -> dg.MetadataValue:
    """Mean, spread and range of each numeric column, as a table in the asset's metadata."""
    numeric = frame[[c for c in columns if c != "last_txn_at"]]
    return dg.MetadataValue.md(numeric.describe().T[["mean", "std", "min", "max"]].round(3).to_markdown())


@dg.multi_asset(
    outs={
        "customer_features": dg.AssetOut(
            io_manager_key="lake_io_manager",
            kinds={"parquet", "feast"},
            description="Each customer just after each of its transactions: windows, diversity, habits.",
        ),
        "merchant_features": dg.AssetOut(
            io_manager_key="lake_io_manager",
            kinds={"parquet", "feast"},
            description="Each merchant just after each of its transactions, with the fraud rate known then.",
        ),
    },
    ins={"validated_transactions": WITH_HISTORY},
    partitions_def=DAILY,
    # A backfill of many days is one run: each transaction's features read only rows before it, so
    # the whole range is computed at once from one read of its history.
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="features",
)
def entity_features(context: dg.AssetExecutionContext, validated_transactions: pd.DataFrame, lake: LakeResource):
    """Computes the customer and merchant feature rows of the day (or of each day of a backfill's
    range) from the days before it. A day whose latest validation failed a check is refused, and
    so are its rows in another day's history (`validation.verdicts`)."""
    days = list(context.partition_keys)
    first = pd.Timestamp(days[0], tz="UTC")
    last = pd.Timestamp(days[-1], tz="UTC")
    window = pd.date_range(first - pd.Timedelta(days=SPEC.history_days), last, freq="D").strftime("%Y-%m-%d")
    refused = verdicts.failed_days(lake.lake(), window)
    refused_in_range = {day: why for day, why in refused.items() if day in days}
    if refused_in_range:
        raise dg.Failure(
            "; ".join(f"validated_transactions {day} {why}" for day, why in sorted(refused_in_range.items()))
            + ": features wait until the day is validated again and passes"
        )
    refused_in_history = sorted(refused)
    history = validated_transactions
    if refused_in_history and len(history):
        dropped = pd.DatetimeIndex(refused_in_history, tz="UTC")
        history = history[~history["event_timestamp"].dt.floor("D").isin(dropped)]
    if history.empty:
        raise dg.Failure(f"no validated transactions up to {days[-1]}: ingest the days first")
    row_day = history["event_timestamp"].dt.strftime("%Y-%m-%d")
    range_rows = history[row_day.isin(days).to_numpy()]
    customer = features.customer_features(history, range_rows, SPEC)
    merchant = features.merchant_features(history, range_rows, SPEC)
    range_day = range_rows["event_timestamp"].dt.strftime("%Y-%m-%d").to_numpy()
    if len(days) == 1:
        customer_out, merchant_out = customer, merchant
    else:  # a frame per day of the range, for the lake's daily files
        customer_out = {day: customer[range_day == day].reset_index(drop=True) for day in days}
        merchant_out = {day: merchant[range_day == day].reset_index(drop=True) for day in days}
    yield dg.Output(
        customer_out,
        output_name="customer_features",
        metadata={
            "dagster/row_count": len(customer),
            "days": len(days),
            "customers": int(customer["customer_id"].nunique()),
            "history_rows": len(history),
            "history_days_refused": dg.MetadataValue.json(refused_in_history),
            "feature_statistics": _summary(customer, tuple(features.customer_feature_kinds(SPEC))),
        },
    )
    yield dg.Output(
        merchant_out,
        output_name="merchant_features",
        metadata={
            "dagster/row_count": len(merchant),
            "days": len(days),
            "merchants": int(merchant["merchant_id"].nunique()),
            "feature_statistics": _summary(merchant, tuple(features.merchant_feature_kinds(SPEC))),
        },
    )


@dg.asset(
    partitions_def=DAILY,
    deps=["customer_features", "merchant_features"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="features",
    kinds={"feast", "sqlite"},
)
def online_features(
    context: dg.AssetExecutionContext, feast: FeastResource, lake: LakeResource
) -> dg.MaterializeResult:
    """Applies the Feast repository and loads the day (or a backfill's range), and any later days,
    into the online store: one materialization, whatever the number of days."""
    start = pd.Timestamp(context.partition_keys[0], tz="UTC")
    # Later days too, in order: an older day must never overwrite newer online values.
    latest = max(lake.lake().partitions("customer_features"))
    end = pd.Timestamp(latest, tz="UTC") + pd.Timedelta(days=1, microseconds=1)
    with _feast_output_to_log(context):
        store = feast.store()
        store.apply(definitions())
        store.materialize(start_date=start.to_pydatetime(), end_date=end.to_pydatetime())
    return dg.MaterializeResult(
        metadata={"materialized_from": str(start.date()), "materialized_to": latest, "feature_service": FEATURE_SERVICE}
    )


def point_in_time_inputs(
    context: dg.AssetExecutionContext, feast: FeastResource, transactions: pd.DataFrame
) -> pd.DataFrame:
    """Model inputs of validated transactions, with the feature service's point-in-time values (the
    values Feast's offline join gives, by a faster join: `lib/point_in_time.py`) put through the
    same code path serving uses with online values."""
    entities = transactions[["transaction_id", "customer_id", "merchant_id", "event_timestamp"]]
    with _feast_output_to_log(context):
        store = feast.store()
    return features.model_input(transactions, historical_features(store, entities, FEATURE_SERVICE), SPEC)


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
    deps=["online_features"],
    group_name="features",
    kinds={"feast", "parquet"},
    io_manager_key="lake_io_manager",
)
def training_set(
    context: dg.AssetExecutionContext, config: TrainingSetConfig, feast: FeastResource, lake: LakeResource
) -> dg.Output[pd.DataFrame]:
    """Labelled transactions of the window with their point-in-time features, as model inputs (those
    the data's columns give), and which of them are held out for evaluation or lie in the gap."""
    if not 0 < config.holdout_days < config.days - config.gap_days or config.gap_days < 0:
        raise dg.Failure(
            f"holdout_days ({config.holdout_days}) must be at least 1 and leave training days beside "
            f"gap_days ({config.gap_days}) in days ({config.days})"
        )
    table = lake.lake()
    days = table.partitions("validated_transactions")
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
    transactions = pd.concat([table.read("validated_transactions", day) for day in window], ignore_index=True)
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
            "feature_statistics": _summary(inputs[list(available)], available),
        },
    )
