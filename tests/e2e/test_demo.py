"""End to end: `mlops demo` runs the real Dagster daemon (`dagster dev`) on a temporary instance,
lands drifted days, and its sensors retrain until a retraining is promoted; the demo stops what
it started and refuses to run again on a state that holds data."""

import os
import subprocess

import dagster as dg
import pytest

from mlops_assets.keys import DRIFT_EVENT_TAG, REASON_TAG, outcome_key, retrain_run_key
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.loop.retraining import DecisionLog
from mlops_assets.lib.modelling.registry import CHAMPION, MODEL_NAME, Registry
from mlops_assets.settings import Settings
from tests.support.processes import MLOPS, answers, free_port, status

# Small enough for `make test`, large enough for the drift to show. Each day's data depends on its
# date, so the last day is fixed: the story is the same on any day the test runs. On these days
# the first drifted day waits for labels and the second retrains and promotes (`test_retry` covers
# a rejected retraining and its retry); 4 drifted days leave room for more.
DEMO_ARGS = [
    *("--history-days", "14", "--rows-per-day", "2000", "--ordinary-days", "0", "--drift-days", "4"),
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
    # Retrainings of one event, attempt after attempt; each rejected one failed, the last promoted.
    assert [run.tags["dagster/run_key"] for run in runs] == [
        retrain_run_key(event, attempt) for attempt in range(1, len(runs) + 1)
    ]
    assert all(run.tags[REASON_TAG] == f"drift:{event}" for run in runs)
    log = DecisionLog(Lake(str(settings.lake_dir)))
    outcomes = [log.get(outcome_key(run.run_id)).action for run in runs]
    assert outcomes == ["reject"] * (len(runs) - 1) + ["promote"], outcomes
    assert runs[-1].status == dg.DagsterRunStatus.SUCCESS
    assert f"(run key {retrain_run_key(event, len(runs))}); waiting for it: promote: " in out, out
    # The new champion served by the real service and scored over HTTP.
    champion = Registry(settings.mlflow_tracking_uri, MODEL_NAME).alias(CHAMPION).version
    assert f"scored by version {champion} in" in out and "POST /explain of the most suspicious" in out, out
    assert "5/5 summary" in out and "champion now:    v" in out, out
    assert not answers(port) and status(serve_port, "/livez") is None  # the UI, daemon and service are gone

    again = demo(free_port())
    assert again.returncode == 1 and len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert again.stderr.strip().endswith("(`make clean`, or MLOPS_HOME=<new folder>)")
