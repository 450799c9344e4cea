"""`scoring_sensor`: days the champion has not scored yet are scored once their features are
current, and a day's queue is ranked again when late labels re-validate the day, so that its card
precision is the live one.

A day that lands on its own is scored in its `landed_day_job`; this sensor covers the days that
come the other way (several files at once, a backfill of landing files) and the labels that come
after. Which days are due is read off the lake's write times, as the features sensor does."""

from dataclasses import dataclass

import dagster as dg

from mlops_assets.defs.features.sensors import in_progress, stale_feature_days
from mlops_assets.defs.scoring.jobs import scoring_job
from mlops_assets.keys import (
    ALERT_QUEUE,
    CUSTOMER_FEATURES,
    FEATURES_JOB,
    INGEST_JOB,
    LANDED_DAY_JOB,
    SCORED_TRANSACTIONS,
    VALIDATED_TRANSACTIONS,
    queue_run_key,
    scoring_run_key,
)
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.modelling.registry import CHAMPION, reference_end
from mlops_assets.resources.lake import LakeResource
from mlops_assets.resources.model_registry import ModelRegistryResource


@dataclass(frozen=True)
class DueDays:
    """Days to score (day -> when its features were written) and days whose queue is older than
    their labels (day -> when the day was validated)."""

    to_score: dict[str, int]
    to_queue: dict[str, int]


def due_days(lake: Lake, after: str) -> DueDays:
    """The days after `after` (the champion's reference: days it has not seen) with current
    features that have no scores, and the scored days whose validated rows are newer than their
    queue. A day already scored is never scored again here: its scores stay those of the champion
    that served it (re-scoring is a backfill with a version named)."""
    validated = lake.modified_ns(VALIDATED_TRANSACTIONS)
    features = lake.modified_ns(CUSTOMER_FEATURES)
    scored = lake.modified_ns(SCORED_TRANSACTIONS)
    queued = lake.modified_ns(ALERT_QUEUE)
    stale = stale_feature_days(lake)
    # A day with no features is stale too: every current day has its features.
    current = [day for day in sorted(validated) if day > after and day not in stale]
    return DueDays(
        to_score={day: features[day] for day in current if day not in scored},
        to_queue={day: validated[day] for day in current if day in scored and queued.get(day, -1) < validated[day]},
    )


@dg.sensor(job=scoring_job, minimum_interval_seconds=10, default_status=dg.DefaultSensorStatus.RUNNING)
def scoring_sensor(context: dg.SensorEvaluationContext, lake: LakeResource, model_registry: ModelRegistryResource):
    """Requests `scoring_job` for days the champion has not scored, and its queue alone for days
    whose labels changed; waits while days are being ingested or featurized."""
    if in_progress(context.instance, INGEST_JOB, FEATURES_JOB, LANDED_DAY_JOB):
        return dg.SkipReason("waiting for ingestion and feature runs to finish")
    champion = model_registry.registry().alias(CHAMPION)
    if champion is None:
        return dg.SkipReason("no champion to score with yet")
    after = reference_end(champion)
    due = due_days(lake.lake(), after)
    requests = [
        dg.RunRequest(run_key=scoring_run_key(day, written), partition_key=day) for day, written in due.to_score.items()
    ] + [
        dg.RunRequest(
            run_key=queue_run_key(day, validated), partition_key=day, asset_selection=[dg.AssetKey(ALERT_QUEUE)]
        )
        for day, validated in due.to_queue.items()
    ]
    if not requests:
        return dg.SkipReason(f"every day after {after} is scored and queued")
    return requests
