"""`drift_retrain_sensor` killed with SIGKILL at each stage of a tick, under the Dagster daemon's own
sensor loop (`tests.e2e.sensor_ticks`), then ticked 20 times more: one drift event, one
decision per report and exactly one `retrain_job` run.

The drift reports are written here as `drift_report` writes them (a lake record and a
materialization with the verdict), over two real ingested days: the subject is the sensor's
crash safety, which the reports' contents do not change. The first report waits for labels; the
second, a day later, has the first day's labels to learn from and asks for the retraining.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import TickStatus

from mlops_assets.definitions import build_definitions
from mlops_assets.defs.monitoring.sensors import labelled_between
from mlops_assets.keys import DRIFT_EVENT_TAG, retrain_run_key
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.loop.retraining import DecisionLog, RetrainPolicy
from mlops_assets.ops.ingest import ingest_pending
from mlops_assets.resources import build_resources
from mlops_assets.settings import REPO_ROOT
from mlops_assets.synth import generator
from tests.conftest import use_home
from tests.e2e.loop import RUN_KEY_TAG
from tests.e2e.sensor_ticks import STAGES

pytestmark = [pytest.mark.slow, pytest.mark.end_to_end]  # a long story: in the process beside the rest

DAYS = ("2025-03-01", "2025-03-02")
CHAMPION = "1"
TICKS_AFTER = 20


def write_drift_report(lake: Lake, instance: dg.DagsterInstance, day: str) -> None:
    lake.write_record(
        f"drift_report/{day}",
        {"day": day, "verdict": "drift", "reasons": ["amount: PSI 0.4"], "champion_version": CHAMPION, "report": ""},
    )
    instance.report_runless_asset_event(
        dg.AssetMaterialization("drift_report", partition=day, metadata={"verdict": "drift", "champion_version": 1})
    )


def ticks(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.e2e.sensor_ticks", *arguments],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.mark.timeout(1500)
def test_a_drift_retrain_sensor_killed_at_each_stage_starts_one_run_per_drift_event(tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        settings = use_home(patch, tmp_path)
        generator.generate(date.fromisoformat(DAYS[0]), len(DAYS), 3000, settings.landing_dir, seed=8)
        lake = Lake(str(settings.lake_dir))
        with dg.DagsterInstance.get() as instance:
            assert not ingest_pending(build_definitions(build_resources(settings)), instance).failed_days
            assert labelled_between(lake, DAYS[0], DAYS[0]) >= RetrainPolicy().min_new_labelled  # enough to retrain
            for day in DAYS:
                write_drift_report(lake, instance, day)

        for stage in STAGES:
            crashed = ticks("--crash", stage)
            assert crashed.returncode == -signal.SIGKILL, f"{stage}: {crashed.stderr[-3000:]}"
        after = ticks("--ticks", str(TICKS_AFTER))
        assert after.returncode == 0, after.stderr[-3000:]

        event = f"{DAYS[0]}.v{CHAMPION}"
        with dg.DagsterInstance.get() as instance:
            runs = instance.get_runs(filters=dg.RunsFilter(job_name="retrain_job"))
            [run] = runs
            assert run.tags[DRIFT_EVENT_TAG] == event and run.tags[RUN_KEY_TAG] == retrain_run_key(event, 1)
            # Submitted (in the queue: no daemon dequeues here), not left behind as created only.
            assert run.status == dg.DagsterRunStatus.QUEUED
            sensor_ticks = instance.get_ticks(*_sensor_ids(instance))
        decisions = DecisionLog(lake).all()
        assert [(d.day, d.action) for d in decisions] == [(DAYS[0], "skip"), (DAYS[1], "retrain")]
        # Every tick after the crashes ran to its end; the last ones found nothing new.
        finished = [tick for tick in sensor_ticks if tick.status != TickStatus.STARTED]
        assert len(finished) >= TICKS_AFTER
        assert all(tick.status == TickStatus.SKIPPED for tick in sensor_ticks[: TICKS_AFTER - 1])


def _sensor_ids(instance: dg.DagsterInstance) -> tuple[str, str]:
    [state] = [s for s in instance.all_instigator_state() if s.instigator_name == "drift_retrain_sensor"]
    return state.instigator_origin_id, state.selector_id
