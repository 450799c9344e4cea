"""The monitoring loop's sensors.

- `drift_report_sensor`: a day gets its drift report once its features are built, against the
  champion of the time (days the champion was trained or evaluated on are not reported), unless
  `landed_day_job` already reported it.
- `drift_retrain_sensor`: every new `drift_report` materialization is decided once
  (`lib.retraining.decide`); a `retrain` decision requests `retrain_job` with the run key
  `drift:<event id>` (`#<attempt>` after a rejected one), so each decided retraining runs once,
  however often the sensor looks.
- `shadow_sensor`: a day's `shadow_scores` is gathered again when the service wrote new shadow
  fragments for it, or its validated transactions (their labels) changed.
"""

import time

import dagster as dg

from mlops_assets.defs.features.sensors import in_progress, stale_feature_days
from mlops_assets.defs.monitoring.decisions import decisions_materialization
from mlops_assets.defs.monitoring.jobs import monitoring_job, shadow_job
from mlops_assets.defs.partitions import DAILY
from mlops_assets.defs.training.jobs import retrain_job
from mlops_assets.keys import (
    CUSTOMER_FEATURES,
    DRIFT_EVENT_TAG,
    DRIFT_REPORT,
    DRIFT_REPORT_TAG,
    FEATURES_JOB,
    INGEST_JOB,
    LANDED_DAY_JOB,
    REASON_TAG,
    VALIDATED_TRANSACTIONS,
    drift_reason,
    drift_report_record,
    drift_report_run_key,
    report_key,
    retrain_run_key,
    shadow_run_key,
)
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.loop.retraining import Decision, DecisionLog, decide, retrain_run_config
from mlops_assets.lib.loop.rollout import current_rollout
from mlops_assets.lib.modelling.registry import CHAMPION, reference_end
from mlops_assets.resources.lake import LakeResource, LandingResource
from mlops_assets.resources.model_registry import ModelRegistryResource
from mlops_assets.resources.policy import RetrainPolicyResource

# Reports looked at per tick: a backlog is worked through over the following ticks, in order.
REPORTS_PER_TICK = 50
# Each serving worker writes a shadow fragment every few seconds: gathering the day again at most
# every ten minutes keeps the runs few; a fragment must be this old, so a burst is seen whole.
SHADOW_INTERVAL_SECONDS = 600
SHADOW_SETTLE_SECONDS = 5


@dg.sensor(job=monitoring_job, minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING)
def drift_report_sensor(context: dg.SensorEvaluationContext, lake: LakeResource, model_registry: ModelRegistryResource):
    """Requests each new day's drift report once its features are final, unless the day already
    has one against the champion (`landed_day_job` writes its day's report in its own run)."""
    if in_progress(context.instance, INGEST_JOB, FEATURES_JOB, LANDED_DAY_JOB):
        return dg.SkipReason("waiting for ingestion and feature runs to finish")
    champion = model_registry.registry().alias(CHAMPION)
    if champion is None:
        return dg.SkipReason("no champion yet: nothing to compare days with")
    table = lake.lake()
    stale = stale_feature_days(table)
    after = reference_end(champion)
    days = [
        day
        for day in table.partitions(CUSTOMER_FEATURES)
        if day > after and day not in stale and not reported_against(table, day, champion.version)
    ]
    if not days:
        return dg.SkipReason(f"no day after {after} with features yet")
    # The key names the champion: a day is reported once against each champion.
    return [dg.RunRequest(run_key=drift_report_run_key(day, champion.version), partition_key=day) for day in days]


def reported_against(lake: Lake, day: str, version: str) -> bool:
    """Whether the day's latest drift report compared it with this champion version."""
    key = drift_report_record(day)
    return lake.exists_record(key) and str(lake.read_record(key)["champion_version"]) == str(version)


