"""`landing_sensor` and `ingest_job`: new landing files become runs of their daily partitions;
`label_sensor`: late labels re-validate the days of their transactions."""

import time

import dagster as dg
import pandas as pd

from mlops_assets.features.sensors import ONLINE_STORE_TAG, in_progress, stale_feature_days
from mlops_assets.ingestion.assets import raw_transactions
from mlops_assets.ingestion.pending import pending_days, run_key
from mlops_assets.lib.labels import unmatched_reason
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.registry import CHAMPION, Registry, reference_end
from mlops_assets.monitoring.jobs import landed_day_job
from mlops_assets.resources import LakeResource, LandingResource, ModelRegistryResource
from mlops_assets.validation.assets import validate_transactions

LANDING_FILES_TAG = "mlops/landing_files"
LABEL_FILES_TAG = "mlops/label_file"

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets(raw_transactions, validate_transactions),
    description="Raw, validated and quarantined transactions for one day, with their checks.",
)


def run_request(day: str, files: list[str], to_verdict: bool = False) -> dg.RunRequest:
    """The run that brings these files' rows into this day's partitions: `ingest_job`, or with
    `to_verdict` `landed_day_job`, which goes on to the day's features and drift report."""
    listed = ",".join(files)
    # For people reading the run; long lists are cut to keep the tag small.
    tags = {LANDING_FILES_TAG: listed if len(listed) <= 1000 else listed[:997] + "..."}
    return dg.RunRequest(
        run_key=run_key(day, files),
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
    validated = lake.partitions("validated_transactions")
    if validated and day <= max(validated):
        return False
    if in_progress(instance, ingest_job.name, "features_job") or stale_feature_days(lake):
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
            asset_key=raw_transactions.key,
            metadata={"rejected_file": rejection.name, "reason": rejection.reason},
        )
        for rejection in rejected
    ]
    if not requests:
        waiting = f"; {len(report.unsettled)} still being written" if report.unsettled else ""
        return dg.SensorResult(skip_reason=f"no pending landing files{waiting}", asset_events=observations)
    return dg.SensorResult(run_requests=requests, asset_events=observations)


# A label file older than this is complete: writers rename within milliseconds, so a newer name
# can no longer appear before it.
LABEL_SETTLE_SECONDS = 5


@dg.sensor(job=ingest_job, minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING)
def label_sensor(context: dg.SensorEvaluationContext, landing: LandingResource, lake: LakeResource):
    """Re-validates the days whose transactions got late labels (`POST /feedback`, label files),
    so the labels reach `validated_transactions` and, through it, features, training and drift.

    Labels of transactions that have not landed yet wait in their file: validation applies them
    when the transaction's day is validated. The cursor is the arrival (modification time, then
    name) of the newest label file handled, so files of any name are seen in the order they came."""
    folder = landing.labels()
    settled = time.time_ns() - LABEL_SETTLE_SECONDS * 1_000_000_000
    handled = _arrival_of(context.cursor)
    arrivals = sorted((info.mtime_ns, info.base_name) for info in folder.files())
    new_arrivals = [(ns, name) for ns, name in arrivals if (ns, name) > handled and ns < settled]
    new = [name for _, name in new_arrivals]
    if not new:
        return dg.SkipReason("no new label files")
    labels = folder.read(new)
    days = landing.index().days_of(labels["transaction_id"])
    waiting = len(labels) - int(labels["transaction_id"].isin(days.index).sum())
    if waiting:
        context.log.info(f"{waiting} label(s) wait for their transactions to land (kept in {folder.folder.location})")
    validated = lake.lake()
    requests = [
        dg.RunRequest(run_key=f"labels:{day}:{new[-1]}", partition_key=day, tags={LABEL_FILES_TAG: new[-1]})
        for day in sorted(set(days))
        if validated.exists("validated_transactions", day)
    ]
    newest_ns, newest_name = new_arrivals[-1]
    return dg.SensorResult(run_requests=requests, cursor=f"{newest_ns}:{newest_name}")


# How long a label may wait for its transaction to land before it is set aside as unmatched.
UNMATCHED_LABEL_DAYS = 2


@dg.sensor(minimum_interval_seconds=3600, default_status=dg.DefaultSensorStatus.RUNNING)
def unmatched_labels_sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
    """Moves labels whose transaction had not landed 2 days after they arrived to
    `labels/unmatched/`, each with its reason, and reports them on `validated_transactions`
    (an observation per label file): kept for a person to look at, out of validation's way."""
    index = landing.index()
    folder = landing.labels()
    waited = pd.Timedelta(days=UNMATCHED_LABEL_DAYS)
    moved = folder.set_aside_unmatched(lambda ids: index.days_of(ids).index, waited)
    if not moved:
        return dg.SkipReason("no label has waited too long for its transaction")
    for name, count in moved.items():
        context.log.warning(f"{count} label(s) of {name} set aside in {folder.unmatched.location}: no such transaction")
    observations = [
        dg.AssetObservation(
            asset_key=dg.AssetKey("validated_transactions"),
            metadata={
                "unmatched_labels": count,
                "label_file": name,
                "set_aside_in": folder.unmatched.location,
                "reason": unmatched_reason(waited),
            },
        )
        for name, count in moved.items()
    ]
    return dg.SensorResult(asset_events=observations)


def _arrival_of(cursor: str | None) -> tuple[int, str]:
    """The (modification time, name) a label_sensor cursor names; before everything when None."""
    if not cursor:
        return (-1, "")
    nanoseconds, name = cursor.split(":", 1)
    return int(nanoseconds), name
