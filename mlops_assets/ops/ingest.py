"""`mlops ingest`: what `landing_sensor` would start, run now through Dagster on the local instance.

Runs are recorded in the instance at `DAGSTER_HOME`, tagged like the sensor's, so they show in the
UI next to the sensor's own runs.
"""

import sys
from collections import Counter
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd

from mlops_assets.definitions import build_definitions
from mlops_assets.defs.ingestion.pending import pending_days
from mlops_assets.defs.ingestion.sensors import run_request
from mlops_assets.keys import INGEST_JOB, QUARANTINED_TRANSACTIONS, STARTED_BY_TAG, VALIDATED_TRANSACTIONS
from mlops_assets.lib.data.contract import REASONS, SOURCE_FILE
from mlops_assets.lib.data.landing import Rejection
from mlops_assets.ops.instance import open_instance
from mlops_assets.ops.runs import QUIET, first_error
from mlops_assets.resources import build_resources
from mlops_assets.resources.lake import LakeResource, LandingResource
from mlops_assets.settings import Settings


@dataclass
class FileCounts:
    name: str
    rows_read: int
    rows_validated: int
    rows_quarantined: int


@dataclass
class IngestReport:
    files: list[FileCounts] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    failed_days: dict[str, str] = field(default_factory=dict)  # day -> why the run failed
    reasons: Counter = field(default_factory=Counter)  # broken rule -> quarantined rows of these files


def ingest(settings: Settings) -> IngestReport:
    """Ingests every pending landing file and prints what each gave; returns the report."""
    defs = build_definitions(build_resources(settings))
    with open_instance(settings) as instance:
        report = ingest_pending(defs, instance)
    for rejection in report.rejected:
        kept = f"{settings.landing_location}/rejected"
        print(f"rejected {rejection.name}: {rejection.reason} (kept with its reason in {kept})")
    if not report.files:
        print(f"no pending landing files in {settings.landing_location}")
    else:
        width = max(len(counts.name) for counts in report.files)
        print(f"{'file':<{width}}  {'read':>9}  {'validated':>9}  {'quarantined':>11}")
        for counts in report.files:
            print(
                f"{counts.name:<{width}}  {counts.rows_read:>9,}  {counts.rows_validated:>9,}  "
                f"{counts.rows_quarantined:>11,}"
            )
    if report.reasons:
        print("quarantined, by broken rule (rows; a row may break several):")
        for rule, count in report.reasons.most_common(5):
            print(f"    {rule}: {count:,}")
        if len(report.reasons) > 5:
            print(f"    ... {len(report.reasons) - 5} more rules: see quarantined_transactions in the lake or the UI")
    for day, reason in report.failed_days.items():
        print(f"run for {day} failed: {reason}", file=sys.stderr)
    return report


def ingest_pending(defs: dg.Definitions, instance: dg.DagsterInstance) -> IngestReport:
    """Index new landing files, run `ingest_job` for every day that lacks some, count per file."""
    landing: LandingResource = defs.resources["landing"]
    lake: LakeResource = defs.resources["lake"]
    job = defs.resolve_job_def(INGEST_JOB)
    index = landing.index()
    report = IngestReport(rejected=index.index_new_files().rejected)
    pending = pending_days(index, lake.lake())
    for day, files in pending.items():
        result = job.execute_in_process(
            partition_key=day,
            instance=instance,
            tags={**run_request(day, files).tags, STARTED_BY_TAG: "mlops ingest"},
            run_config=QUIET,
            raise_on_error=False,
        )
        if not result.success:
            report.failed_days[day] = first_error(result)
    names = sorted({name for files in pending.values() for name in files})
    report.files = count_per_file(landing, lake, names)
    report.reasons = quarantine_reasons(lake, sorted(pending), names)
    return report


def quarantine_reasons(lake: LakeResource, days: list[str], names: list[str]) -> Counter:
    """How many quarantined rows of the files broke each rule, over the days they touched."""
    table = lake.lake()
    counts: Counter = Counter()
    for day in days:
        if table.exists(QUARANTINED_TRANSACTIONS, day):
            rows = table.read(QUARANTINED_TRANSACTIONS, day, columns=[SOURCE_FILE, REASONS])
            for reasons in rows.loc[rows[SOURCE_FILE].isin(names), REASONS]:
                counts.update(str(reasons).split("; "))
    return counts


def count_per_file(landing: LandingResource, lake: LakeResource, names: list[str]) -> list[FileCounts]:
    """Rows read (from the index) and rows validated and quarantined (from the lake) per file."""
    entries = {entry.name: entry for entry in landing.index().entries()}
    days = sorted({day for name in names for day in entries[name].days})
    table = lake.lake()
    tallies = {}
    for key in (VALIDATED_TRANSACTIONS, QUARANTINED_TRANSACTIONS):
        # Each partition read once: rows per source file, summed over the files' days.
        per_day = [table.read(key, day, columns=[SOURCE_FILE])[SOURCE_FILE] for day in days if table.exists(key, day)]
        tallies[key] = pd.concat(per_day).value_counts() if per_day else pd.Series(dtype="int64")
    return [
        FileCounts(
            name,
            entries[name].rows,
            int(tallies[VALIDATED_TRANSACTIONS].get(name, 0)),
            int(tallies[QUARANTINED_TRANSACTIONS].get(name, 0)),
        )
        for name in names
    ]
