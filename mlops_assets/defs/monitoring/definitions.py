"""The monitoring loop as Dagster sees it: drift reports, the review of each promotion, the decision
log, shadow scores, their jobs and the sensors that drive them."""

import dagster as dg

from mlops_assets.defs.monitoring.assets import drift_report, drift_report_html
from mlops_assets.defs.monitoring.decisions import retrain_decisions
from mlops_assets.defs.monitoring.jobs import landed_day_job, monitoring_job, shadow_job
from mlops_assets.defs.monitoring.review import champion_review
from mlops_assets.defs.monitoring.rollout import rollout_report
from mlops_assets.defs.monitoring.sensors import drift_report_sensor, drift_retrain_sensor, shadow_sensor
from mlops_assets.defs.monitoring.shadow import shadow_scores


def definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[drift_report, drift_report_html, champion_review, rollout_report, retrain_decisions, shadow_scores],
        jobs=[monitoring_job, landed_day_job, shadow_job],
        sensors=[drift_report_sensor, drift_retrain_sensor, shadow_sensor],
    )
