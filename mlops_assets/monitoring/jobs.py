"""`monitoring_job`: a day's drift report, then its HTML and the review of the latest promotion.
`landed_day_job`: a new day from its landing file to its drift verdict, in one run.
`shadow_job`: a day's shadow scores gathered from the service's fragments."""

import warnings

import dagster as dg

from mlops_assets.features.assets import entity_features, online_features
from mlops_assets.ingestion.assets import raw_transactions
from mlops_assets.monitoring.assets import drift_report, drift_report_html
from mlops_assets.monitoring.review import champion_review
from mlops_assets.monitoring.shadow import shadow_scores
from mlops_assets.validation.assets import validate_transactions

monitoring_job = dg.define_asset_job(
    "monitoring_job",
    selection=dg.AssetSelection.assets(drift_report, drift_report_html, champion_review),
    description="The day's drift report against the champion, its Evidently HTML, and the review of the "
    "latest promotion.",
)

# What `ingest_job`, `features_job` and `monitoring_job` do for a day, as one run: each run pays
# seconds of process start-up and imports before its first step, and the day's verdict waited for
# three of them, each also waiting for its sensor's tick and the queue (`landing_sensor` decides
# when a day can take this path).
landed_day_job = dg.define_asset_job(
    "landed_day_job",
    selection=dg.AssetSelection.assets(
        raw_transactions,
        validate_transactions,
        entity_features,
        online_features,
        drift_report,
        drift_report_html,
        champion_review,
    ),
    description="A new day from its landing file to its drift verdict in one run: raw, validated and "
    "quarantined transactions with their checks, features and the online store, then the drift report "
    "against the champion, its HTML and the review of the latest promotion.",
)
# Its runs are each one day (a sensor's request); a range goes through the stages' own jobs. So
# Dagster's notice that the features' single-run backfill policy gives way to one run per day in
# this job says nothing a user must act on.
warnings.filterwarnings("ignore", message="Asset job landed_day_job materializes assets with varying BackfillPolicies")

shadow_job = dg.define_asset_job(
    "shadow_job",
    selection=dg.AssetSelection.assets(shadow_scores),
    description="A day's champion and challenger scores of live traffic, with the labels known for it.",
)
