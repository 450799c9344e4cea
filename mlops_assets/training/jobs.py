"""`retrain_job`: a fresh training set, the three candidates, their evaluation and the promotion."""

import dagster as dg

from mlops_assets.evaluation.assets import champion_model, model_evaluation
from mlops_assets.features.assets import training_set
from mlops_assets.runs import QUIET
from mlops_assets.serving.assets import bento
from mlops_assets.training.assets import REASON_TAG, baseline_model, bayesian_network, xgboost_model

retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.assets(
        training_set, xgboost_model, baseline_model, bayesian_network, model_evaluation, champion_model, bento
    ),
    description=(
        "Retrains every candidate on the latest window, evaluates them, promotes one if it passes "
        "and packages the champion as a Bento."
    ),
    # One process: the steps share one MLflow run and one sqlite store, and the models are trained
    # one after another on two cores anyway.
    executor_def=dg.in_process_executor,
)


def retrain(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    reason: str | None,
    ops_config: dict | None = None,
    selection: list[dg.AssetsDefinition] | None = None,
) -> dg.ExecuteInProcessResult:
    """Runs `retrain_job` (or the `selection` of its assets) on the instance with `reason` in the
    run's tags: it becomes the registered versions' `reason` tag; None leaves it to the models
    (`initial` while there is no champion, else `manual`). `ops_config` configures the assets."""
    return defs.resolve_job_def("retrain_job").execute_in_process(
        instance=instance,
        run_config={**QUIET, "ops": ops_config or {}},
        tags={REASON_TAG: reason} if reason else None,
        asset_selection=[asset.key for asset in selection] if selection else None,
        raise_on_error=False,
    )
