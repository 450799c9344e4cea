"""`mlops demo`: the loop shown end to end on a fresh state.

1. History: baseline days (and one `dirty` day) ingested, validated and featurized through Dagster
   in this process (what `landing_sensor` and `features_sensor` would start, run at once), then
   the first `retrain_job`: a champion.
2. The daemon: `dagster dev` starts; days land one at a time (ordinary, then drifted) and the
   sensors do the rest: ingestion, features, the drift report, the decision, the retraining.
   Each day is followed until its decision is recorded, a retraining until its outcome, and the
   rollout it starts (shadow, then canary) until `rollout_report` moves it; drifted days land
   until a new champion is promoted (a rejected or aborted one is retried after the cooldown).
3. It stops what it started and prints what drifted, what was retrained, metrics before and after,
   and where to look.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from mlops_assets.keys import ALERT_QUEUE, CUSTOMER_FEATURES, VALIDATED_TRANSACTIONS, drift_report_record
from mlops_assets.ops import demo_serving
from mlops_assets.ops.instance import CommandError, open_instance, open_lake
from mlops_assets.settings import Settings

if TYPE_CHECKING:  # the heavy imports wait until a command needs them
    from mlops_assets.lib.loop.retraining import DecisionLog

# Bounds of every wait: a day through the daemon, a retraining, the UI starting.
DAY_SECONDS = 600
RETRAIN_SECONDS = 900
START_SECONDS = 180


class DemoError(Exception):
    """A step of the demo did not happen in time or failed; the message says which."""


def run(args: argparse.Namespace, settings: Settings) -> int:

    started = time.monotonic()
    today = datetime.now(UTC).date()
    if args.last_day is not None and args.last_day > today:
        raise CommandError(
            f"--last-day {args.last_day} is after today ({today}, UTC): its partition does not exist yet"
        )
    last_day = args.last_day or today
    daemon_days = args.ordinary_days + args.drift_days
    first = last_day - timedelta(days=args.history_days + daemon_days - 1)
    try:
        champion = _history(args, settings, first)
        dagster = None
        log_path = settings.home / "demo-dagster.log"
        with open(log_path, "w") as log:
            print(f"3/5 starting the Dagster daemon and UI on http://127.0.0.1:{args.port} (log: {log_path})")
            dagster = _start(settings, args.port, log)
            try:
                days = [first + timedelta(days=args.history_days + offset) for offset in range(daemon_days)]
                for position, day in enumerate(days):
                    scenario = "baseline" if position < args.ordinary_days else args.scenario
                    if _one_day(args, settings, day, scenario) == "promote":
                        break  # the loop closed: no need for more days
            finally:
                _stop(dagster)
        _package_champion(settings)
        if not _free(args.serve_port):
            raise DemoError(f"port {args.serve_port} is taken: stop what uses it, or pass --serve-port")
        with open(settings.home / "demo-serving.log", "w") as log:
            print(f"4/5 serving the champion on http://127.0.0.1:{args.serve_port} (log: {log.name})")
            demo_serving.serve_and_score(settings, args.serve_port, log)
        _queue(settings)
        print("5/5 summary")
        _summary(settings, champion)
    except (DemoError, demo_serving.ServingError) as error:
        raise CommandError(str(error)) from error
    print(f"done in {(time.monotonic() - started) / 60:.1f} min")
    return 0


def _history(args: argparse.Namespace, settings: Settings, first: date) -> str:
    """Baseline history (its last day `dirty`), ingested and featurized, and the first champion."""
    from mlops_assets.definitions import build_definitions
    from mlops_assets.lib.modelling.registry import CHAMPION, MODEL_NAME, Registry
    from mlops_assets.ops.features import build_features
    from mlops_assets.ops.ingest import ingest
    from mlops_assets.ops.retrain import retrain_champion
    from mlops_assets.ops.status import status_lines
    from mlops_assets.resources import build_resources
    from mlops_assets.synth import generator

    settings.ensure_dirs()
    last = first + timedelta(days=args.history_days - 1)
    print(f"1/5 {args.history_days} days of baseline history, {first}..{last}, {args.rows_per_day:,} rows a day")
    generator.generate(first, args.history_days - 1, args.rows_per_day, settings.landing_dir, seed=args.seed)
    dirty = generator.generate(last, 1, args.rows_per_day, settings.landing_dir, scenario="dirty", seed=args.seed)
    print(f"    the last day is `dirty`: {sum(dirty.faults.values())} faulty rows and two unreadable files")
    print("    ingesting and validating (what landing_sensor starts), then features (what features_sensor starts)")
    report = ingest(settings)
    if report.failed_days:
        raise DemoError(f"ingestion failed for {', '.join(report.failed_days)}")
    days = open_lake(settings).partitions(VALIDATED_TRANSACTIONS)
    with open_instance(settings) as instance:
        failed = build_features(build_definitions(build_resources(settings)), instance, days)
    if failed:
        raise DemoError(f"features failed: {failed}")
    print("2/5 the first champion: XGBoost, a logistic regression and a Bayesian network, evaluated and gated")
    if not retrain_champion(settings, None):
        raise DemoError("no candidate passed the quality gates on the history")
    for line in status_lines(settings)[:2]:
        print(f"    {line}")
    return Registry(settings.mlflow_tracking_uri, MODEL_NAME).alias(CHAMPION).version


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _start(settings: Settings, port: int, log):
    import urllib.request

    from mlops_assets.ops.servers import start_dagster

    if not _free(port):
        raise DemoError(f"port {port} is taken: stop what uses it, or pass --port")
    process = start_dagster(settings, port, log)

    def answers() -> bool:
        if process.poll() is not None:
            raise DemoError(f"dagster dev exited with {process.returncode}: see {log.name}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    _wait(answers, START_SECONDS, "the Dagster UI to answer")
    return process


def _stop(process) -> None:
    """Stops `dagster dev` (it shuts down cleanly on SIGTERM) and waits for it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)