def labelled_between(lake: Lake, first: str, last: str) -> int:
    """Labelled validated transactions on the days from `first` to `last`, inclusive."""
    days = [day for day in lake.partitions(VALIDATED_TRANSACTIONS) if first <= day <= last]
    return sum(
        int(lake.read(VALIDATED_TRANSACTIONS, day, columns=["is_fraud"])["is_fraud"].notna().sum()) for day in days
    )


def retrain_request(decision: Decision, run_config: dict) -> dg.RunRequest:
    """The `retrain_job` run of a drift event: its key is the event and attempt, its tags say why."""
    return dg.RunRequest(
        run_key=retrain_run_key(decision.event_id, decision.attempt),
        run_config=run_config,
        tags={
            REASON_TAG: drift_reason(decision.event_id),
            DRIFT_EVENT_TAG: decision.event_id,
            DRIFT_REPORT_TAG: decision.day,
        },
    )


@dg.sensor(job=retrain_job, minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING)
def drift_retrain_sensor(
    context: dg.SensorEvaluationContext,
    lake: LakeResource,
    retrain_policy: RetrainPolicyResource,
    model_registry: ModelRegistryResource,
):
    """Decides every new drift report: retrain (once per drift event, again after a rejection or
    an aborted rollout), skip and why (a staged rollout in progress, say), or nothing."""
    after = int(context.cursor) if context.cursor else None
    found = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(DRIFT_REPORT), after_storage_id=after),
        limit=REPORTS_PER_TICK,
        ascending=True,
    )
    if not found.records:
        return dg.SkipReason("no new drift reports")
    table, policy = lake.lake(), retrain_policy
    log = DecisionLog(table)
    pending = current_rollout(model_registry.registry())
    rollout = (
        None if pending is None else f"version {pending.version} ({pending.stage}) against v{pending.champion_version}"
    )
    requests, new = [], []
    for record in found.records:
        day = record.partition_key
        metadata = record.asset_materialization.metadata
        champion = str(metadata["champion_version"].value)
        decision = log.get(report_key(day, champion))
        if decision is None:  # not decided before (a restarted sensor finds its earlier decisions)
            report = {**table.read_record(drift_report_record(day)), "champion_version": champion}
            report["verdict"] = metadata["verdict"].value
            decision = log.record(
                decide(report, log.all(), lambda a, b: labelled_between(table, a, b), policy, rollout)
            )
            new.append(decision)
            context.log.info(f"drift report {day} (champion v{champion}): {decision.action}: {decision.reason}")
        if decision.action == "retrain":
            requests.append(retrain_request(decision, retrain_run_config(decision.day, policy)))
    return dg.SensorResult(
        run_requests=requests,
        cursor=str(found.records[-1].storage_id),
        asset_events=[decisions_materialization(log, new)] if new else [],
    )


@dg.sensor(
    job=shadow_job, minimum_interval_seconds=SHADOW_INTERVAL_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING
)
def shadow_sensor(context: dg.SensorEvaluationContext, landing: LandingResource, lake: LakeResource):
    """Requests `shadow_scores` for each day with shadow fragments, once per state of its inputs
    (its newest fragment, its validated transactions)."""
    log, validated = landing.shadow(), lake.lake().modified_ns(VALIDATED_TRANSACTIONS)
    settled = time.time_ns() - SHADOW_SETTLE_SECONDS * 1_000_000_000
    requests = []
    for day in log.days():
        fragments = log.newest_ns(day)
        if fragments >= settled:
            continue  # a worker may still be writing the day's fragments: the next tick sees them
        if not DAILY.has_partition_key(day):
            context.log.warning(
                f"shadow fragments of {day} are outside the daily partitions; left in {log.folder.location}"
            )
            continue
        # The key names the inputs' state, and Dagster runs a key once: a day is gathered again
        # only when they change. (Comparing with the table's write time would miss a fragment
        # written while the day was being gathered.)
        newest = max(fragments, validated.get(day, -1))
        requests.append(dg.RunRequest(run_key=shadow_run_key(day, newest), partition_key=day))
    return requests or dg.SkipReason("no shadow fragments yet")
