"""Which landing files still have to reach their raw partitions: shared by the sensor and the CLI.

The lake is the record of what was ingested (each raw row names its source file), so a sensor
restart, a lost cursor or a run started by `mlops ingest` never makes a file count twice.
"""

from __future__ import annotations

import hashlib

from mlops_assets.keys import RAW_TRANSACTIONS
from mlops_assets.lib.data.contract import SOURCE_FILE
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.data.landing import LandingIndex


def pending_days(index: LandingIndex, lake: Lake) -> dict[str, list[str]]:
    """Day -> names of indexed files with rows for that day that its raw partition lacks."""
    ingested: dict[str, set[str]] = {}
    pending: dict[str, list[str]] = {}
    for entry in index.entries():
        for day in entry.days:
            if day not in ingested:
                ingested[day] = (
                    set(lake.read(RAW_TRANSACTIONS, day, columns=[SOURCE_FILE])[SOURCE_FILE])
                    if lake.exists(RAW_TRANSACTIONS, day)
                    else set()
                )
            if entry.name not in ingested[day]:
                pending.setdefault(day, []).append(entry.name)
    return dict(sorted(pending.items()))


def files_digest(files: list[str]) -> str:
    """A short name for a set of landing files, whatever their order: the same files, the same name."""
    return hashlib.sha256("\n".join(sorted(files)).encode()).hexdigest()[:12]
