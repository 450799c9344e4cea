"""`rollout_report`: each day, the rollout in progress (`lib.loop.rollout`) measured on the
labelled transactions of its stage, and moved on by the evidence (`lib.quality.canary`): from the
shadow to the canary once its shadow days are in, then promoted, aborted, or left to wait. Every
move is a `retrain_decisions` row with the numbers it rested on."""

import base64
from dataclasses import asdict

import dagster as dg
import pandas as pd

from mlops_assets.defs.features.assets import point_in_time_inputs
from mlops_assets.defs.monitoring.assets import drift_report
from mlops_assets.defs.monitoring.decisions import record_outcome
from mlops_assets.defs.partitions import DAILY
from mlops_assets.keys import ROLLOUT_REPORT, VALIDATED_TRANSACTIONS
from mlops_assets.lib.loop.rollout import (
    Rollout,
    abort_rollout,
    current_rollout,
    in_canary,
    promote_rollout,
    rollout_decision,
    to_canary,
)
from mlops_assets.lib.modelling.registry import CHAMPION
from mlops_assets.lib.quality.canary import CanaryPolicy, cost_gap, decide, outcome
from mlops_assets.lib.quality.plots import rollout_png
from mlops_assets.resources.feature_store import FeastResource
from mlops_assets.resources.lake import LakeResource
from mlops_assets.resources.model_registry import ModelRegistryResource


class RolloutConfig(CanaryPolicy, dg.Config):
    """The rollout policy (`lib.quality.canary.CanaryPolicy`), set in the launchpad or in code."""


def _evidence_png(table, rollout: Rollout, record: dict, config: RolloutConfig) -> bytes:
    """The cost gap at each look of this rollout's canary so far (the earlier days' reports, then
    this one), and each variant's cost on its own customers."""
    looks = []
    after = rollout.stage_after_day or ""
    for day in (d for d in table.record_names(ROLLOUT_REPORT) if after < d < record["day"]):  # this stage's only
        earlier = table.read_record(f"{ROLLOUT_REPORT}/{day}")
        if earlier.get("rollout") == record["rollout"] and earlier.get("cost_gap") is not None:
            looks.append((day, earlier["cost_gap"], earlier["cost_gap_low"], earlier["cost_gap_high"]))
    looks.append((record["day"], record["cost_gap"], record["cost_gap_low"], record["cost_gap_high"]))
    outcomes = {f"{o['variant']} v{o['version']}": o["cost_per_1000"] for o in record["outcomes"]}
    return rollout_png(looks, outcomes, config.margin * record["champion_cost_per_1000"])


