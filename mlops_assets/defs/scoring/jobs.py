"""`scoring_job`: a day (or a backfill's range of days) scored, then its investigators' queue."""

import dagster as dg

from mlops_assets.keys import ALERT_QUEUE, SCORED_TRANSACTIONS, SCORING_JOB

scoring_job = dg.define_asset_job(
    SCORING_JOB,
    selection=dg.AssetSelection.assets(SCORED_TRANSACTIONS, ALERT_QUEUE),
    description="Every transaction of the day scored by the champion (or a named version), then the day's queue.",
)
