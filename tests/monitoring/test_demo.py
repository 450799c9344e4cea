"""End to end: `mlops demo` runs the real Dagster daemon (`dagster dev`) on a temporary instance,
lands drifted days, and its sensors retrain; the demo stops what it started and refuses to run
again on a state that holds data."""

import os
import subprocess

import dagster as dg
import pytest

from mlops_assets.lib.lake import Lake
from mlops_assets.lib.retraining import DecisionLog
from mlops_assets.settings import Settings
from mlops_assets.training.assets import DRIFT_EVENT_TAG, REASON_TAG
from tests.ingestion.test_daemon import MLOPS, answers, free_port

# Small enough for `make test`, large enough for the drift to show on the first drifted day.
DEMO_ARGS = ["--history-days", "14", "--rows-per-day", "2000", "--ordinary-days", "0", "--drift-days", "3"]


def demo(port: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MLOPS, "demo", *DEMO_ARGS, "--scenario", "covariate_shift", "--port", str(port)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=1400,
    )


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_demo_retrains_through_the_daemon_and_stops_what_it_started(settings: Settings, instance) -> None:
    port = free_port()
    finished = demo(port)
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]
    out = finished.stdout
    # The first drifted day has no labels of the drift to learn from; the second retrains.
    assert "drift_retrain_sensor: skip: waiting for labels" in out and "retrain: drift since" in out, out
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": "drift_retrain_sensor"}))
    assert [(run.job_name, run.status) for run in runs] == [("retrain_job", dg.DagsterRunStatus.SUCCESS)]
    event = runs[0].tags[DRIFT_EVENT_TAG]
    assert runs[0].tags[REASON_TAG] == f"drift:{event}"
    outcomes = [d.action for d in DecisionLog(Lake(str(settings.lake_dir))).all() if d.run_id == runs[0].run_id]
    assert outcomes in (["promote"], ["reject"]), outcomes
    assert "4/4 summary" in out and "champion now:" in out
    assert not answers(port)  # the UI and daemon are gone

    again = demo(free_port())
    assert again.returncode == 1 and len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert again.stderr.strip().endswith("(`make clean`, or MLOPS_HOME=<new folder>)")
