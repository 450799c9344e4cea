"""Batch scoring as Dagster sees it: the scored day and the investigators' queue, kept up with
the days and their labels."""

import dagster as dg

from mlops_assets.defs.scoring.assets import alert_queue, scored_transactions
from mlops_assets.defs.scoring.jobs import scoring_job
from mlops_assets.defs.scoring.sensors import scoring_sensor


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=[scored_transactions, alert_queue], jobs=[scoring_job], sensors=[scoring_sensor])
