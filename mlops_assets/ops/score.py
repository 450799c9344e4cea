"""`mlops score`: one day scored and queued through Dagster's `scoring_job`, in this process."""

from __future__ import annotations

from mlops_assets.keys import ALERT_QUEUE, CUSTOMER_FEATURES, SCORED_TRANSACTIONS, SCORING_JOB, VALIDATED_TRANSACTIONS
from mlops_assets.ops.instance import CommandError, open_instance, open_lake, open_registry
from mlops_assets.settings import Settings

HEAD = 10  # cards of the queue printed


def score_day(settings: Settings, day: str, version: str | None, capacity: int) -> list[str]:
    """Scores `day` (with `version`, or the champion) and builds its queue; the lines to print."""
    import dagster as dg

    from mlops_assets.definitions import build_definitions
    from mlops_assets.lib.modelling.registry import CHAMPION
    from mlops_assets.ops.runs import QUIET, first_error
    from mlops_assets.resources import build_resources

    lake = open_lake(settings)
    if not lake.exists(VALIDATED_TRANSACTIONS, day):
        raise CommandError(f"--day {day} has no validated transactions: land and ingest it first (`mlops ingest`)")
    if not lake.exists(CUSTOMER_FEATURES, day):
        raise CommandError(
            f"--day {day} has no features yet: run `mlops backfill` (or `mlops up`, whose sensors build them)"
        )
    registry = open_registry(settings)
    if version is not None and registry.version(version) is None:
        raise CommandError(f"--version {version} is not a registered version of {registry.model_name}")
    if version is None and registry.alias(CHAMPION) is None:
        raise CommandError("no champion yet: run `mlops retrain` first, or pass --version")
    ops = {"alert_queue": {"config": {"capacity": capacity}}}
    if version is not None:
        ops["scored_transactions"] = {"config": {"version": version}}
    with open_instance(settings) as instance:
        job = build_definitions(build_resources(settings)).resolve_job_def(SCORING_JOB)
        result = job.execute_in_process(
            instance=instance, partition_key=day, run_config={**QUIET, "ops": ops}, raise_on_error=False
        )
        if not result.success:
            raise CommandError(f"scoring_job failed: {first_error(result)}")
        queued = instance.get_latest_materialization_event(dg.AssetKey(ALERT_QUEUE)).asset_materialization
    scored, queue = lake.read(SCORED_TRANSACTIONS, day), lake.read(ALERT_QUEUE, day)
    by = scored["model_version"].iloc[0] if len(scored) else "-"
    lines = [
        f"{day}: {len(scored):,} transactions scored by version {by}, {int(scored['is_fraud'].sum()):,} flagged; "
        f"{len(queue)} cards queued (capacity {capacity}) (run {result.run_id})",
    ]
    precision = queued.metadata.get("card_precision_at_capacity")
    if precision is not None:
        lines.append(f"card precision of the queue, on the labels known: {precision.value:.3f}")
    for card in queue.head(HEAD).itertuples():
        lines.append(
            f"  {card.rank:>3}. card {card.customer_id}: P(fraud) {card.fraud_probability:.3f}, "
            f"transactions {card.transaction_ids}; {card.factors}"
        )
    return lines