def _wait(condition: Callable[[], object], seconds: float, what: str) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(2)
    raise DemoError(f"timed out after {seconds:.0f} s waiting for {what}")


def _one_day(args: argparse.Namespace, settings: Settings, day: date, scenario: str) -> str:
    """Lands one day and follows it through the daemon's sensors to its decision, a retraining to
    its outcome, and the rollout in progress to its move; returns the last of them (`none`,
    `skip`, `shadow`, `canary`, `promote`, `abort`, `reject`...)."""
    from mlops_assets.keys import ROLLOUT_REPORT, report_key, retrain_run_key
    from mlops_assets.lib.loop.retraining import DecisionLog
    from mlops_assets.synth import generator

    lake = open_lake(settings)
    key = day.isoformat()
    generator.generate(day, 1, args.rows_per_day, settings.landing_dir, scenario=scenario, seed=args.seed)
    # `landing_sensor` starts one run for the day, from its file to its drift report (`landed_day_job`).
    print(f"    {key} landed ({scenario}); landing_sensor, one run to the verdict ...", end="", flush=True)
    _wait(lambda: lake.exists(VALIDATED_TRANSACTIONS, key), DAY_SECONDS, f"{key} to be ingested")
    print(" validated ...", end="", flush=True)
    _wait(lambda: lake.exists(CUSTOMER_FEATURES, key), DAY_SECONDS, f"features of {key}")
    print(" features ...", end="", flush=True)
    record = drift_report_record(key)
    _wait(lambda: lake.exists_record(record), DAY_SECONDS, f"the drift report of {key}")
    report = lake.read_record(record)
    log = DecisionLog(lake)
    decided = report_key(key, str(report["champion_version"]))
    decision = _wait(lambda: log.get(decided), DAY_SECONDS, f"the decision on the drift report of {key}")
    print(f" drift report: {report['verdict']}")
    for reason in report["reasons"]:
        print(f"        {reason}")
    print(f"      drift_retrain_sensor: {decision.action}: {decision.reason}")
    # The same run then looks at the rollout in progress (`rollout_report`, after the drift report).
    rollout_record = f"{ROLLOUT_REPORT}/{key}"
    _wait(lambda: lake.exists_record(rollout_record), DAY_SECONDS, f"the rollout report of {key}")
    moved = lake.read_record(rollout_record)
    if moved.get("rollout"):
        print(f"      rollout_report: {moved.get('decision') or 'no move'}: {moved['status']}")
    # And the day scored whole by the champion, with its queue (the run's last steps): the daemon
    # is stopped after a promotion, and must not be stopped in the middle of them.
    _wait(lambda: lake.exists(ALERT_QUEUE, key), DAY_SECONDS, f"the scores and queue of {key}")
    if decision.action == "retrain":
        return _follow_retraining(settings, log, retrain_run_key(decision.event_id, decision.attempt))
    return moved.get("decision") or decision.action


def _package_champion(settings: Settings) -> None:
    """What `champion_bento_sensor` starts when a rollout promoted (`bento_job`), run here once the
    daemon has stopped: the days of the canary are reported again against the new champion and
    may retrain it at once, and the demo ends with the champion it followed."""
    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.packaging.sensors import packaged_version
    from mlops_assets.keys import BENTO_JOB
    from mlops_assets.lib.modelling.registry import CHAMPION, MODEL_NAME, Registry
    from mlops_assets.ops.runs import QUIET, first_error
    from mlops_assets.resources import build_resources

    champion = Registry(settings.mlflow_tracking_uri, MODEL_NAME).alias(CHAMPION).version
    with open_instance(settings) as instance:
        if packaged_version(instance) == champion:
            return
        print(f"    champion_bento_sensor's bento_job: packaging v{champion} ...", end="", flush=True)
        job = build_definitions(build_resources(settings)).resolve_job_def(BENTO_JOB)
        result = job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False)
    if not result.success:
        raise DemoError(f"packaging v{champion} failed: {first_error(result)}")
    print(f" {result.output_for_node('bento')['bento']}")


