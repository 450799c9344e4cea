"""What the pipeline knows, as Prometheus samples: read from the lake (drift reports, the decision
log, validated and quarantined days, unmatched labels) and the model registry (champion,
challenger, rollout). `mlops_assets.ops.exporter` serves them with the Dagster instance's runs and
checks; `deploy/prometheus/rules/` alerts on them.

Every sample is a fact as of the newest record, not an event: a gauge Prometheus can read at any
time and get the same answer. Timestamps are seconds since the epoch, so a rule can age them
against `time()`. No Dagster here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from mlops_assets.keys import DRIFT_REPORT, QUARANTINED_TRANSACTIONS, VALIDATED_TRANSACTIONS, drift_report_record
from mlops_assets.lib.data.labels import LabelFolder
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.loop.retraining import DecisionLog
from mlops_assets.lib.loop.rollout import STAGES, current_rollout
from mlops_assets.lib.modelling.registry import CHALLENGER, CHAMPION, Registry
from mlops_assets.lib.quality.score_bins import bin_shares

VERDICTS = ("none", "warn", "drift")
# How many of the newest drift reports are looked through for the last one with live metrics
# (a report has them once its window holds enough labelled frauds).
LIVE_METRICS_LOOKBACK = 14

# Every metric the pipeline publishes, with its help text: all gauges.
HELP = {
    "mlops_drift_verdict": "1 for the newest drift report's verdict (none, warn, drift), 0 for the others.",
    "mlops_drift_report_day_timestamp_seconds": "The day (midnight UTC) of the newest drift report.",
    "mlops_drift_prediction_psi": "PSI of the champion's scores on the newest drift window against its reference.",
    "mlops_drift_input_score": "Drift of each monitored input in the newest report (PSI for flags, Wasserstein"
    " distance in reference standard deviations for numbers).",
    "mlops_drift_input_threshold": "The score above which the newest report calls an input shifted.",
    "mlops_drift_input_shifted": "1 when the newest report calls the input shifted.",
    "mlops_drift_cpt_divergence": "Bayesian network: mean Jensen-Shannon divergence of each node's conditional"
    " distributions refitted on the newest window (part=legitimate: where fraud is 0 or not a parent;"
    " part=fraud: the children of fraud where fraud is 1).",
    "mlops_live_pr_auc": "PR AUC of the champion on the labelled rows of the newest drift window that has enough.",
    "mlops_live_pr_auc_baseline": "The champion's PR AUC at evaluation, which mlops_live_pr_auc is compared with.",
    "mlops_live_recall_at_fpr": "Recall at the drift policy's false-positive rate on the same window.",
    "mlops_live_metrics_day_timestamp_seconds": "The day of the drift report mlops_live_* come from.",
    "mlops_drift_event_open": "1 while the newest drift report says drift (a drift event is open).",
    "mlops_drift_event_started_timestamp_seconds": "When the open drift event's first report was decided on.",
    "mlops_drift_event_retrain_decided": "1 once the loop decided to retrain for the open drift event.",
    "mlops_retrain_decided_timestamp_seconds": "When the loop last decided to retrain (any reason).",
    "mlops_validated_day_timestamp_seconds": "The newest validated day (midnight UTC).",
    "mlops_validated_rows": "Validated rows of the newest validated day.",
    "mlops_quarantined_rows": "Quarantined rows of the newest validated day.",
    "mlops_quarantine_share": "Quarantined share of the rows read on the newest validated day.",
    "mlops_labels_unmatched_rows": "Labels set aside because their transaction never landed (labels/unmatched/).",
    "mlops_champion_version": "The version the registry's champion alias names.",
    "mlops_champion_registered_timestamp_seconds": "When the champion version was registered (trained).",
    "mlops_challenger_version": "The version the challenger alias names (absent: none).",
    "mlops_rollout_stage": "1 for the stage of the rollout in progress (none, shadow, canary), 0 for the others.",
    "mlops_rollout_canary_share": "The share of customers the rollout's canary answers in its canary stage.",
    "mlops_rollout_version": "The version being rolled out (absent: no rollout).",
    "mlops_reference_score_share": "The champion's reference scores (its holdout rows) per P(fraud) bin, the"
    " distribution live scores (fraud_detector_scores_total) are compared with.",
}


@dataclass(frozen=True)
class Sample:
    name: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)


def day_timestamp(day: str) -> float:
    """Midnight UTC of `day` (YYYY-MM-DD) in seconds since the epoch."""
    return pd.Timestamp(day, tz="UTC").timestamp()


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def drift_samples(lake: Lake) -> list[Sample]:
    """The newest drift report's verdict and figures, and the newest live metrics."""
    days = lake.record_names(DRIFT_REPORT)
    if not days:
        return []
    report = lake.read_record(drift_report_record(days[-1]))
    samples = [Sample("mlops_drift_verdict", float(report["verdict"] == v), {"verdict": v}) for v in VERDICTS]
    samples += [
        Sample("mlops_drift_report_day_timestamp_seconds", day_timestamp(report["day"])),
        Sample("mlops_drift_prediction_psi", float(report["prediction_psi"])),
    ]
    for column, row in report.get("inputs", {}).items():
        labels = {"input": column, "method": row["method"]}
        samples += [
            Sample("mlops_drift_input_score", float(row["value"]), labels),
            Sample("mlops_drift_input_threshold", float(row["threshold"]), labels),
            Sample("mlops_drift_input_shifted", float(bool(row["shifted"])), {"input": column}),
        ]
    for node, row in report.get("network", {}).items():
        for part in ("legitimate", "fraud"):
            if _present(row.get(f"{part}_js")):
                samples.append(
                    Sample("mlops_drift_cpt_divergence", float(row[f"{part}_js"]), {"node": node, "part": part})
                )
    for day in reversed(days[-LIVE_METRICS_LOOKBACK:]):
        labelled = report if day == report["day"] else lake.read_record(drift_report_record(day))
        if _present(labelled.get("pr_auc")):
            samples += [
                Sample("mlops_live_pr_auc", float(labelled["pr_auc"])),
                Sample("mlops_live_pr_auc_baseline", float(labelled["pr_auc_baseline"])),
                Sample("mlops_live_recall_at_fpr", float(labelled["recall_at_fpr"])),
                Sample("mlops_live_metrics_day_timestamp_seconds", day_timestamp(day)),
            ]
            break
    return samples


