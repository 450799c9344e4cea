"""The local instance's run launcher (`mlops_assets/run_launcher.py`), with a real instance on
SQLite and real run workers: each run is a fork of one process that imported the libraries runs
need and none of the project's modules; Terminate cancels a run; a worker that died, or a pid
now held by another process, is reported failed for run monitoring; a code location on another
Python goes to Dagster's own launcher."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import dagster as dg
import psutil
import pytest
from dagster._core.launcher import LaunchRunContext, WorkerStatus

from mlops_assets.keys import RUN_WORKER_PID_TAG, RUN_WORKER_STARTED_TAG
from mlops_assets.run_launcher import LIBRARIES, WarmRunLauncher
from tests.support import launcher_jobs

PRELOADED_PROJECT = [
    "mlops_assets",
    "mlops_assets.keys",
    "mlops_assets.lib",
    "mlops_assets.lib.featurize",
    "mlops_assets.lib.featurize.feast_import",
    "mlops_assets.run_launcher",
    "mlops_assets.warm_imports",
]
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory):
    launcher = {"module": "mlops_assets.run_launcher", "class": "WarmRunLauncher"}
    with dg.DagsterInstance.local_temp(str(tmp_path_factory.mktemp("dagster")), {"run_launcher": launcher}) as it:
        yield it


def launch(instance: dg.DagsterInstance, job: dg.JobDefinition, config: dict) -> dg.DagsterRun:
    origin = dg.reconstructable(getattr(launcher_jobs, job.name)).get_python_origin()
    run = instance.create_run_for_job(job, run_config={"ops": config}, job_code_origin=origin)
    instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    return instance.get_run_by_id(run.run_id)


def wait_for(instance: dg.DagsterInstance, run_id: str, statuses: set, seconds: float = 120) -> dg.DagsterRun:
    deadline = time.monotonic() + seconds
    while (run := instance.get_run_by_id(run_id)).status not in statuses:
        assert time.monotonic() < deadline, f"run {run_id} still {run.status}"
        time.sleep(0.2)
    return run


def test_each_run_is_a_fork_of_one_process_with_the_libraries_imported(instance, tmp_path: Path) -> None:
    assert isinstance(instance.run_launcher, WarmRunLauncher)
    seen = []
    for index in range(2):
        out = tmp_path / f"run{index}.json"
        run = launch(instance, launcher_jobs.where_job, {"where_it_ran": {"config": {"out": str(out)}}})
        run = wait_for(instance, run.run_id, FINISHED)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        seen.append(json.loads(out.read_text()))
        assert seen[-1]["pid"] == int(run.tags[RUN_WORKER_PID_TAG])
    assert seen[0]["pid"] != seen[1]["pid"]
    forkserver = {entry["parent"] for entry in seen}
    assert len(forkserver) == 1 and forkserver != {os.getpid()}
    for entry in seen:
        imported = set(entry["imported_before"])
        assert set(LIBRARIES) | {"feast"} <= imported
        # The project is imported by each run from disk: an edit is seen by the next run.
        assert sorted(name for name in imported if name.split(".")[0] == "mlops_assets") == PRELOADED_PROJECT


def test_terminate_cancels_the_run_and_its_worker_ends(instance) -> None:
    run = launch(instance, launcher_jobs.wait_job, {"wait": {"config": {"seconds": 120.0}}})
    run = wait_for(instance, run.run_id, {dg.DagsterRunStatus.STARTED})
    worker = psutil.Process(int(run.tags[RUN_WORKER_PID_TAG]))
    assert instance.run_launcher.terminate(run.run_id)
    assert wait_for(instance, run.run_id, FINISHED, 60).status == dg.DagsterRunStatus.CANCELED
    worker.wait(timeout=30)
    assert not instance.run_launcher.terminate(run.run_id)  # a finished run has nothing to stop


def test_a_worker_that_died_or_a_pid_held_by_another_process_is_reported_failed(instance) -> None:
    run = launch(instance, launcher_jobs.wait_job, {"wait": {"config": {"seconds": 120.0}}})
    run = wait_for(instance, run.run_id, {dg.DagsterRunStatus.STARTED})
    launcher = instance.run_launcher
    assert launcher.supports_check_run_worker_health
    assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    worker = psutil.Process(int(run.tags[RUN_WORKER_PID_TAG]))
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    health = launcher.check_run_worker_health(run)
    assert health.status == WorkerStatus.FAILED and run.tags[RUN_WORKER_PID_TAG] in health.msg
    # A pid that now belongs to another process (here, this one) is not the worker.
    reused = run.with_tags({**run.tags, RUN_WORKER_PID_TAG: str(os.getpid()), RUN_WORKER_STARTED_TAG: "1.0"})
    assert launcher.check_run_worker_health(reused).status == WorkerStatus.FAILED
    instance.report_run_failed(run)


def test_a_code_location_on_another_python_goes_to_dagsters_launcher(instance) -> None:
    origin = dg.reconstructable(launcher_jobs.where_job).get_python_origin()
    elsewhere = origin._replace(
        repository_origin=origin.repository_origin._replace(executable_path="/opt/other/python")
    )
    config = {"ops": {"where_it_ran": {"config": {"out": "unused"}}}}
    run = instance.create_run_for_job(launcher_jobs.where_job, run_config=config, job_code_origin=elsewhere)
    # Dagster's launcher asks the workspace's code server to start it; with none, it says so.
    with pytest.raises(dg.DagsterInvariantViolationError, match="DefaultRunLauncher requires a workspace"):
        instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    assert RUN_WORKER_PID_TAG not in instance.get_run_by_id(run.run_id).tags
    assert sys.executable != "/opt/other/python"
