"""`mlops retrain`: `retrain_job` on the local instance, and the evaluation it prints."""

import dagster as dg

from mlops_assets.definitions import build_definitions
from mlops_assets.keys import MODEL_EVALUATION, REASON_TAG, RETRAIN_JOB
from mlops_assets.ops.instance import CommandError, open_instance, open_lake
from mlops_assets.ops.runs import QUIET, first_error
from mlops_assets.resources import build_resources
from mlops_assets.settings import Settings


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
    return defs.resolve_job_def(RETRAIN_JOB).execute_in_process(
        instance=instance,
        run_config={**QUIET, "ops": ops_config or {}},
        tags={REASON_TAG: reason} if reason else None,
        asset_selection=[asset.key for asset in selection] if selection else None,
        raise_on_error=False,
    )


def retrain_champion(settings: Settings, reason: str | None, ops_config: dict | None = None) -> bool:
    """Runs `retrain_job`, prints the evaluation; True when a candidate became champion."""
    with open_instance(settings) as instance:
        result = retrain(build_definitions(build_resources(settings)), instance, reason, ops_config)
    # Gates that no candidate passes fail the run on purpose (blocking checks); anything else is an error.
    if not result.asset_materializations_for_node(MODEL_EVALUATION):
        raise CommandError(f"retrain_job failed: {first_error(result)}")
    evaluation = open_lake(settings).read_record(MODEL_EVALUATION)
    print(f"    holdout {evaluation['holdout_window']}: {evaluation['holdout_rows']:,} transactions")
    print(
        f"    {'model':<18} {'version':>7} {'PR AUC':>7} {'ROC AUC':>7} {'recall@FPR':>10} {'cost/1k':>8} "
        f"{'AP new':>7} {'CP@k new':>8}  gates"
    )
    for kind, candidate in evaluation["candidates"].items():
        metrics, failures = candidate["metrics"], candidate["failures"]
        print(
            f"    {kind:<18} {candidate['version']:>7} {metrics['pr_auc']:>7.3f} {metrics['roc_auc']:>7.3f} "
            f"{metrics['recall_at_fpr']:>10.3f} {metrics['expected_cost_per_1000']:>8.1f} "
            f"{metrics['pr_auc_new_cards']:>7.3f} {metrics['card_precision_at_k_new_cards']:>8.3f}  "
            + ("passed" if not failures else "; ".join(failures.values()))
        )
    print("    (new: on the cards not known to be compromised, as the Fraud Detection Handbook scores)")
    champion = evaluation["champion"]
    if evaluation["best_passing"] is None:
        kept = f"version {champion['version']}" if champion else "none yet"
        print(f"    no candidate passed the quality gates: the champion stays ({kept})")
        return False
    if not result.success:
        raise CommandError(f"retrain_job failed: {first_error(result)}")
    best = evaluation["candidates"][evaluation["best_passing"]]
    print(f"    champion: version {best['version']} ({evaluation['best_passing']})")
    return True
