"""Jobs of the feature stage, and running them in order on the local instance."""

import dagster as dg
import pandas as pd

from mlops_assets.features.assets import entity_features, online_features, training_set
from mlops_assets.runs import QUIET, first_error

# The run tags that make a run cover a range of partitions (what a single-run backfill sets).
RANGE_START_TAG, RANGE_END_TAG = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"

features_job = dg.define_asset_job(
    "features_job",
    selection=dg.AssetSelection.assets(entity_features, online_features),
    description="A day's customer and merchant features, then the online store.",
)
training_set_job = dg.define_asset_job(
    "training_set_job", selection=dg.AssetSelection.assets(training_set), description="The training set."
)


def consecutive_ranges(days: list[str]) -> list[tuple[str, str]]:
    """(first, last) of each stretch of consecutive days, oldest first."""
    ranges: list[tuple[str, str]] = []
    for day in sorted(days):
        if ranges and pd.Timestamp(day) - pd.Timestamp(ranges[-1][1]) == pd.Timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def build_features(defs: dg.Definitions, instance: dg.DagsterInstance, days: list[str]) -> dict[str, str]:
    """Features for the days, oldest first (a day reads the days before it): each stretch of
    consecutive days is one run over its range, as a single-run backfill from the UI would be;
    then the training set. Returns the runs that failed, by day or range (`first..last`), or
    `training_set`, with the error."""
    failed: dict[str, str] = {}
    job = defs.resolve_job_def("features_job")
    for first, last in consecutive_ranges(days):
        if first == last:
            result = job.execute_in_process(
                partition_key=first, instance=instance, run_config=QUIET, raise_on_error=False
            )
        else:
            tags = {RANGE_START_TAG: first, RANGE_END_TAG: last}
            result = job.execute_in_process(instance=instance, run_config=QUIET, tags=tags, raise_on_error=False)
        if not result.success:
            failed[first if first == last else f"{first}..{last}"] = first_error(result)
    if not failed:
        result = defs.resolve_job_def("training_set_job").execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False
        )
        if not result.success:
            failed["training_set"] = first_error(result)
    return failed
