"""`retrain_job`: a fresh training set, the three candidates, their evaluation, the promotion, the
Bento and the portable files; `training_set_job`: the training set alone (after `mlops backfill`'s features)."""

import dagster as dg

from mlops_assets.keys import (
    BASELINE_MODEL,
    BAYESIAN_NETWORK,
    BENTO,
    CHAMPION_MODEL,
    MODEL_EVALUATION,
    ONNX_MODEL,
    RETRAIN_JOB,
    TRAINING_SET,
    TRAINING_SET_JOB,
    XGBOOST_MODEL,
)
from mlops_assets.lib.spark.conf import DRIVER_STEP_K8S_CONFIG

retrain_job = dg.define_asset_job(
    RETRAIN_JOB,
    selection=dg.AssetSelection.assets(
        TRAINING_SET,
        XGBOOST_MODEL,
        BASELINE_MODEL,
        BAYESIAN_NETWORK,
        MODEL_EVALUATION,
        CHAMPION_MODEL,
        BENTO,
        ONNX_MODEL,
    ),
    description=(
        "Retrains every candidate on the latest window, evaluates them, promotes one if it passes "
        "and packages the champion as a Bento and as ONNX."
    ),
    # One process: the steps share one MLflow run and one sqlite store, and the models are trained
    # one after another on two cores anyway.
    executor_def=dg.in_process_executor,
    # So the run's own pod is where the training set's Spark driver runs (MLOPS_ENGINE=spark).
    tags={"dagster-k8s/config": DRIVER_STEP_K8S_CONFIG},
)

training_set_job = dg.define_asset_job(
    TRAINING_SET_JOB, selection=dg.AssetSelection.assets(TRAINING_SET), description="The training set."
)
