"""Which landing files still have to reach their raw partitions: shared by the sensor and the CLI.

The lake is the record of what was ingested (each raw row names its source file), so a sensor
restart, a lost cursor or a run started by `mlops ingest` never makes a file count twice.
"""

from __future__ import annotations

import hashlib

from mlops_assets.lib.contract import SOURCE_FILE
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.landing import LandingIndex

RAW_KEY = "raw_transactions"


def pending_days(index: LandingIndex, lake: Lake) -> dict[str, list[str]]:
    """Day -> names of indexed files with rows for that day that its raw partition lacks."""
    ingested: dict[str, set[str]] = {}
    pending: dict[str, list[str]] = {}
    for entry in index.entries():
        for day in entry.days:
            if day not in ingested:
                ingested[day] = (
                    set(lake.read(RAW_KEY, day, columns=[SOURCE_FILE])[SOURCE_FILE])
                    if lake.exists(RAW_KEY, day)
                    else set()
                )
            if entry.name not in ingested[day]:
                pending.setdefault(day, []).append(entry.name)
    return dict(sorted(pending.items()))


def run_key(day: str, files: list[str]) -> str:
    """Stable key for ingesting these files into this day: the same pending work, the same key."""
    digest = hashlib.sha256("\n".join(sorted(files)).encode()).hexdigest()[:12]
    return f"{day}:{digest}"
