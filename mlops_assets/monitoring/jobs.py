"""`monitoring_job`: a day's drift report (and the review of a newly promoted champion)."""

import dagster as dg

from mlops_assets.monitoring.assets import drift_report

monitoring_job = dg.define_asset_job(
    "monitoring_job",
    selection=dg.AssetSelection.assets(drift_report),
    description="The day's drift report against the champion.",
)
