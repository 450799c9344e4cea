"""`validated_transactions` and `quarantined_transactions`, split from the raw day by the contract."""

import dagster as dg
import pandas as pd
from pydantic import Field

from mlops_assets.defs.partitions import DAILY
from mlops_assets.defs.validation import checks, verdicts
from mlops_assets.keys import QUARANTINED_TRANSACTIONS, VALIDATED_TRANSACTIONS
from mlops_assets.lib.data.contract import SOURCE_FILE
from mlops_assets.lib.data.labels import apply_labels
from mlops_assets.lib.data.validation import validate_day
from mlops_assets.resources.lake import LakeResource, LandingResource


class ValidationConfig(dg.Config):
    max_quarantine_share: float = Field(
        default=0.05,
        description="Largest share of a day's rows that may be quarantined before the day is blocked.",
    )


@dg.multi_asset(
    outs={
        VALIDATED_TRANSACTIONS: dg.AssetOut(
            io_manager_key="lake_io_manager",
            kinds={"parquet", "pandera"},
            description="Transactions that keep every rule of the landing contract, typed.",
        ),
        QUARANTINED_TRANSACTIONS: dg.AssetOut(
            io_manager_key="lake_io_manager",
            kinds={"parquet", "pandera"},
            description="Rows that break a rule: their raw values and `reasons` naming each `column: rule`.",
        ),
    },
    partitions_def=DAILY,
    group_name="validation",
    check_specs=checks.CHECK_SPECS,
)
def validate_transactions(
    context: dg.AssetExecutionContext,
    config: ValidationConfig,
    raw_transactions: pd.DataFrame,
    landing: LandingResource,
    lake: LakeResource,
):
    """Splits the day's raw rows into validated and quarantined, applies the late labels that
    have arrived for them (`POST /feedback`, label files), then checks the result. The checks'
    verdict is also kept in the lake (`validation.verdicts`), so later runs refuse a failed day."""
    day = context.partition_key
    files = sorted(raw_transactions[SOURCE_FILE].unique()) if len(raw_transactions) else []
    result = validate_day(raw_transactions, day, landing.index().duplicate_rows(files))
    valid, late_labels = apply_labels(result.valid, landing.labels().read())
    share = len(result.quarantined) / len(raw_transactions) if len(raw_transactions) else 0.0
    check_results = [
        checks.schema_holds(valid),
        checks.rows_reconcile(raw_transactions, valid, result.quarantined),
        checks.quarantine_share(len(raw_transactions), result.quarantined, config.max_quarantine_share),
        checks.ids_unique_across_partitions(valid, lake.lake(), day),
    ]
    verdicts.record(lake.lake(), day, check_results, context.run_id)

    yield dg.Output(
        valid,
        output_name=VALIDATED_TRANSACTIONS,
        metadata={
            "dagster/row_count": len(valid),
            "rows_quarantined": len(result.quarantined),
            "quarantine_share": round(share, 6),
            "fraud_labels": int(valid["is_fraud"].sum()),
            "unlabelled_rows": int(valid["is_fraud"].isna().sum()),
            "late_labels_applied": late_labels,
        },
    )
    yield dg.Output(
        result.quarantined,
        output_name=QUARANTINED_TRANSACTIONS,
        metadata={
            "dagster/row_count": len(result.quarantined),
            "reasons": dg.MetadataValue.md(checks.reason_counts(result.quarantined).to_markdown()),
        },
    )
    yield from check_results