def _follow_retraining(settings: Settings, log: DecisionLog, run_key: str) -> str:
    """Waits for the retraining run `run_key` to end; returns its outcome (`promote`, `reject`,
    or the run's status when it failed before the gates)."""
    import dagster as dg
    from dagster._core.storage.tags import RUN_KEY_TAG

    from mlops_assets.keys import outcome_key

    print(f"      retrain_job requested (run key {run_key}); waiting for it", end="", flush=True)
    finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    with open_instance(settings) as instance:

        def ended():
            runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1)
            return runs[0] if runs and runs[0].status in finished else None

        run = _wait(ended, RETRAIN_SECONDS, f"the retraining {run_key}")
    # A retraining ends in its outcome row, or, for a staged rollout, in the rollout's first step.
    started = (d for d in reversed(log.all()) if d.run_id == run.run_id and d.action == "shadow")
    outcome = log.get(outcome_key(run.run_id)) or next(started, None)
    if outcome is None:
        print(f": {run.status.value} before any outcome (run {run.run_id}): see the run in the UI")
        return run.status.value.lower()
    print(f": {outcome.action}: {outcome.reason}")
    return outcome.action


def _queue(settings: Settings) -> None:
    """The newest day scored whole and its investigators' queue, as `mlops score` runs it."""
    from mlops_assets.ops.score import score_day

    day = open_lake(settings).partitions(VALIDATED_TRANSACTIONS)[-1]
    print(f"    the investigators' queue of {day} (scoring_job, as `mlops score --day {day}` runs it):")
    for line in score_day(settings, day, None, capacity=100)[:7]:
        print(f"      {line}")


def _summary(settings: Settings, first_champion: str) -> None:
    from mlops_assets.lib.loop.retraining import DecisionLog
    from mlops_assets.lib.modelling.registry import CHAMPION, MODEL_NAME, Registry
    from mlops_assets.ops.status import status_lines

    lake = open_lake(settings)
    registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
    decisions = DecisionLog(lake).all()
    drifted = [d for d in decisions if d.verdict == "drift"]
    print(
        f"    days the daemon reported on: {sum(1 for d in decisions if d.key.startswith('report.'))}, drift on "
        f"{', '.join(d.day for d in drifted) or 'none'}"
    )
    for d in decisions:
        if d.action in ("retrain", "promote", "reject", "rollback", "shadow", "canary", "abort"):
            print(f"    {d.action}: {d.reason}")
    before = registry.versions()[int(first_champion) - 1]
    now = registry.alias(CHAMPION)
    print(
        f"    champion before: v{before.version} ({before.tags['kind']}), PR AUC {float(before.tags['pr_auc']):.3f} "
        f"on its holdout {before.tags.get('reference_window')}"
    )
    reports = [lake.read_record(drift_report_record(d.day)) for d in drifted if d.champion_version == first_champion]
    if reports and reports[-1].get("pr_auc") is not None:
        print(f"      on the drifted window {reports[-1]['window']}: PR AUC {reports[-1]['pr_auc']:.3f}")
    if now.version == before.version:
        print("    champion now:    unchanged: no retraining was promoted (land more days with --drift-days)")
    else:
        print(
            f"    champion now:    v{now.version} ({now.tags['kind']}), PR AUC {float(now.tags['pr_auc']):.3f} "
            f"on the drifted day(s) {now.tags.get('reference_window')}, reason {now.tags['reason']}"
        )
    if "recovery_level" in now.tags:
        print(
            "      it must get back within 10% (recovery_tolerance) of the pre-drift PR AUC "
            f"{float(now.tags['recovery_level']):.3f}: "
            "the daemon retrains again after each cooldown until it does, and champion_review rolls a "
            "promotion back if it loses to the champion before it"
        )
    for line in status_lines(settings):
        print(f"    {line}")
    print("Where to look:")
    print("    Dagster UI (assets, drift_report with its HTML link, retrain_decisions, sensor ticks, runs): `make up`,")
    print("      which also serves the champion: http://127.0.0.1:3001/docs (POST /predict, /explain, /feedback)")
    print("      then http://127.0.0.1:3000 (the retrain run carries the tags mlops/reason and mlops/drift_report)")
    print(f"    drift reports (HTML): {settings.reports_dir / 'drift'}")
    print(f"    lake (Parquet, one file per day): {settings.lake_dir}")
    print('    Feast: eval "$(uv run mlops env)"; cd feature_repo; uv run feast feature-views list')
    print(
        "    MLflow runs and the registry (aliases champion, challenger): "
        f"uv run mlflow ui --backend-store-uri {settings.mlflow_tracking_uri} --host 127.0.0.1 --port 5000"
    )
    print("    champion, challenger, last drift verdict: uv run mlops status; roll back: uv run mlops rollback")
    sys.stdout.flush()
