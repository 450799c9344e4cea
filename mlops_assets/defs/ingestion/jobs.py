"""`ingest_job`: a day's raw transactions, then its validated and quarantined rows with their checks."""

import dagster as dg

from mlops_assets.keys import INGEST_JOB, QUARANTINED_TRANSACTIONS, RAW_TRANSACTIONS, VALIDATED_TRANSACTIONS

ingest_job = dg.define_asset_job(
    INGEST_JOB,
    selection=dg.AssetSelection.assets(RAW_TRANSACTIONS, VALIDATED_TRANSACTIONS, QUARANTINED_TRANSACTIONS),
    description="Raw, validated and quarantined transactions for one day, with their checks.",
)
