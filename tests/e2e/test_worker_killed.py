"""Run faults under the real Dagster daemon (`dagster-daemon run` on the workspace, with the
instance configuration `mlops` writes, `settings.DAGSTER_INSTANCE_YAML`):

- two runs of one day's partition launched at once run one after the other;
- a `retrain_job` run whose worker dies during training (its process and its step processes
  killed with SIGKILL, as a node or pod loss would) is marked failed promptly, run again once by
  the run-retry policy (from the step that died), and neither the registry nor the `champion`
  alias shows the failed run: no version is registered twice, the alias moves only by a run that
  succeeded, and every table file in the lake reads whole."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from mlops_assets.lib.modelling.registry import CHAMPION, FIRST_RUN_TAG, MODEL_NAME, Registry
from mlops_assets.settings import REPO_ROOT
from tests.conftest import use_home
from tests.support.history import first_champion, run_config
from tests.support.processes import MLOPS, kill_tree, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.end_to_end]  # a long story: in the process beside the rest

DAGSTER = str(Path(MLOPS).with_name("dagster"))
DAEMON = str(Path(MLOPS).with_name("dagster-daemon"))
MODEL_KINDS = ("xgboost", "baseline", "bayesian_network")
PROMPT_SECONDS = 60  # the code server notices a dead run process within seconds
LAST_DAY = "2025-03-10"  # the last day of `first_champion`'s history
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The run worker's pid, from the engine event the code server writes when it starts it."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        found = re.match(r"Started process for run \(pid: (\d+)\)", entry.message or "")
        if found:
            return int(found.group(1))
    return None


def started_steps(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    return steps_with(instance, run_id, dg.DagsterEventType.STEP_START)


def steps_with(instance: dg.DagsterInstance, run_id: str, event_type: dg.DagsterEventType) -> set[str]:
    return {entry.step_key for entry in instance.all_logs(run_id, of_type=event_type)}


def one_day_at_a_time(instance: dg.DagsterInstance, log_path: Path) -> None:
    """Two runs of one day's partition launched at once (a sensor's and a person's, say) run one
    after the other: the instance's queue allows one run per partition at a time."""
    run_ids = [str(uuid.uuid4()) for _ in range(2)]
    launches = [
        subprocess.Popen(
            [DAGSTER, "job", "launch", "-w", "workspace.yaml", "-j", "ingest_job", "--run-id", run_id,
             "--tags", json.dumps({"dagster/partition": LAST_DAY})],
            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for run_id in run_ids
    ]  # fmt: skip
    for launch in launches:
        assert launch.wait(timeout=300) == 0, launch.stderr.read()[-3000:]
    succeeded = lambda: all(instance.get_run_by_id(r).status == dg.DagsterRunStatus.SUCCESS for r in run_ids)  # noqa: E731
    wait_until(succeeded, 600, "both runs of one day", log_path)
    first, second = sorted((instance.get_run_record_by_id(r) for r in run_ids), key=lambda record: record.start_time)
    assert first.end_time <= second.start_time


@pytest.mark.timeout(1800)  # a hang guard: each wait below is bounded on its own
def test_a_run_whose_worker_dies_in_training_fails_promptly_and_is_retried_once(tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        settings = use_home(patch, tmp_path / "home")
        with dg.DagsterInstance.get() as instance:
            _, first = first_champion(settings, instance)
            assert first.success
        registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
        champion_before, history_before = registry.alias(CHAMPION).version, registry.champion_history()

        log_path = tmp_path / "daemon.log"
        with open(log_path, "w") as log:
            daemon = subprocess.Popen(
                [DAEMON, "run", "-w", "workspace.yaml"], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            with dg.DagsterInstance.get() as instance:
                one_day_at_a_time(instance, log_path)
            run_id = str(uuid.uuid4())
            launched = subprocess.run(
                [DAGSTER, "job", "launch", "-w", "workspace.yaml", "-j", "retrain_job", "--run-id", run_id,
                 "--config-json", json.dumps({"ops": run_config(settings)})],
                cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            assert launched.returncode == 0, launched.stderr[-3000:]
            with dg.DagsterInstance.get() as instance:

                def training() -> bool:
                    ended = instance.get_run_by_id(run_id).status in FINISHED
                    assert not ended, f"retrain_job ended before training:\n{log_path.read_text()[-3000:]}"
                    return "xgboost_model" in started_steps(instance, run_id)

                wait_until(training, 600, "training", log_path)
                killed = kill_tree(worker_pid(instance, run_id))
                killed_at = time.monotonic()
                assert len(killed) > 1  # the run worker and at least the training step's process

                def status(run: str) -> dg.DagsterRunStatus:
                    return instance.get_run_by_id(run).status

                wait_until(
                    lambda: status(run_id) == dg.DagsterRunStatus.FAILURE, PROMPT_SECONDS, "the failure", log_path
                )
                failed_after = time.monotonic() - killed_at
                assert registry.alias(CHAMPION).version == champion_before

                def retries() -> list[dg.DagsterRun]:
                    return instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))

                wait_until(lambda: [r.status in FINISHED for r in retries()] == [True], 900, "the retry", log_path)
                [retry] = retries()
                assert retry.status == dg.DagsterRunStatus.SUCCESS, log_path.read_text()[-3000:]
                assert retry.tags["dagster/retry_number"] == "1" and retry.root_run_id == run_id
                # The retry starts from the steps that died: what succeeded before is not run again,
                # and every step that started but did not succeed runs again. Which training steps
                # had finished when the kill landed varies (a small model trains in under a second).
                succeeded = steps_with(instance, run_id, dg.DagsterEventType.STEP_SUCCESS)
                died = started_steps(instance, run_id) - succeeded
                rerun = started_steps(instance, retry.run_id)
                assert "training_set" in succeeded and died, (succeeded, died)
                assert not rerun & succeeded and died <= rerun, (succeeded, died, rerun)
        finally:
            daemon.terminate()
            daemon.wait(timeout=120)
            with contextlib.suppress(ProcessLookupError):  # the code server it started, if still there
                os.killpg(daemon.pid, signal.SIGKILL)

    # What the killed processes were writing is not visible half: every table file reads whole.
    for path in settings.lake_dir.rglob("*.parquet"):
        if not any(part.startswith(".") for part in path.relative_to(settings.lake_dir).parts):
            pq.read_table(path)
    versions = [v for v in registry.versions() if v.tags.get(FIRST_RUN_TAG) == run_id]
    assert Counter(v.tags["kind"] for v in versions) == dict.fromkeys(MODEL_KINDS, 1)
    # Any move of the alias since was made by the retry, which succeeded.
    for version in registry.champion_history()[len(history_before) :]:
        assert version in {v.version for v in versions}
    champion = registry.alias(CHAMPION)
    if champion.version != champion_before:
        assert champion.tags["promoted_by_run"] == retry.run_id
    print(f"marked failed {failed_after:.1f} s after the kill")
