"""Ticks `drift_retrain_sensor` through the Dagster daemon's own sensor loop, for the crash test:
`python -m tests.e2e.sensor_ticks --ticks N [--crash STAGE]`. The home is the environment's
(MLOPS_HOME, DAGSTER_HOME). The other sensors are stopped in the instance, so only this one ticks.

With `--crash`, the process kills itself with SIGKILL at that stage of its first tick, through
the daemon's debug crash points (what Dagster's own tests use; an internal API, pinned with dagster
in uv.lock): TICK_CREATED (before the evaluation), TICK_HELD (evaluated: the decisions are in the
lake, no run yet), RUN_CREATED (the run exists, not submitted), RUN_LAUNCHED (submitted, the tick
not finished). Before each tick it waits out the sensor's minimum interval, as the daemon does.
"""

from __future__ import annotations

import argparse
import logging
import signal
import time

import dagster as dg
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.sensor import execute_sensor_iteration

from mlops_assets.settings import REPO_ROOT

SENSOR = "drift_retrain_sensor"
STAGES = ("TICK_CREATED", "TICK_HELD", "RUN_CREATED", "RUN_LAUNCHED")
INTERVAL_SECONDS = 5.5  # the sensor's minimum_interval_seconds (5), and a little


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1)
    parser.add_argument("--crash", choices=STAGES)
    args = parser.parse_args()
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="mlops_assets.definitions", working_directory=str(REPO_ROOT))
    )
    logger = logging.getLogger("sensor_ticks")
    crash = {SENSOR: {args.crash: signal.SIGKILL}} if args.crash else None
    with (
        dg.DagsterInstance.get() as instance,
        WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as workspace,
    ):
        only_this_sensor(instance, workspace)
        for _ in range(args.ticks):
            time.sleep(INTERVAL_SECONDS)  # a tick sooner than the interval after the last is skipped
            list(execute_sensor_iteration(workspace, logger, None, None, debug_crash_flags=crash))


def only_this_sensor(instance: dg.DagsterInstance, workspace: WorkspaceProcessContext) -> None:
    for location in workspace.create_request_context().get_code_location_entries().values():
        for repository in location.code_location.get_repositories().values():
            for sensor in repository.get_sensors():
                if sensor.name != SENSOR:
                    instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)


if __name__ == "__main__":
    main()
