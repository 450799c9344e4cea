"""`monitoring_job`: a day's drift report, then its HTML, the review of the latest promotion and
the rollout in progress.
`landed_day_job`: a new day from its landing file to its drift verdict and its scored rows, in one run.
`shadow_job`: a day's shadow scores gathered from the service's fragments."""

import warnings

import dagster as dg

from mlops_assets.keys import (
    ALERT_QUEUE,
    CHAMPION_REVIEW,
    CUSTOMER_FEATURES,
    DRIFT_REPORT,
    DRIFT_REPORT_HTML,
    LANDED_DAY_JOB,
    MERCHANT_FEATURES,
    MONITORING_JOB,
    ONLINE_FEATURES,
    QUARANTINED_TRANSACTIONS,
    RAW_TRANSACTIONS,
    ROLLOUT_REPORT,
    SCORED_TRANSACTIONS,
    SHADOW_JOB,
    SHADOW_SCORES,
    VALIDATED_TRANSACTIONS,
)

monitoring_job = dg.define_asset_job(
    MONITORING_JOB,
    selection=dg.AssetSelection.assets(DRIFT_REPORT, DRIFT_REPORT_HTML, CHAMPION_REVIEW, ROLLOUT_REPORT),
    description="The day's drift report against the champion, its Evidently HTML, the review of the "
    "latest promotion, and the rollout in progress.",
)

# What `ingest_job`, `features_job` and `monitoring_job` do for a day, as one run: each run pays
# seconds of process start-up and imports before its first step, and the day's verdict waited for
# three of them, each also waiting for its sensor's tick and the queue (`landing_sensor` decides
# when a day can take this path).
landed_day_job = dg.define_asset_job(
    LANDED_DAY_JOB,
    selection=dg.AssetSelection.assets(
        RAW_TRANSACTIONS,
        VALIDATED_TRANSACTIONS,
        QUARANTINED_TRANSACTIONS,
        CUSTOMER_FEATURES,
        MERCHANT_FEATURES,
        ONLINE_FEATURES,
        DRIFT_REPORT,
        DRIFT_REPORT_HTML,
        CHAMPION_REVIEW,
        ROLLOUT_REPORT,
        SCORED_TRANSACTIONS,
        ALERT_QUEUE,
    ),
    description="A new day from its landing file to its drift verdict in one run: raw, validated and "
    "quarantined transactions with their checks, features and the online store, then the drift report "
    "against the champion, its HTML, the review of the latest promotion and the rollout in progress; "
    "and the day scored by the champion with its investigators' queue.",
)
# Its runs are each one day (a sensor's request); a range goes through the stages' own jobs. So
# Dagster's notice that the features' single-run backfill policy gives way to one run per day in
# this job says nothing a user must act on.
warnings.filterwarnings("ignore", message="Asset job landed_day_job materializes assets with varying BackfillPolicies")

shadow_job = dg.define_asset_job(
    SHADOW_JOB,
    selection=dg.AssetSelection.assets(SHADOW_SCORES),
    description="A day's champion and challenger scores of live traffic, with the labels known for it.",
)
