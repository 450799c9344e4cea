"""The names the project's parts share, each spelled once: asset keys (also the lake's table
names), the run tags the project sets, and the run keys and ids one part writes and another reads.

No Dagster here, so `lib/` and `serving/` can use it: a Dagster asset key is `dg.AssetKey(name)`,
and a job's selection takes the names as they are.
"""

# Assets, in the order of the graph. Each daily asset is a lake table of the same name.
RAW_TRANSACTIONS = "raw_transactions"
VALIDATED_TRANSACTIONS = "validated_transactions"
QUARANTINED_TRANSACTIONS = "quarantined_transactions"
CUSTOMER_FEATURES = "customer_features"
MERCHANT_FEATURES = "merchant_features"
ONLINE_FEATURES = "online_features"
TRAINING_SET = "training_set"
XGBOOST_MODEL = "xgboost_model"
BASELINE_MODEL = "baseline_model"
BAYESIAN_NETWORK = "bayesian_network"
MODEL_EVALUATION = "model_evaluation"
CHAMPION_MODEL = "champion_model"
BENTO = "bento"
ONNX_MODEL = "onnx_model"
DRIFT_REPORT = "drift_report"
DRIFT_REPORT_HTML = "drift_report_html"
CHAMPION_REVIEW = "champion_review"
ROLLOUT_REPORT = "rollout_report"
RETRAIN_DECISIONS = "retrain_decisions"
SHADOW_SCORES = "shadow_scores"
SCORED_TRANSACTIONS = "scored_transactions"
ALERT_QUEUE = "alert_queue"

# The Feast feature service that training and serving read (`feature_repo/feature_services.py`).
FEATURE_SERVICE = "fraud_detection_v1"

# Jobs, by name: a sensor of one stage asks whether another stage's job is running.
INGEST_JOB = "ingest_job"
FEATURES_JOB = "features_job"
TRAINING_SET_JOB = "training_set_job"
RETRAIN_JOB = "retrain_job"
MONITORING_JOB = "monitoring_job"
LANDED_DAY_JOB = "landed_day_job"
SHADOW_JOB = "shadow_job"
BENTO_JOB = "bento_job"
SCORING_JOB = "scoring_job"

# A lake folder that no asset owns: each validated day's check results, for the sensors to read.
VALIDATION_VERDICTS = "validation_verdicts"

# Run tags. Those the project sets, under `mlops/`:
STARTED_BY_TAG = "mlops/started_by"  # the command that started a run from the terminal
LANDING_FILES_TAG = "mlops/landing_files"  # the landing files an ingestion run reads
LABEL_FILE_TAG = "mlops/label_file"  # the newest label file a re-validation applies
REASON_TAG = "mlops/reason"  # why a retraining runs: the registered versions' `reason`
DRIFT_EVENT_TAG = "mlops/drift_event"  # the drift event a retraining answers
DRIFT_REPORT_TAG = "mlops/drift_report"  # that event's report
RUN_WORKER_PID_TAG = "mlops/run_worker_pid"  # the local process running a run
RUN_WORKER_STARTED_TAG = "mlops/run_worker_started"  # its start time (a reused pid is another process)
# Steps and runs carrying these take turns (Dagster's tag concurrency limits): MLflow-writing
# steps within a run, online-store-writing runs within the instance.
MLFLOW_OP_TAGS = {"mlops/mlflow": "run"}
ONLINE_STORE_TAG = {"mlops/online_store": "write"}
# Dagster's own: a run over a range of partitions (what a single-run backfill sets).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


# Run keys: the same pending work gets the same key, so a sensor asking twice starts one run.
def ingest_run_key(day: str, files_digest: str) -> str:
    """Ingesting a set of landing files (named by their digest) into a day."""
    return f"{day}:{files_digest}"


def labels_run_key(day: str, label_file: str) -> str:
    """Re-validating a day for the labels up to `label_file`."""
    return f"labels:{day}:{label_file}"


def features_run_key(first: str, last: str, newest_input_ns: int) -> str:
    """Features of a day (or a range of days) as of the newest write of their inputs."""
    days = first if first == last else f"{first}..{last}"
    return f"{days}:{newest_input_ns}"


def bento_run_key(promotions: int, champion_version: str) -> str:
    """Packaging the champion of the `promotions`-th promotion (a version rolled back to is champion
    again, and packaged again)."""
    return f"bento:{promotions}:v{champion_version}"


def scoring_run_key(day: str, features_ns: int) -> str:
    """Scoring a day (and its queue) whose features were written at `features_ns`."""
    return f"score:{day}:{features_ns}"


def queue_run_key(day: str, validated_ns: int) -> str:
    """A day's queue again, for the labels of its validated transactions written at `validated_ns`."""
    return f"queue:{day}:{validated_ns}"


def drift_report_run_key(day: str, champion_version: str) -> str:
    """A day's drift report against one champion."""
    return f"{day}.v{champion_version}"


def shadow_run_key(day: str, newest_input_ns: int) -> str:
    """A day's shadow scores as of the newest write of their inputs (fragments, labels)."""
    return f"shadow:{day}:{newest_input_ns}"


# A drift event is a run of consecutive days flagged `drift` against one champion.
def drift_event_id(first_day: str, champion_version: str) -> str:
    """`<first day>.v<champion version>`: every report of one event names the same id."""
    return f"{first_day}.v{champion_version}"


def drift_event_start(event_id: str) -> str:
    """The first day of the drift event `event_id` names."""
    first_day, _, _ = event_id.partition(".v")
    return first_day


def retrain_run_key(event_id: str, attempt: int | None) -> str:
    """A drift event's retraining: `drift:<event>`, then `drift:<event>#<attempt>`."""
    return f"drift:{event_id}" if (attempt or 1) == 1 else f"drift:{event_id}#{attempt}"


def drift_reason(event_id: str) -> str:
    """The `reason` of the versions a drift event's retraining registers."""
    return f"drift:{event_id}"


def drift_report_record(day: str) -> str:
    """The lake record of one day's drift report (its verdict, reasons and figures)."""
    return f"{DRIFT_REPORT}/{day}"


# Keys of the decision log (`retrain_decisions`): one decision per key.
REPORT_DECISION_PREFIX = "report."


def report_key(day: str, champion_version: str) -> str:
    """The decision on one day's drift report against one champion."""
    return f"{REPORT_DECISION_PREFIX}{day}.v{champion_version}"


def outcome_key(run_id: str) -> str:
    """The decision a retraining run ends with (promote or reject)."""
    return f"run.{run_id}"


def rollout_key(version: str, started_at: str, action: str) -> str:
    """One step of the rollout of `version` that started at `started_at`."""
    return f"rollout.v{version}.{started_at}.{action}"


def review_key(version: str) -> str:
    """The one review of a promoted version."""
    return f"review.v{version}"
