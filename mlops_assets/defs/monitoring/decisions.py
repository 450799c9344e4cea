"""`retrain_decisions`: every decision of the retraining loop, as one table in the Dagster UI.

The decisions live in the lake (`lib.retraining.DecisionLog`); whoever decides (the sensors, the
evaluation, the champion review) records there and reports a new materialization of this asset
whose metadata is the whole table, so the UI always shows the latest one.
"""

import dagster as dg

from mlops_assets.keys import RETRAIN_DECISIONS
from mlops_assets.lib.loop.retraining import Decision, DecisionLog, decisions_table
from mlops_assets.resources.lake import LakeResource

retrain_decisions = dg.AssetSpec(
    RETRAIN_DECISIONS,
    group_name="monitoring",
    description="Every decision of the retraining loop: retrain, skip and why, promote, reject, keep, roll back.",
    kinds={"json"},
)


def decisions_materialization(log: DecisionLog, new: list[Decision]) -> dg.AssetMaterialization:
    """A materialization of `retrain_decisions` showing every decision, after `new` were recorded."""
    decisions = log.all()
    latest = new[-1] if new else None
    return dg.AssetMaterialization(
        asset_key=RETRAIN_DECISIONS,
        description=f"{len(new)} new decision(s)",
        metadata={
            "decisions": dg.MetadataValue.md(decisions_table(decisions)),
            "count": len(decisions),
            "latest_action": latest.action if latest else "none",
            "latest_reason": latest.reason if latest else "",
        },
    )


def record_outcome(context: dg.AssetExecutionContext, lake: LakeResource, decision: Decision) -> None:
    """Records a decision taken inside a run and reports the table's new state from that run."""
    log = DecisionLog(lake.lake())
    log.record(decision)
    context.log_event(decisions_materialization(log, [decision]))