def _outcomes_table(outcomes: list[dict]) -> str:
    lines = [
        "| answered by | transactions | frauds | caught | false alarms | recall | precision | cost per 1,000 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        recall = "" if o["recall"] is None else f"{o['recall']:.3f}"
        precision = "" if o["precision"] is None else f"{o['precision']:.3f}"
        lines.append(
            f"| {o['variant']} v{o['version']} | {o['transactions']} | {o['frauds']} | {o['caught']} | "
            f"{o['false_alarms']} | {recall} | {precision} | {o['cost_per_1000']:.1f} |"
        )
    return "\n".join(lines)


@dg.asset(
    partitions_def=DAILY,
    deps=[drift_report],
    group_name="monitoring",
    kinds={"mlflow"},
    io_manager_key="record_io_manager",
)
def rollout_report(
    context: dg.AssetExecutionContext,
    config: RolloutConfig,
    model_registry: ModelRegistryResource,
    feast: FeastResource,
    lake: LakeResource,
) -> dg.Output[dict]:
    """The rollout in progress on the labelled days of its stage: each variant's outcome and the
    paired cost gap, then the move the evidence calls for (canary, promote, abort, or wait)."""
    registry, table, day = model_registry.registry(), lake.lake(), context.partition_key
    rollout = current_rollout(registry)

    def output(record: dict, rollout: Rollout | None) -> dg.Output[dict]:
        metadata = {key: value for key, value in record.items() if isinstance(value, str | int | float)}
        if record.get("outcomes"):
            metadata["outcomes"] = dg.MetadataValue.md(_outcomes_table(record["outcomes"]))
        if record.get("cost_gap") is not None:
            png = base64.b64encode(_evidence_png(table, rollout, record, config)).decode()
            metadata["evidence"] = dg.MetadataValue.md(f"![the rollout's evidence](data:image/png;base64,{png})")
        return dg.Output(record, metadata=metadata)

    def report(text: str, **figures) -> dg.Output[dict]:
        record = {"day": day, "status": text, "rollout": rollout.to_json() if rollout else None, **figures}
        return output(record, rollout)

    # A day looked at again (its drift report against a newer champion re-runs this asset) keeps
    # the move it made: the rollout has moved on since, and the day's evidence stays on record.
    earlier_key = f"{ROLLOUT_REPORT}/{day}"
    earlier = table.read_record(earlier_key) if table.exists_record(earlier_key) else None
    if earlier and earlier.get("decision") in ("canary", "promote", "abort"):
        return output(earlier, Rollout.from_json(earlier["rollout"]))

    if rollout is None:
        return report("no rollout in progress")
    after = rollout.stage_after_day or ""
    if day <= after:
        return report(f"{day} is before the {rollout.stage} stage of version {rollout.version} began")
    days = [d for d in table.partitions(VALIDATED_TRANSACTIONS) if after < d <= day]

    if rollout.stage == "shadow":
        if len(days) < config.shadow_days:
            return report(f"shadow: {len(days)} of {config.shadow_days} days", stage_days=len(days))
        moved = to_canary(registry, after_day=day)
        reason = (
            f"version {moved.version} scored {len(days)} day(s) in the shadow: it now answers "
            f"{moved.canary_share:.0%} of customers as a canary"
        )
        record_outcome(context, lake, rollout_decision(moved, "canary", reason, day=day))
        return report(reason, stage_days=len(days), decision="canary")

    champion = registry.alias(CHAMPION)
    transactions = pd.concat([table.read(VALIDATED_TRANSACTIONS, d) for d in days], ignore_index=True)
    labelled = transactions[transactions["is_fraud"].notna()].reset_index(drop=True)
    gap, outcomes, champion_cost = None, [], 0.0
    if len(labelled):
        inputs = point_in_time_inputs(context, feast, labelled)
        labels = labelled["is_fraud"].astype("int64").to_numpy()
        canary = next(v for v in registry.versions() if v.version == rollout.version)
        versions = {"champion": champion, "canary": canary}
        flagged = {}
        for variant, info in versions.items():
            model = registry.load(info.version)
            flagged[variant] = model.predict_proba(inputs) >= float(info.tags.get("threshold", 0.5))
        canary_rows = in_canary(labelled["customer_id"].to_numpy(), rollout.version, rollout.canary_share)
        for variant, rows in (("champion", ~canary_rows), ("canary", canary_rows)):
            answered = outcome(versions[variant].version, labels[rows], flagged[variant][rows], config.costs)
            outcomes.append(
                {"variant": variant, **asdict(answered), "recall": answered.recall, "precision": answered.precision}
            )
        champion_cost = outcome(champion.version, labels, flagged["champion"], config.costs).cost_per_1000
        gap = cost_gap(
            labels,
            labelled["customer_id"].to_numpy(),
            flagged["champion"],
            flagged["canary"],
            config.costs,
            config.confidence_per_look,
            config.resamples,
        )
    frauds = int(labelled["is_fraud"].sum()) if len(labelled) else 0
    decision, reason = decide(gap, champion_cost, frauds, len(days), config)
    figures = {
        "stage_days": len(days),
        "labelled_rows": len(labelled),
        "labelled_frauds": frauds,
        "outcomes": outcomes,
        "champion_cost_per_1000": champion_cost,
        "cost_gap": None if gap is None else gap.point,
        "cost_gap_low": None if gap is None else gap.low,
        "cost_gap_high": None if gap is None else gap.high,
        "decision": decision,
    }
    if decision == "promote":
        promote_rollout(registry)
    elif decision == "abort":
        abort_rollout(registry)
    if decision != "wait":
        record_outcome(context, lake, rollout_decision(rollout, decision, reason, day=day))
    context.log.info(f"rollout of version {rollout.version}: {decision}: {reason}")
    return report(reason, **figures)
