"""The local instance's run launcher: each run starts in a process that has already imported the
libraries runs need.

Dagster's own launcher (`DefaultRunLauncher`) asks the code server to start each run, and the
code server starts a new Python for it ("spawn") that imports Dagster, pandas, MLflow, Feast,
XGBoost, pgmpy and Evidently again: about 15 s of a landed day's way to its drift verdict
(docs/performance.md). This launcher runs the command Dagster's container launchers run in a
pod, `dagster api execute_run`, in a child of a `multiprocessing` forkserver that imported those
libraries once (`mlops_assets.warm_imports`). The project's own modules are not among them: each
run imports them from disk, so an edit takes effect at the next run, as with Dagster's launcher.

The worker records itself in two tags of its run (pid and the process's start time, so that a
reused pid is not taken for it). From them the run monitoring daemon sees a worker that died
(killed, out of memory) and marks its run failed, and the UI's Terminate sends the worker
SIGTERM, which Dagster's run worker takes as an interrupt: it stops its steps and marks the run
canceled.

A run whose code location runs on another Python (an `executable_path` in `workspace.yaml`), or a
platform without forkserver, goes to Dagster's launcher unchanged.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import psutil
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._serdes import ConfigurableClassData, deserialize_value, serialize_value

from mlops_assets.keys import RUN_WORKER_PID_TAG, RUN_WORKER_STARTED_TAG

PRELOAD = ("mlops_assets.warm_imports",)
# What `mlops_assets.warm_imports` imports: the libraries the project's runs use. One more here
# only moves its start-up cost from each run to the forkserver; it changes nothing a run does.
LIBRARIES = (
    "dagster",
    "dagster_aws.s3",
    "dagster_mlflow",
    "pandas",
    "pandera.pandas",
    "pyarrow.dataset",
    "pyarrow.parquet",
    "duckdb",
    "mlflow",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.store.tracking.sqlalchemy_store",
    "xgboost",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.pipeline",
    "scipy.stats",
    "pgmpy.causal_discovery",
    "pgmpy.factors.discrete",
    "pgmpy.models",
    "pgmpy.parameter_estimator",
    "evidently",
    "evidently.presets",
)


class WarmRunLauncher(dg.DefaultRunLauncher):
    """Starts each run as a fork of a process with the run's libraries already imported."""

    def __init__(self, inst_data: ConfigurableClassData | None = None, preload: Sequence[str] = PRELOAD):
        super().__init__(inst_data=inst_data)
        self._preload = tuple(preload)

    @classmethod
    def config_type(cls) -> dict:
        return {"preload": dg.Field([str], is_required=False, default_value=list(PRELOAD))}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> WarmRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    def launch_run(self, context: LaunchRunContext) -> None:
        from dagster._grpc.types import ExecuteRunArgs

        run = context.dagster_run
        origin = run.job_code_origin
        if origin is None or not _forkserver_here() or not _this_python(origin.executable_path):
            super().launch_run(context)
            return
        args = ExecuteRunArgs(
            job_origin=origin, run_id=run.run_id, instance_ref=self._instance.get_ref(), set_exit_code_on_failure=True
        )
        multiprocessing.active_children()  # reaps the handles of workers that have ended
        worker = _forkserver(self._preload).Process(
            target=execute_run, args=(serialize_value(args),), name=f"dagster-run-{run.run_id}"
        )
        worker.start()

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        if RUN_WORKER_PID_TAG not in run.tags:
            # Started by the code server, which marks the run failed itself if its process dies.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "watched by its code server")
        if _worker(run) is None:
            return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker (pid {run.tags[RUN_WORKER_PID_TAG]}) is gone")
        return CheckRunHealthResult(WorkerStatus.RUNNING)

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        if RUN_WORKER_PID_TAG not in run.tags:
            return super().terminate(run_id)
        self._instance.report_run_canceling(run)
        worker = _worker(run)
        if worker is None:
            self._instance.report_engine_event("No run worker to stop: it has already ended.", run, cls=type(self))
            return False
        worker.send_signal(signal.SIGTERM)
        return True


def execute_run(serialized_args: str) -> None:
    """In the forked worker: tags the run with this process, then runs `dagster api execute_run
    <args>`, the command a run's pod runs. The worker tags the run itself, before the run
    starts, because a tag written by the launcher could race the worker's own first write of
    the run and be lost."""
    from dagster._cli import cli
    from dagster._grpc.types import ExecuteRunArgs

    args = deserialize_value(serialized_args, ExecuteRunArgs)
    me = psutil.Process()
    with dg.DagsterInstance.from_ref(args.instance_ref) as instance:
        instance.add_run_tags(args.run_id, {RUN_WORKER_PID_TAG: str(me.pid), RUN_WORKER_STARTED_TAG: _started(me)})
    cli.main(args=["api", "execute_run", serialized_args], prog_name="dagster", auto_envvar_prefix="DAGSTER_CLI")


@functools.cache
def _forkserver(preload: tuple[str, ...]) -> multiprocessing.context.BaseContext:
    """The forkserver context; its server process starts, and imports `preload`, at the first run."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    return context


def _forkserver_here() -> bool:
    return "forkserver" in multiprocessing.get_all_start_methods()


def _this_python(executable: str | None) -> bool:
    """Whether a code location's interpreter is this process's, which the forkserver would run."""
    return not executable or os.path.realpath(executable) == os.path.realpath(sys.executable)


def _started(process: psutil.Process) -> str:
    """The process's start time as tagged: what tells it from a later process given its pid."""
    return repr(process.create_time())


def _worker(run: dg.DagsterRun) -> psutil.Process | None:
    """The run's worker process if it is still running: the tagged pid, started when recorded."""
    try:
        worker = psutil.Process(int(run.tags[RUN_WORKER_PID_TAG]))
        alive = worker.status() != psutil.STATUS_ZOMBIE
        same = _started(worker) == run.tags.get(RUN_WORKER_STARTED_TAG)
    except (psutil.NoSuchProcess, ValueError):
        return None
    return worker if alive and same else None
