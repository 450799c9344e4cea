"""`champion_review`: after a promotion, the new champion against the one it replaced on the
labelled days that follow (`lib.review`); if it lost, the `champion` alias moves back. Each
promotion is reviewed once, and the verdict (`keep` or `rollback`) is a `retrain_decisions` row."""

import dagster as dg
import pandas as pd

from mlops_assets.defs.features.assets import point_in_time_inputs
from mlops_assets.defs.monitoring.assets import drift_report
from mlops_assets.defs.monitoring.decisions import record_outcome
from mlops_assets.defs.partitions import DAILY
from mlops_assets.keys import VALIDATED_TRANSACTIONS, review_key
from mlops_assets.lib.loop.retraining import Decision, DecisionLog
from mlops_assets.lib.modelling.registry import CHAMPION, reference_end
from mlops_assets.lib.quality.review import ReviewPolicy, review
from mlops_assets.resources.feature_store import FeastResource
from mlops_assets.resources.lake import LakeResource
from mlops_assets.resources.model_registry import ModelRegistryResource


class ReviewConfig(ReviewPolicy, dg.Config):
    """The review policy (`lib.quality.review.ReviewPolicy`), set in the launchpad or in code."""


@dg.asset(
    partitions_def=DAILY,
    deps=[drift_report],
    group_name="monitoring",
    kinds={"mlflow"},
    io_manager_key="record_io_manager",
)
def champion_review(
    context: dg.AssetExecutionContext,
    config: ReviewConfig,
    model_registry: ModelRegistryResource,
    feast: FeastResource,
    lake: LakeResource,
) -> dg.Output[dict]:
    """Keeps the latest promotion or rolls it back, once its first labelled days are in."""
    registry = model_registry.registry()
    champion = registry.alias(CHAMPION)
    if champion is None:
        raise dg.Failure("no champion yet: nothing to review")
    day, table = context.partition_key, lake.lake()
    history = registry.champion_history()
    previous = history[-2] if len(history) >= 2 and history[-1] == champion.version else None
    done = DecisionLog(table).get(review_key(champion.version))

    def status(text: str, **figures) -> dg.Output[dict]:
        record = {"day": day, "champion_version": champion.version, "status": text, **figures}
        return dg.Output(record, metadata={key: value for key, value in record.items() if value is not None})

    if previous is None:
        return status("nothing to review: the first champion")
    if done is not None:
        return status(f"reviewed on {done.day}: {done.action}", previous_version=previous)
    after = reference_end(champion)
    days = [d for d in table.partitions(VALIDATED_TRANSACTIONS) if after < d <= day][: config.review_days]
    if len(days) < config.review_days:
        waiting = f"waiting: {len(days)} of {config.review_days} days after the promotion"
        return status(waiting, previous_version=previous)
    transactions = pd.concat([table.read(VALIDATED_TRANSACTIONS, d) for d in days], ignore_index=True)
    transactions = transactions[transactions["is_fraud"].notna()].reset_index(drop=True)
    frauds = int(transactions["is_fraud"].sum())
    if frauds < config.min_frauds:
        return status(f"waiting for labels: {frauds} of {config.min_frauds} frauds", previous_version=previous)
    inputs = point_in_time_inputs(context, feast, transactions)
    labels = transactions["is_fraud"].astype("int64").to_numpy()
    verdict = review(
        labels,
        registry.load(champion.version).predict_proba(inputs),
        registry.load(previous).predict_proba(inputs),
        config,
    )
    if verdict.action == "rollback":
        registry.rollback(to_version=previous)
    context.log.info(f"champion v{champion.version}: {verdict.action}: {verdict.reason}")
    record_outcome(
        context,
        lake,
        Decision(
            key=review_key(champion.version),
            action=verdict.action,
            reason=f"{verdict.reason} on {days[0]}..{days[-1]}",
            day=day,
            champion_version=champion.version,
            version=previous if verdict.action == "rollback" else champion.version,
            run_id=context.run.run_id,
        ),
    )
    return status(
        verdict.action,
        previous_version=previous,
        days=f"{days[0]}..{days[-1]}",
        rows=len(transactions),
        frauds=frauds,
        pr_auc=round(verdict.new_pr_auc, 4),
        previous_pr_auc=round(verdict.previous_pr_auc, 4),
        gap_low=round(verdict.gap_low, 4),
        gap_high=round(verdict.gap_high, 4),
    )
