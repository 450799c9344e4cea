"""`retrain_schedule`: retraining on a calendar, beside the drift sensor's retraining on evidence."""

import dagster as dg

from mlops_assets.defs.training.jobs import retrain_job
from mlops_assets.keys import REASON_TAG


def retrain_schedule(cron: str) -> dg.ScheduleDefinition:
    """Retrains on a calendar (`reason` `schedule`): stopped until someone starts it in the UI."""
    return dg.ScheduleDefinition(
        name="retrain_schedule",
        job=retrain_job,
        cron_schedule=cron,
        execution_timezone="UTC",
        tags={REASON_TAG: "schedule"},
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Retrains every candidate on the latest window on a calendar; off until started.",
    )
