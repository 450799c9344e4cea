"""`monitoring_job`: a day's drift report, then the review of the latest promotion."""

import dagster as dg

from mlops_assets.monitoring.assets import drift_report
from mlops_assets.monitoring.review import champion_review

monitoring_job = dg.define_asset_job(
    "monitoring_job",
    selection=dg.AssetSelection.assets(drift_report, champion_review),
    description="The day's drift report against the champion, and the review of the latest promotion.",
)
