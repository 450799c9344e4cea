"""What the latest validation of each day concluded, as a record in the lake beside the table.

A blocking check that fails stops the run it fails in, but not later runs: features and training
run in runs of their own (`features_sensor`, `retrain_job`). They read these verdicts and refuse
a day whose latest validation failed a check, until it is validated again and passes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import dagster as dg

from mlops_assets.keys import VALIDATION_VERDICTS
from mlops_assets.lib.data.lake import Lake


def record(lake: Lake, day: str, results: list[dg.AssetCheckResult], run_id: str) -> None:
    """Writes the day's verdict; before its tables, so a table is never newer than its verdict."""
    failed = sorted(result.check_name for result in results if not result.passed)
    lake.write_record(
        f"{VALIDATION_VERDICTS}/{day}",
        {"day": day, "failed_checks": failed, "run_id": run_id, "validated_at": datetime.now(UTC).isoformat()},
    )


def failed_days(lake: Lake, days: Iterable[str]) -> dict[str, str]:
    """Day -> why it is refused (its failed checks and the run that found them), for each of
    `days` whose latest validation failed a check. Only these days' verdicts are read: the
    sensor asks every few seconds, and a lake holds one verdict per day it ever validated."""
    refused = {}
    for day in days:
        try:
            verdict = lake.read_record(f"{VALIDATION_VERDICTS}/{day}")
        except FileNotFoundError:  # validated before verdicts were kept, or not validated
            continue
        if verdict["failed_checks"]:
            refused[day] = f"failed {', '.join(verdict['failed_checks'])} in run {verdict['run_id']}"
    return refused
