"""Jobs for `tests/test_run_launcher.py`, loaded by the run worker from this file as any code
location's job would be. `IMPORTED_BEFORE` is what the worker had imported when it loaded them."""

import json
import os
import sys
import time
from pathlib import Path

import dagster as dg

IMPORTED_BEFORE = sorted(sys.modules)


@dg.op(config_schema={"out": str})
def where_it_ran(context: dg.OpExecutionContext) -> None:
    seen = {"pid": os.getpid(), "parent": os.getppid(), "imported_before": IMPORTED_BEFORE}
    Path(context.op_config["out"]).write_text(json.dumps(seen))


@dg.op(config_schema={"seconds": float})
def wait(context: dg.OpExecutionContext) -> None:
    deadline = time.monotonic() + context.op_config["seconds"]
    while time.monotonic() < deadline:
        time.sleep(0.1)


@dg.job(executor_def=dg.in_process_executor)
def where_job() -> None:
    where_it_ran()


@dg.job(executor_def=dg.in_process_executor)
def wait_job() -> None:
    wait()
