"""The training stage as Dagster sees it: the training set and the three candidates, `retrain_job`
and `training_set_job`, and the calendar retraining (`retrain_cron`; stopped until started)."""

import dagster as dg

from mlops_assets.defs.training.assets import baseline_model, bayesian_network, xgboost_model
from mlops_assets.defs.training.jobs import retrain_job, training_set_job
from mlops_assets.defs.training.schedules import retrain_schedule
from mlops_assets.defs.training.training_set import training_set


def definitions(retrain_cron: str) -> dg.Definitions:
    return dg.Definitions(
        assets=[training_set, xgboost_model, baseline_model, bayesian_network],
        jobs=[retrain_job, training_set_job],
        schedules=[retrain_schedule(retrain_cron)],
    )
