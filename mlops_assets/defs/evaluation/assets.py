"""Every candidate and the current champion scored on the same time-based holdout, the quality
gates applied, and the `champion` alias moved to the best candidate that passes them all.
Beside the holdout, the evaluation shows how the outgoing challenger did against the champion on
live traffic (the service's shadow scores), for whoever decides on a promotion."""

import base64
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from mlops_assets.defs.features.assets import SPEC
from mlops_assets.defs.monitoring.decisions import record_outcome
from mlops_assets.keys import (
    DRIFT_EVENT_TAG,
    DRIFT_REPORT_TAG,
    MLFLOW_OP_TAGS,
    REASON_TAG,
    drift_event_start,
    drift_report_record,
    outcome_key,
)
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.featurize import features
from mlops_assets.lib.loop.retraining import Decision
from mlops_assets.lib.loop.rollout import current_rollout, rollout_decision, save_rollout, start_rollout
from mlops_assets.lib.modelling.registry import CHALLENGER, CHAMPION
from mlops_assets.lib.quality.drift import recovery_tags
from mlops_assets.lib.quality.gates import GateThresholds, gate_failures
from mlops_assets.lib.quality.metrics import CostPolicy, evaluate, evaluate_new_cards, known_compromised
from mlops_assets.lib.quality.plots import evaluation_png
from mlops_assets.lib.quality.shadow import live_comparison, recent_scores
from mlops_assets.resources.lake import LakeResource, ReportsResource
from mlops_assets.resources.model_registry import ModelRegistryResource, mlflow_run_for_step

# Candidates are ranked by PR AUC: with about 1% fraud it is the threshold-free measure that moves
# with what investigators see (ROC AUC looks good for nearly any model).
RANK_BY = "pr_auc"


class EvaluationConfig(GateThresholds, CostPolicy, dg.Config):
    """The gates (`GateThresholds`), the costs of decisions (`CostPolicy`) and how candidates are measured."""

    max_fpr: float = Field(default=0.01, description="False-positive rate at which recall is measured.")
    top_k: int = Field(default=100, description="Cards an investigation team checks per day (card precision@k).")
    known_fraud_delay_days: float | None = Field(
        default=None,
        description="For the `*_new_cards` metrics: a card counts as known compromised this long after its first "
        "fraud, and its holdout rows from the next day on are left out (default: the features' label delay).",
    )
    live_days: int = Field(
        default=7, description="Days of shadow scores over which the challenger is compared with the champion."
    )


def _outcome(context: dg.AssetExecutionContext, action: str, reason: str, **fields) -> Decision:
    """The decision a retraining run ends with, linked to its run and the drift event behind it."""
    tags = context.run.tags
    return Decision(
        key=outcome_key(context.run.run_id),
        action=action,
        reason=f"{reason} (retrained for {tags.get(REASON_TAG, 'initial or manual')})",
        day=tags.get(DRIFT_REPORT_TAG),
        event_id=tags.get(DRIFT_EVENT_TAG),
        run_id=context.run.run_id,
        **fields,
    )


def pr_auc_before(lake: Lake, version: str, day: str, days: int = 7) -> list[float]:
    """The PR AUCs that the drift reports of the `days` days before `day` measured for `version`."""
    found = []
    for offset in range(days, 0, -1):
        key = drift_report_record((pd.Timestamp(day) - pd.Timedelta(days=offset)).strftime("%Y-%m-%d"))
        record = lake.read_record(key) if lake.exists_record(key) else None
        if record and record["champion_version"] == version and record.get("pr_auc") is not None:
            found.append(record["pr_auc"])
    return found


def _table(rows: dict[str, dict[str, float]]) -> str:
    frame = pd.DataFrame(rows).T
    return frame.round(4).to_markdown()


