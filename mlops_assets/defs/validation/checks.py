"""The data checks on `validated_transactions`, computed in the same step as the table.

All four block: a table that fails them must not flow on to features and training.
"""

import warnings

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from mlops_assets.defs.partitions import DAILY
from mlops_assets.keys import VALIDATED_TRANSACTIONS
from mlops_assets.lib.data.contract import REASONS, SOURCE_FILE
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.data.validation import TRANSACTION_SCHEMA

VALIDATED = dg.AssetKey(VALIDATED_TRANSACTIONS)

SCHEMA_HOLDS = "schema_holds"
ROWS_RECONCILE = "rows_reconcile"
QUARANTINE_SHARE = "quarantine_share_below_threshold"
IDS_UNIQUE = "transaction_id_unique_across_partitions"

# Partitioned check specs are a Dagster preview (1.13): they give each day its own check status in
# the UI, which is what a reader of a daily table needs. uv.lock pins the exact dagster release.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)
    CHECK_SPECS = [
        dg.AssetCheckSpec(
            SCHEMA_HOLDS,
            asset=VALIDATED,
            blocking=True,
            partitions_def=DAILY,
            description="Every validated row satisfies the pandera schema of the landing contract.",
        ),
        dg.AssetCheckSpec(
            ROWS_RECONCILE,
            asset=VALIDATED,
            blocking=True,
            partitions_def=DAILY,
            description="For every source file: rows read = rows validated + rows quarantined.",
        ),
        dg.AssetCheckSpec(
            QUARANTINE_SHARE,
            asset=VALIDATED,
            blocking=True,
            partitions_def=DAILY,
            description="The share of the day's rows sent to quarantine stays below the configured maximum.",
        ),
        dg.AssetCheckSpec(
            IDS_UNIQUE,
            asset=VALIDATED,
            blocking=True,
            partitions_def=DAILY,
            description="No transaction_id of the day appears in another validated partition.",
        ),
    ]


def schema_holds(valid: pd.DataFrame) -> dg.AssetCheckResult:
    try:
        TRANSACTION_SCHEMA.validate(valid, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        return dg.AssetCheckResult(
            check_name=SCHEMA_HOLDS,
            asset_key=VALIDATED,
            passed=False,
            metadata={"failures": len(cases), "sample": dg.MetadataValue.md(cases.head(20).to_markdown())},
        )
    return dg.AssetCheckResult(check_name=SCHEMA_HOLDS, asset_key=VALIDATED, passed=True)


def rows_reconcile(raw: pd.DataFrame, valid: pd.DataFrame, quarantined: pd.DataFrame) -> dg.AssetCheckResult:
    counts = (
        pd.DataFrame(
            {
                "read": raw[SOURCE_FILE].value_counts(),
                "validated": valid[SOURCE_FILE].value_counts(),
                "quarantined": quarantined[SOURCE_FILE].value_counts(),
            }
        )
        .fillna(0)
        .astype(int)
    )
    mismatched = counts[counts["read"] != counts["validated"] + counts["quarantined"]]
    return dg.AssetCheckResult(
        check_name=ROWS_RECONCILE,
        asset_key=VALIDATED,
        passed=mismatched.empty,
        metadata={
            "rows_read": len(raw),
            "rows_validated": len(valid),
            "rows_quarantined": len(quarantined),
            "per_file": dg.MetadataValue.md(counts.rename_axis("file").to_markdown()),
        },
    )


def quarantine_share(rows_read: int, quarantined: pd.DataFrame, max_share: float) -> dg.AssetCheckResult:
    share = len(quarantined) / rows_read if rows_read else 0.0
    return dg.AssetCheckResult(
        check_name=QUARANTINE_SHARE,
        asset_key=VALIDATED,
        passed=share <= max_share,
        metadata={
            "quarantine_share": round(share, 6),
            "max_quarantine_share": max_share,
            "top_reasons": dg.MetadataValue.md(reason_counts(quarantined).head(10).to_markdown()),
        },
    )


def ids_unique_across_partitions(valid: pd.DataFrame, lake: Lake, day: str) -> dg.AssetCheckResult:
    """Reads the ids of every other validated partition: the landing index's verdict, re-checked."""
    ids = pd.Index(valid["transaction_id"])
    clashes: dict[str, int] = {}
    for other in lake.partitions(VALIDATED.path[-1]):
        if other == day:
            continue
        other_ids = lake.read(VALIDATED.path[-1], other, columns=["transaction_id"])["transaction_id"]
        overlap = int(ids.isin(other_ids).sum())
        if overlap:
            clashes[other] = overlap
    return dg.AssetCheckResult(
        check_name=IDS_UNIQUE,
        asset_key=VALIDATED,
        passed=not clashes and ids.is_unique,
        metadata={
            "duplicates_within_day": int(ids.duplicated().sum()),
            "duplicates_in_other_partitions": dg.MetadataValue.json(clashes),
        },
    )


def reason_counts(quarantined: pd.DataFrame) -> pd.Series:
    """How many quarantined rows break each rule, most frequent first."""
    if quarantined.empty:
        return pd.Series(dtype="int64", name="rows")
    return quarantined[REASONS].str.split("; ").explode().value_counts().rename("rows").rename_axis("reason")
