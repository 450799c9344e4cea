"""Feature assets: entity features per day, and the online store."""

import contextlib
import io
import warnings
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from mlops_assets.defs.partitions import DAILY
from mlops_assets.defs.validation import verdicts
from mlops_assets.feature_store import definitions
from mlops_assets.keys import CUSTOMER_FEATURES, FEATURE_SERVICE, MERCHANT_FEATURES, VALIDATED_TRANSACTIONS
from mlops_assets.lib.featurize import features
from mlops_assets.lib.featurize.point_in_time import historical_features
from mlops_assets.resources.feature_store import FeastResource
from mlops_assets.resources.lake import LakeResource
from mlops_assets.settings import Settings

# BackfillPolicy is beta in this Dagster release: its warning at every import would reach every terminal.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

# The deployment's feature windows, label delay and time zone (`MLOPS_*_WINDOWS`, ...): fixed for
# the life of the code location, since the partition mapping below and the Feast views follow them.
SPEC = Settings.from_env().features
# A day's features need the days before it that its longest window reaches, and the day itself.
WITH_HISTORY = dg.AssetIn(
    VALIDATED_TRANSACTIONS,
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


def feature_summary(frame: pd.DataFrame, columns: tuple[str, ...]) -> dg.MetadataValue:
    """Mean, spread and range of each numeric column, as a table in the asset's metadata."""
    numeric = frame[[c for c in columns if c != "last_txn_at"]]
    return dg.MetadataValue.md(numeric.describe().T[["mean", "std", "min", "max"]].round(3).to_markdown())


@dg.multi_asset(
    outs={
        CUSTOMER_FEATURES: dg.AssetOut(
            io_manager_key="lake_io_manager",
            kinds={"parquet", "feast"},
            description="Each customer just after each of its transactions: windows, diversity, habits.",
        ),
        MERCHANT_FEATURES: dg.AssetOut(
            io_manager_key="lake_io_manager",
            kinds={"parquet", "feast"},
            description="Each merchant just after each of its transactions, with the fraud rate known then.",
        ),
    },
    ins={VALIDATED_TRANSACTIONS: WITH_HISTORY},
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
        output_name=CUSTOMER_FEATURES,
        metadata={
            "dagster/row_count": len(customer),
            "days": len(days),
            "customers": int(customer["customer_id"].nunique()),
            "history_rows": len(history),
            "history_days_refused": dg.MetadataValue.json(refused_in_history),
            "feature_statistics": feature_summary(customer, tuple(features.customer_feature_kinds(SPEC))),
        },
    )
    yield dg.Output(
        merchant_out,
        output_name=MERCHANT_FEATURES,
        metadata={
            "dagster/row_count": len(merchant),
            "days": len(days),
            "merchants": int(merchant["merchant_id"].nunique()),
            "feature_statistics": feature_summary(merchant, tuple(features.merchant_feature_kinds(SPEC))),
        },
    )


@dg.asset(
    partitions_def=DAILY,
    deps=[CUSTOMER_FEATURES, MERCHANT_FEATURES],
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
    latest = max(lake.lake().partitions(CUSTOMER_FEATURES))
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
    values Feast's offline join gives, by a faster join: `lib/featurize/point_in_time.py`) put through the
    same code path serving uses with online values."""
    entities = transactions[["transaction_id", "customer_id", "merchant_id", "event_timestamp"]]
    with _feast_output_to_log(context):
        store = feast.store()
    return features.model_input(transactions, historical_features(store, entities, FEATURE_SERVICE), SPEC)