def _live_text(live: dict | None, days: int) -> str:
    if live is None:
        return f"No shadow scores of a challenger beside the champion in the last {days} days."
    title = (
        f"Challenger v{live['challenger_version']} beside champion v{live['champion_version']} "
        f"on live traffic (shadow scores, last {days} days):\n\n"
    )
    return title + pd.Series(live).drop(["champion_version", "challenger_version"]).to_frame("value").to_markdown()


@dg.asset(
    group_name="evaluation",
    kinds={"mlflow", "matplotlib"},
    io_manager_key="record_io_manager",
    op_tags=MLFLOW_OP_TAGS,
)
def model_evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    model_registry: ModelRegistryResource,
    reports: ReportsResource,
    lake: LakeResource,
    mlflow: dg.ResourceParam[Any],
    training_set: pd.DataFrame,
    xgboost_model: dict,
    baseline_model: dict,
    bayesian_network: dict,
) -> dg.Output[dict]:
    """Candidates and the champion side by side on the holdout days: ranking, calibration, cost."""
    holdout = training_set[training_set["is_holdout"]].reset_index(drop=True)
    if holdout["is_fraud"].nunique() < 2:
        raise dg.Failure("the holdout days need both fraud and legitimate transactions: widen `holdout_days`")
    registry = model_registry.registry()
    costs = config.costs
    scored: dict[str, tuple] = {}
    delay = (
        pd.Timedelta(SPEC.label_delay_length)
        if config.known_fraud_delay_days is None
        else pd.Timedelta(days=config.known_fraud_delay_days)
    )
    known = known_compromised(holdout, training_set.rename(columns={"is_fraud": "label"}), delay)

    def score(name: str, version: str) -> dict[str, float]:
        model = registry.load(version)
        # A champion trained where an optional column existed reads inputs this holdout may lack.
        scores = model.predict_proba(features.with_inputs(holdout, model.inputs, SPEC))
        scored[name] = (holdout["is_fraud"].to_numpy(), scores)
        frame = holdout[["event_timestamp", "customer_id"]].assign(label=holdout["is_fraud"], score=scores)
        metrics = evaluate(frame, max_fpr=config.max_fpr, top_k=config.top_k, costs=costs)
        return metrics | evaluate_new_cards(frame, known, top_k=config.top_k)

    champion, challenger = registry.alias(CHAMPION), registry.alias(CHALLENGER)
    live = None
    if champion is not None and challenger is not None and challenger.version != champion.version:
        live = live_comparison(recent_scores(lake.lake(), config.live_days), champion.version, challenger.version)
    champion_metrics = score(f"champion v{champion.version}", champion.version) if champion else None
    candidates = {}
    for record in (xgboost_model, baseline_model, bayesian_network):
        metrics = score(f"{record['kind']} v{record['version']}", record["version"])
        failures = gate_failures(metrics, champion_metrics, config)
        candidates[record["kind"]] = {
            "version": record["version"],
            "run_id": record["run_id"],
            "metrics": metrics,
            "failures": failures,
        }
        registry.set_tags(
            record["version"],
            {
                **{name: f"{value:.6g}" for name, value in metrics.items()},
                "holdout_rows": str(len(holdout)),
                "gates": "passed" if not failures else "failed: " + "; ".join(failures.values()),
            },
        )
        for name, value in metrics.items():
            mlflow.tracking_client.log_metric(record["run_id"], f"holdout_{name}", value)
    ranked = sorted(candidates, key=lambda kind: -candidates[kind]["metrics"][RANK_BY])
    passing = [kind for kind in ranked if not candidates[kind]["failures"]]
    registry.set_challenger(candidates[ranked[0]]["version"])

    days = holdout["event_timestamp"].dt.strftime("%Y-%m-%d")
    png = evaluation_png(scored)
    plot_path = reports.write(f"evaluation/{context.run.run_id}.png", png)
    record = {
        "holdout_window": f"{days.min()}..{days.max()}",
        "holdout_rows": len(holdout),
        "holdout_fraud_rows": int(holdout["is_fraud"].sum()),
        "holdout_rows_of_known_compromised_cards": int(known.sum()),
        "candidates": candidates,
        "ranked_by": RANK_BY,
        "best_passing": passing[0] if passing else None,
        "champion": None if champion is None else {"version": champion.version, "metrics": champion_metrics},
        "live_traffic": live,
        "plot": str(plot_path),
    }
    with mlflow_run_for_step(mlflow):
        with tempfile.TemporaryDirectory() as folder:  # MLflow logs local files
            local_plot = Path(folder) / f"{context.run.run_id}.png"
            local_plot.write_bytes(png)
            mlflow.log_artifact(str(local_plot), artifact_path="evaluation")
        mlflow.log_dict(record, "evaluation/evaluation.json")
    if not passing:
        verdicts_text = "; ".join(f"{kind}: {', '.join(c['failures'])}" for kind, c in candidates.items())
        champion_text = f"v{champion.version} stays" if champion else "no champion yet"
        record_outcome(
            context,
            lake,
            _outcome(
                context,
                "reject",
                f"no candidate passed the gates ({verdicts_text}); {champion_text}",
                champion_version=champion.version if champion else None,
                mlflow_run_id=mlflow.mlflow_run_id,
            ),
        )
    metrics_table = {f"{kind} v{c['version']}": c["metrics"] for kind, c in candidates.items()}
    if champion is not None:
        metrics_table[f"champion v{champion.version}"] = champion_metrics
    verdicts = {
        kind: "passed" if not c["failures"] else "; ".join(c["failures"].values()) for kind, c in candidates.items()
    }
    return dg.Output(
        record,
        metadata={
            "holdout_window": record["holdout_window"],
            "holdout_rows": len(holdout),
            "best_passing": record["best_passing"] or "none: the champion stays",
            "metrics": dg.MetadataValue.md(_table(metrics_table)),
            "gates": dg.MetadataValue.json(verdicts),
            "live_traffic": dg.MetadataValue.md(_live_text(live, config.live_days)),
            "plots": dg.MetadataValue.md(f"![evaluation](data:image/png;base64,{base64.b64encode(png).decode()})"),
            "plot_path": dg.MetadataValue.path(str(plot_path)),
        },
    )


