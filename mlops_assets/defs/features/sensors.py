"""`features_sensor`: features follow the validated transactions they are computed from.

Which days need features is derived from the lake: a day whose feature table is missing, or older
than any validated partition in its history (the feature windows' reach). Requests wait until no ingestion run is in
progress (`ingest_job`, or `landed_day_job`, which builds its day's features itself), so a day
never reads half-ingested history.
"""

import dagster as dg
import pandas as pd

from mlops_assets.defs.features.assets import SPEC
from mlops_assets.defs.features.jobs import consecutive_ranges, features_job
from mlops_assets.defs.validation import verdicts
from mlops_assets.keys import (
    CUSTOMER_FEATURES,
    INGEST_JOB,
    LANDED_DAY_JOB,
    ONLINE_STORE_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    VALIDATED_TRANSACTIONS,
    features_run_key,
)
from mlops_assets.lib.data.lake import Lake
from mlops_assets.resources.lake import LakeResource

IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def in_progress(instance: dg.DagsterInstance, *job_names: str) -> bool:
    """Whether a run of any of these jobs is queued or running."""
    return any(
        instance.get_runs(filters=dg.RunsFilter(job_name=name, statuses=IN_PROGRESS), limit=1) for name in job_names
    )


def stale_feature_days(lake: Lake) -> dict[str, int]:
    """Day -> the newest write time of its validated history, for days whose features are older."""
    validated = lake.modified_ns(VALIDATED_TRANSACTIONS)
    written = lake.modified_ns(CUSTOMER_FEATURES)
    stale = {}
    for day in sorted(validated):
        start = (pd.Timestamp(day) - pd.Timedelta(days=SPEC.history_days)).strftime("%Y-%m-%d")
        newest_input = max(modified for other, modified in validated.items() if start <= other <= day)
        if written.get(day, -1) < newest_input:
            stale[day] = newest_input
    return stale


@dg.sensor(job=features_job, minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING)
def features_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    """Requests features (and the online store) for days whose validated history changed."""
    if in_progress(context.instance, INGEST_JOB, LANDED_DAY_JOB):
        return dg.SkipReason("waiting for ingestion runs to finish")
    stale = stale_feature_days(lake.lake())
    # A day that failed validation is refused by the features asset: no run is asked for it.
    refused = verdicts.failed_days(lake.lake(), stale)
    for day, why in refused.items():
        context.log.info(f"features of {day} wait: validated_transactions {why}")
        del stale[day]
    if not stale:
        return dg.SkipReason("features are up to date" + (f" (refused days: {len(refused)})" if refused else ""))
    return [features_request(stale, first, last) for first, last in consecutive_ranges(list(stale))]


def features_request(stale: dict[str, int], first: str, last: str) -> dg.RunRequest:
    """One run for a stretch of consecutive stale days, over its range as a single-run backfill
    is: the online store is loaded from the first day once, not once per day (each day's load
    reaches to the latest day, so N days as N runs cost N²). The key names the inputs' state: the
    same stale days ask once until their inputs change again."""
    newest = max(stale[day] for day in stale if first <= day <= last)
    if first == last:
        return dg.RunRequest(run_key=features_run_key(first, last, newest), partition_key=first, tags=ONLINE_STORE_TAG)
    return dg.RunRequest(
        run_key=features_run_key(first, last, newest),
        tags={**ONLINE_STORE_TAG, RANGE_START_TAG: first, RANGE_END_TAG: last},
    )
