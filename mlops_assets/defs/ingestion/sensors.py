"""`landing_sensor`: new landing files become runs of their daily partitions (`ingest_job`, or
`landed_day_job` for a new day that can go straight to its drift verdict)."""

import dagster as dg

from mlops_assets.defs.features.sensors import in_progress, stale_feature_days
from mlops_assets.defs.ingestion.jobs import ingest_job
from mlops_assets.defs.ingestion.pending import files_digest, pending_days
from mlops_assets.defs.monitoring.jobs import landed_day_job
from mlops_assets.keys import (
    FEATURES_JOB,
    LANDING_FILES_TAG,
    ONLINE_STORE_TAG,
    RAW_TRANSACTIONS,
    VALIDATED_TRANSACTIONS,
    ingest_run_key,
)
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.modelling.registry import CHAMPION, Registry, reference_end
from mlops_assets.resources.lake import LakeResource, LandingResource
from mlops_assets.resources.model_registry import ModelRegistryResource


def run_request(day: str, files: list[str], to_verdict: bool = False) -> dg.RunRequest:
    """The run that brings these files' rows into this day's partitions: `ingest_job`, or with
    `to_verdict` `landed_day_job`, which goes on to the day's features and drift report."""
    listed = ",".join(files)
    # For people reading the run; long lists are cut to keep the tag small.
    tags = {LANDING_FILES_TAG: listed if len(listed) <= 1000 else listed[:997] + "..."}
    return dg.RunRequest(
        run_key=ingest_run_key(day, files_digest(files)),
        partition_key=day,
        job_name=landed_day_job.name if to_verdict else ingest_job.name,
        tags={**tags, **ONLINE_STORE_TAG} if to_verdict else tags,
    )


def straight_to_verdict(instance: dg.DagsterInstance, day: str, lake: Lake, registry: Registry) -> bool:
    """Whether a day that just landed, the only one pending, can go to its drift verdict in one
    run (`landed_day_job`) rather than through three sensors' runs: it is newer than every
    validated day (its rows reach no other day's features) and than the champion's reference,
    nothing else is ingesting or building features, and every other day's features are current.
    Otherwise the stages follow each other as before, each sensor waiting for the last.

    An earlier day's `landed_day_job` may still be running (its HTML report, say): this day's run
    waits in the queue until it ends, as both write the online store (`ONLINE_STORE_TAG`)."""
    validated = lake.partitions(VALIDATED_TRANSACTIONS)
    if validated and day <= max(validated):
        return False
    if in_progress(instance, ingest_job.name, FEATURES_JOB) or stale_feature_days(lake):
        return False
    champion = registry.alias(CHAMPION)
    return champion is not None and day > reference_end(champion)


# A landing CSV modified in the last 5 s may still be being written (a producer that writes in
# place): it is indexed at a later tick. A Parquet file is taken as soon as its footer reads, and a
# dot-name upload renamed when complete is never seen half.
LANDING_SETTLE_SECONDS = 5


@dg.sensor(jobs=[ingest_job, landed_day_job], minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_sensor(
    context: dg.SensorEvaluationContext,
    landing: LandingResource,
    lake: LakeResource,
    model_registry: ModelRegistryResource,
):
    """Turns new landing files into partition runs, once they have settled; rejects unreadable
    files with a reason. A single new day after the champion's reference goes on to its drift
    verdict in the same run (`straight_to_verdict`)."""
    index = landing.index()
    report = index.index_new_files(settle_seconds=LANDING_SETTLE_SECONDS)
    rejected = report.rejected
    table = lake.lake()
    pending = pending_days(index, table)
    to_verdict = len(pending) == 1 and straight_to_verdict(
        context.instance, next(iter(pending)), table, model_registry.registry()
    )
    requests = [run_request(day, files, to_verdict) for day, files in pending.items()]
    for rejection in rejected:
        context.log.warning(f"rejected landing file {rejection.name}: {rejection.reason}")
    observations = [
        dg.AssetObservation(
            asset_key=dg.AssetKey(RAW_TRANSACTIONS),
            metadata={"rejected_file": rejection.name, "reason": rejection.reason},
        )
        for rejection in rejected
    ]
    if not requests:
        waiting = f"; {len(report.unsettled)} still being written" if report.unsettled else ""
        return dg.SensorResult(skip_reason=f"no pending landing files{waiting}", asset_events=observations)
    return dg.SensorResult(run_requests=requests, asset_events=observations)