def decision_samples(lake: Lake) -> list[Sample]:
    """Whether a drift event is open, since when, and whether a retraining was decided for it."""
    decisions = DecisionLog(lake).all()
    reports = [d for d in decisions if d.verdict is not None and d.day is not None]
    retrains = [d for d in decisions if d.action == "retrain"]
    samples = []
    if retrains:
        samples.append(Sample("mlops_retrain_decided_timestamp_seconds", _seconds(retrains[-1].decided_at)))
    newest = max(reports, key=lambda d: (d.day, d.decided_at), default=None)
    is_open = newest is not None and newest.verdict == "drift" and newest.event_id is not None
    samples.append(Sample("mlops_drift_event_open", float(is_open)))
    if is_open:
        event = [d for d in reports if d.event_id == newest.event_id]
        started = min(_seconds(d.decided_at) for d in event)
        decided = any(d.event_id == newest.event_id for d in retrains)
        samples += [
            Sample("mlops_drift_event_started_timestamp_seconds", started),
            Sample("mlops_drift_event_retrain_decided", float(decided)),
        ]
    return samples


def _seconds(iso: str) -> float:
    return pd.Timestamp(iso).timestamp()


def quarantine_samples(lake: Lake) -> list[Sample]:
    """The newest validated day's rows, quarantined rows and quarantined share."""
    days = lake.partitions(VALIDATED_TRANSACTIONS)
    if not days:
        return []
    day = days[-1]
    validated = lake.row_count(VALIDATED_TRANSACTIONS, day)
    quarantined = lake.row_count(QUARANTINED_TRANSACTIONS, day) if lake.exists(QUARANTINED_TRANSACTIONS, day) else 0
    read = validated + quarantined
    return [
        Sample("mlops_validated_day_timestamp_seconds", day_timestamp(day)),
        Sample("mlops_validated_rows", float(validated)),
        Sample("mlops_quarantined_rows", float(quarantined)),
        Sample("mlops_quarantine_share", quarantined / read if read else 0.0),
    ]


def label_samples(labels: LabelFolder) -> list[Sample]:
    """Labels set aside as unmatched, waiting for a person."""
    unmatched = labels.unmatched
    rows = sum(unmatched.row_count(info.base_name) for info in unmatched.files((".parquet",)))
    return [Sample("mlops_labels_unmatched_rows", float(rows))]


def registry_samples(registry: Registry) -> list[Sample]:
    """The champion and challenger versions, the champion's age and the rollout in progress."""
    champion = registry.alias(CHAMPION)
    if champion is None:
        return []
    samples = [
        Sample("mlops_champion_version", float(champion.version)),
        Sample("mlops_champion_registered_timestamp_seconds", champion.registered_at),
    ]
    challenger = registry.alias(CHALLENGER)
    if challenger is not None:
        samples.append(Sample("mlops_challenger_version", float(challenger.version)))
    rollout = current_rollout(registry)
    stage = rollout.stage if rollout is not None else "none"
    samples += [Sample("mlops_rollout_stage", float(stage == s), {"stage": s}) for s in ("none", *STAGES)]
    if rollout is not None:
        samples += [
            Sample("mlops_rollout_version", float(rollout.version)),
            Sample("mlops_rollout_canary_share", rollout.canary_share),
        ]
    return samples


def reference_score_samples(registry: Registry, version: str) -> list[Sample]:
    """The share of the version's reference scores in each P(fraud) bin (loads the model: slow,
    so the exporter keeps the answer per version)."""
    model, reference = registry.load_with_reference(version)
    shares = bin_shares(model.predict_proba(reference))
    return [
        Sample("mlops_reference_score_share", share, {"model_version": version, "bin": label})
        for label, share in shares.items()
    ]