class ChampionConfig(dg.Config):
    # Drift retrainings learn from a day or two of the new world and are evaluated on one day:
    # the thinnest evidence the loop promotes on, so they earn the traffic on live labels first.
    staged_rollout_for: list[str] = Field(
        default=["drift"],
        description="Reasons of a retraining (`initial`, `manual`, `schedule`, `drift`) whose best candidate goes "
        "through a staged rollout (shadow, then a canary, promoted on live evidence by `rollout_report`) instead "
        "of becoming champion on the gates; empty: every passing candidate becomes champion at once.",
    )
    canary_share: float = Field(default=0.2, ge=0, le=1, description="Share of customers a rollout's canary answers.")


@dg.asset(group_name="evaluation", kinds={"mlflow"}, io_manager_key="record_io_manager")
def champion_model(
    context: dg.AssetExecutionContext,
    config: ChampionConfig,
    model_registry: ModelRegistryResource,
    lake: LakeResource,
    model_evaluation: dict,
) -> dg.Output[dict]:
    """Moves the `champion` alias to the best candidate that passed every gate, or, for the reasons
    `staged_rollout_for` names, starts its staged rollout (the champion stays until it ends)."""
    best = model_evaluation["best_passing"]
    registry = model_registry.registry()
    previous = registry.alias(CHAMPION)
    if best is None:
        kept = f"version {previous.version}" if previous else "none"
        raise dg.Failure(f"no candidate passed the quality gates; the champion stays ({kept})")
    chosen = model_evaluation["candidates"][best]
    tags = {"promoted_by_run": context.run.run_id}
    event = context.run.tags.get(DRIFT_EVENT_TAG)
    if event and previous is not None:  # promoted for drift: it must recover the level before it
        start = drift_event_start(event)
        tags |= recovery_tags(previous.tags, start, pr_auc_before(lake.lake(), previous.version, start))
    registry.set_tags(chosen["version"], tags)  # before the alias moves: readers of the champion see them
    _supersede_rollout(context, registry, lake, chosen["version"])
    reason = context.run.tags.get(REASON_TAG, "initial" if previous is None else "manual")
    if previous is not None and reason.split(":")[0] in config.staged_rollout_for:
        return _start_rollout(context, registry, lake, model_evaluation, best, chosen, previous, config.canary_share)
    registry.promote(chosen["version"])
    context.log.info(f"champion: version {chosen['version']} ({best}), was {previous.version if previous else 'none'}")
    metrics = chosen["metrics"]
    record_outcome(
        context,
        lake,
        _outcome(
            context,
            "promote",
            f"{best} v{chosen['version']} passed every gate: PR AUC {metrics['pr_auc']:.3f} on "
            f"{model_evaluation['holdout_window']}, was v{previous.version if previous else 'none'}",
            champion_version=previous.version if previous else None,
            version=chosen["version"],
            mlflow_run_id=chosen["run_id"],
        ),
    )
    record = {
        "version": chosen["version"],
        "kind": best,
        "previous_version": previous.version if previous else None,
        "metrics": chosen["metrics"],
        "threshold": chosen["metrics"]["threshold"],
        "holdout_window": model_evaluation["holdout_window"],
    }
    return dg.Output(
        record,
        metadata={
            "champion_version": chosen["version"],
            "kind": best,
            "previous_version": record["previous_version"] or "none",
            "pr_auc": round(chosen["metrics"]["pr_auc"], 4),
            "threshold": chosen["metrics"]["threshold"],
        },
    )


