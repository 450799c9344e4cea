"""End to end: `mlops demo` runs the real Dagster daemon (`dagster dev`) on a temporary instance,
lands drifted days, and its sensors retrain and roll the candidate out (shadow, canary) until it
is promoted and packaged; the demo stops what it started and refuses to run again on a state that
holds data."""

import os
import subprocess

import dagster as dg
import pytest

from mlops_assets.keys import DRIFT_EVENT_TAG, REASON_TAG, retrain_run_key
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.loop.retraining import DecisionLog
from mlops_assets.lib.modelling.registry import CHAMPION, MODEL_NAME, Registry
from mlops_assets.settings import Settings
from tests.support.processes import MLOPS, answers, free_port, status

# Small enough for `make test`, large enough for the drift to show. Each day's data depends on its
# date, so the last day is fixed: the story is the same on any day the test runs. On these days
# the first drifted day waits for labels and the second retrains, which starts a staged rollout:
# the third day ends its shadow, and the canary is promoted on the fourth or fifth (`test_retry`
# covers a rejected retraining and its retry); 6 drifted days leave room for more.
HISTORY_DAYS = 14
DEMO_ARGS = [
    *("--history-days", str(HISTORY_DAYS), "--rows-per-day", "2000", "--ordinary-days", "0", "--drift-days", "6"),
    *("--scenario", "concept_drift", "--last-day", "2026-11-23"),
]


def demo(port: int, serve_port: int | None = None) -> subprocess.CompletedProcess:
    serve_port = serve_port or free_port()
    return subprocess.run(
        [
            MLOPS,
            "demo",
            *DEMO_ARGS,
            "--port",
            str(port),
            "--serve-port",
            str(serve_port),
        ],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=1400,
    )


@pytest.mark.slow
@pytest.mark.end_to_end
@pytest.mark.timeout(1500)
def test_the_demo_retrains_through_the_daemon_until_a_promotion_and_stops_what_it_started(
    settings: Settings, instance
) -> None:
    port, serve_port = free_port(), free_port()
    finished = demo(port, serve_port)
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]
    out = finished.stdout
    # The first drifted day has no labels of the drift to learn from; the second retrains.
    assert "drift_retrain_sensor: skip: waiting for labels" in out and "retrain: drift since" in out, out
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": "drift_retrain_sensor"}))
    runs.reverse()  # oldest first
    assert runs and all(run.job_name == "retrain_job" for run in runs)
    event = runs[0].tags[DRIFT_EVENT_TAG]
    # The days of the canary are reported again against the new champion once it is promoted,
    # and one may retrain it before the demo stops the daemon: those runs are the next event's.
    runs = [run for run in runs if run.tags[DRIFT_EVENT_TAG] == event]
    # Retrainings of one event, attempt after attempt; each rejected one failed, the last promoted.
    assert [run.tags["dagster/run_key"] for run in runs] == [
        retrain_run_key(event, attempt) for attempt in range(1, len(runs) + 1)
    ]
    assert all(run.tags[REASON_TAG] == f"drift:{event}" for run in runs)
    lake = Lake(str(settings.lake_dir))
    decisions = DecisionLog(lake).all()
    # Each retraining ends in the gates' verdict, the last one in the first step of its rollout.
    outcomes = [
        next(d.action for d in decisions if d.run_id == run.run_id and d.action in ("reject", "shadow")) for run in runs
    ]
    assert outcomes == ["reject"] * (len(runs) - 1) + ["shadow"], outcomes
    assert runs[-1].status == dg.DagsterRunStatus.SUCCESS
    assert f"(run key {retrain_run_key(event, len(runs))}); waiting for it: shadow: " in out, out
    # The rollout, day by day, to its promotion on the evidence; then the new champion's Bento.
    steps = [(d.action, d.event_id) for d in decisions if d.key.startswith("rollout.")]
    assert steps == [("shadow", event), ("canary", event), ("promote", event)], steps
    assert "rollout_report: canary: " in out and "rollout_report: promote: the challenger costs less" in out, out
    champion = Registry(settings.mlflow_tracking_uri, MODEL_NAME).alias(CHAMPION).version
    promoted = next(d for d in decisions if d.key.startswith("rollout.") and d.action == "promote")
    assert promoted.version == champion
    assert f"champion_bento_sensor's bento_job: packaging v{champion} ... fraud_detector:" in out, out
    assert lake.read_record("bento")["champion_version"] == champion
    # The new champion served by the real service and scored over HTTP.
    assert f"scored by version {champion} in" in out and "POST /explain of the most suspicious" in out, out
    # Every day the daemon took in was scored in its run, with its queue; no history day was.
    validated = lake.partitions("validated_transactions")
    assert lake.partitions("scored_transactions") == lake.partitions("alert_queue") == validated[HISTORY_DAYS:]
    # The newest day scored whole, and the head of its investigators' queue.
    assert f"transactions scored by version {champion}," in out and "cards queued (capacity 100)" in out, out
    assert "        1. card " in out, out
    assert "5/5 summary" in out and "champion now:    v" in out, out
    assert not answers(port) and status(serve_port, "/livez") is None  # the UI, daemon and service are gone

    again = demo(free_port())
    assert again.returncode == 1 and len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert again.stderr.strip().endswith("(`make clean`, or MLOPS_HOME=<new folder>)")
