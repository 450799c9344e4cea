"""End to end: `mlops demo`, small, through the real Dagster daemon: drifted days land, the
sensors report and decide, `drift_retrain_sensor` starts one tagged `retrain_job`, and the demo
stops what it started."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.lib.lake import Lake
from mlops_assets.lib.retraining import DecisionLog
from mlops_assets.settings import Settings
from mlops_assets.training.assets import DRIFT_EVENT_TAG, REASON_TAG
from tests.ingestion.test_daemon import answers, free_port

MLOPS = str(Path(sys.executable).with_name("mlops"))


@pytest.mark.slow
def test_the_demo_drives_the_loop_through_the_daemon(settings: Settings, instance) -> None:
    port = free_port()
    # Covariate shift moves the champion's scores from its first day: drift on every drifted day.
    demo = subprocess.run(
        [MLOPS, "demo", "--history-days", "14", "--rows-per-day", "2000", "--ordinary-days", "0",
         "--drift-days", "2", "--scenario", "covariate_shift", "--port", str(port)],
        capture_output=True, text=True, env=os.environ.copy(), timeout=1500,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "drift_retrain_sensor: skip: waiting for labels" in demo.stdout
    assert "drift_retrain_sensor: retrain: drift since " in demo.stdout
    assert "4/4 summary" in demo.stdout and "last drift verdict: drift" in demo.stdout
    assert not answers(port)  # the demo stopped dagster

    [run] = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": "drift_retrain_sensor"}))
    event = run.tags[DRIFT_EVENT_TAG]
    assert run.job_name == "retrain_job" and run.tags[REASON_TAG] == f"drift:{event}"
    assert run.status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE)  # promoted, or gated
    actions = [d.action for d in DecisionLog(Lake(str(settings.lake_dir))).all()]
    assert actions.count("retrain") == 1 and ("promote" in actions[-1:] or "reject" in actions[-1:])
    # A second demo on the same state says why it will not run, in one line.
    again = subprocess.run([MLOPS, "demo"], capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert again.returncode == 1 and again.stderr.strip().endswith("(`make clean`, or MLOPS_HOME=<new folder>)")