def _supersede_rollout(context, registry, lake, version: str) -> None:
    """A rollout in progress ends when a newer candidate is promoted or rolled out instead (the
    aliases are this run's to set); its end is an `abort` row that says why."""
    pending = current_rollout(registry)
    if pending is None or pending.version == version:
        return
    save_rollout(registry, None)
    reason = f"the rollout of version {pending.version} ({pending.stage}) was superseded by version {version}"
    record_outcome(context, lake, rollout_decision(pending, "abort", reason, run_id=context.run.run_id))


def _start_rollout(context, registry, lake, model_evaluation, best, chosen, previous, share) -> dg.Output[dict]:
    """The staged rollout of the chosen candidate: challenger, in the shadow from the day after
    its holdout; the champion stays (and is what `bento` packages)."""
    after_day = model_evaluation["holdout_window"].split("..")[1]
    event = context.run.tags.get(DRIFT_EVENT_TAG)
    rollout = start_rollout(registry, chosen["version"], "shadow", share, after_day, event_id=event)
    reason = (
        f"{best} v{chosen['version']} passed every gate (PR AUC {chosen['metrics']['pr_auc']:.3f} on "
        f"{model_evaluation['holdout_window']}): in the shadow beside champion v{previous.version}, then a canary "
        f"for {share:.0%} of customers"
    )
    decision = rollout_decision(
        rollout, "shadow", reason, day=after_day, run_id=context.run.run_id, mlflow_run_id=chosen["run_id"]
    )
    record_outcome(context, lake, decision)
    context.log.info(f"rollout of version {rollout.version} started; champion v{previous.version} stays")
    record = {
        "version": previous.version,
        "kind": previous.tags.get("kind"),
        "previous_version": previous.version,
        "rollout_version": rollout.version,
        "metrics": chosen["metrics"],
        "threshold": float(previous.tags.get("threshold", 0.5)),
        "holdout_window": model_evaluation["holdout_window"],
    }
    metadata = {"champion_version": previous.version, "rollout_version": rollout.version, "stage": "shadow"}
    return dg.Output(record, metadata=metadata)
