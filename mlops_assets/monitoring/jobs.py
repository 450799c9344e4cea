"""`monitoring_job`: a day's drift report, then its HTML and the review of the latest promotion.
`shadow_job`: a day's shadow scores gathered from the service's fragments."""

import dagster as dg

from mlops_assets.monitoring.assets import drift_report, drift_report_html
from mlops_assets.monitoring.review import champion_review
from mlops_assets.monitoring.shadow import shadow_scores

monitoring_job = dg.define_asset_job(
    "monitoring_job",
    selection=dg.AssetSelection.assets(drift_report, drift_report_html, champion_review),
    description="The day's drift report against the champion, its Evidently HTML, and the review of the "
    "latest promotion.",
)

shadow_job = dg.define_asset_job(
    "shadow_job",
    selection=dg.AssetSelection.assets(shadow_scores),
    description="A day's champion and challenger scores of live traffic, with the labels known for it.",
)
