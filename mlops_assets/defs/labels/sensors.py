"""`label_sensor`: late labels re-validate the days of their transactions;
`unmatched_labels_sensor`: labels whose transaction never landed are set aside with a reason."""

import time

import dagster as dg
import pandas as pd

from mlops_assets.defs.ingestion.jobs import ingest_job
from mlops_assets.keys import LABEL_FILE_TAG, VALIDATED_TRANSACTIONS, labels_run_key
from mlops_assets.lib.data.labels import unmatched_reason
from mlops_assets.resources.lake import LakeResource, LandingResource

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
        dg.RunRequest(run_key=labels_run_key(day, new[-1]), partition_key=day, tags={LABEL_FILE_TAG: new[-1]})
        for day in sorted(set(days))
        if validated.exists(VALIDATED_TRANSACTIONS, day)
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
            asset_key=dg.AssetKey(VALIDATED_TRANSACTIONS),
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
