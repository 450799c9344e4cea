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
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.featurize import features
from mlops_assets.lib.featurize.point_in_time import ViewJoin, historical_features, view_joins
from mlops_assets.lib.spark import engine as spark_engine
from mlops_assets.lib.spark.conf import DRIVER_STEP_K8S_CONFIG
from mlops_assets.resources.feature_store import FeastResource
from mlops_assets.resources.lake import LakeResource
from mlops_assets.resources.spark import SparkResource
from mlops_assets.settings import Settings

# BackfillPolicy is beta in this Dagster release: its warning at every import would reach every terminal.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

# The deployment's feature windows, label delay and time zone (`MLOPS_*_WINDOWS`, ...): fixed for
# the life of the code location, since the partition mapping below and the Feast views follow them.
SPEC = Settings.from_env().features
# A day's features need the days before it that its longest window reaches, and the day itself.
WITH_HISTORY = dg.AssetDep(
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


def feature_summary(frame: pd.DataFrame, columns: tuple[str, ...]) -> str:
    """Mean, spread and range of each numeric column, as a Markdown table for the asset's metadata."""
    numeric = frame[[c for c in columns if c != "last_txn_at"]]
    return numeric.describe().T[["mean", "std", "min", "max"]].round(3).to_markdown()


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            CUSTOMER_FEATURES,
            deps=[WITH_HISTORY],
            kinds={"parquet", "feast"},
            description="Each customer just after each of its transactions: windows, diversity, habits.",
            group_name="features",
        ),
        dg.AssetSpec(
            MERCHANT_FEATURES,
            deps=[WITH_HISTORY],
            kinds={"parquet", "feast"},
            description="Each merchant just after each of its transactions, with the fraud rate known then.",
            group_name="features",
        ),
    ],
    partitions_def=DAILY,
    # A backfill of many days is one run: each transaction's features read only rows before it, so
    # the whole range is computed at once from one read of its history.
    backfill_policy=dg.BackfillPolicy.single_run(),
    op_tags={"dagster-k8s/config": DRIVER_STEP_K8S_CONFIG},
)
def entity_features(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource):
    """Computes the customer and merchant feature rows of the day (or of each day of a backfill's
    range) from the days before it, with the deployment's engine (pandas here, or Spark:
    `MLOPS_ENGINE`), and writes a lake table per day. A day whose latest validation failed a check
    is refused, and so are its rows in another day's history (`validation.verdicts`)."""
    days = list(context.partition_keys)
    table = lake.lake()
    first = pd.Timestamp(days[0]) - pd.Timedelta(days=SPEC.history_days)
    window = pd.date_range(first, days[-1], freq="D").strftime("%Y-%m-%d")
    refused = verdicts.failed_days(table, window)
    refused_in_range = {day: why for day, why in refused.items() if day in days}
    if refused_in_range:
        raise dg.Failure(
            "; ".join(f"validated_transactions {day} {why}" for day, why in sorted(refused_in_range.items()))
            + ": features wait until the day is validated again and passes"
        )
    history_days = [day for day in window if day not in refused and table.exists(VALIDATED_TRANSACTIONS, day)]
    history_rows = sum(table.row_count(VALIDATED_TRANSACTIONS, day) for day in history_days)
    if not history_rows:
        raise dg.Failure(f"no validated transactions up to {days[-1]}: ingest the days first")
    if spark.enabled:
        written = spark_engine.write_entity_features(spark, table, history_days, days, history_rows, SPEC)
    else:
        written = _pandas_entity_features(table, history_days, days)
    shared = {
        "days": len(days),
        "history_rows": history_rows,
        "history_days_refused": dg.MetadataValue.json(sorted(refused)),
    }
    for key, (paths, stats) in written.items():
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                **stats,
                **shared,
                "engine": "spark" if spark.enabled else "pandas",
                "feature_statistics": dg.MetadataValue.md(stats["feature_statistics"]),
                "path": dg.MetadataValue.path(paths[-1]),
                "days_written": len(paths),
            },
        )


def _pandas_entity_features(table: Lake, history_days: list[str], days: list[str]) -> dict[str, tuple]:
    """The pandas engine: the history in memory, the features of the range's rows, a file per
    day; per asset, the paths written and the metadata of its rows."""
    # Only the columns the features read: the others (ids, categories, lineage) are text, which
    # pandas holds as one Python object per value, and were most of a history's memory.
    present = table.empty(VALIDATED_TRANSACTIONS, history_days[-1]).columns
    columns = [name for name in features.HISTORY_COLUMNS if name in present]
    history = pd.concat(
        [table.read(VALIDATED_TRANSACTIONS, day, columns=columns) for day in history_days], ignore_index=True
    )
    row_day = history["event_timestamp"].dt.strftime("%Y-%m-%d")
    range_rows = history[row_day.isin(days).to_numpy()]
    range_day = range_rows["event_timestamp"].dt.strftime("%Y-%m-%d").to_numpy()
    written = {}
    for key, compute, kinds, entity in (
        (CUSTOMER_FEATURES, features.customer_features, features.customer_feature_kinds(SPEC), "customer"),
        (MERCHANT_FEATURES, features.merchant_features, features.merchant_feature_kinds(SPEC), "merchant"),
    ):
        rows = compute(history, range_rows, SPEC)
        paths = [table.write(key, rows[range_day == day].reset_index(drop=True), day) for day in days]
        stats = {
            "dagster/row_count": len(rows),
            f"{entity}s": int(rows[f"{entity}_id"].nunique()),
            "feature_statistics": feature_summary(rows, tuple(kinds)),
        }
        written[key] = (paths, stats)
    return written


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


def feature_views(context: dg.AssetExecutionContext, feast: FeastResource) -> list[ViewJoin]:
    """The feature service's views, as the point-in-time joins read them from the Feast registry."""
    with _feast_output_to_log(context):
        store = feast.store()
    return view_joins(store, store.get_feature_service(FEATURE_SERVICE))


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
