"""The ingestion stage as Dagster sees it: the raw asset, its job, and the landing sensor."""

import dagster as dg

from mlops_assets.defs.ingestion.assets import raw_transactions
from mlops_assets.defs.ingestion.jobs import ingest_job
from mlops_assets.defs.ingestion.sensors import landing_sensor


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=[raw_transactions], jobs=[ingest_job], sensors=[landing_sensor])
