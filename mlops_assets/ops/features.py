"""`mlops backfill`'s features: `features_job` over the days in order, then the training set, run
on the local instance."""

import dagster as dg

from mlops_assets.defs.features.jobs import consecutive_ranges
from mlops_assets.keys import FEATURES_JOB, RANGE_END_TAG, RANGE_START_TAG, TRAINING_SET, TRAINING_SET_JOB
from mlops_assets.ops.runs import QUIET, first_error


def build_features(defs: dg.Definitions, instance: dg.DagsterInstance, days: list[str]) -> dict[str, str]:
    """Features for the days, oldest first (a day reads the days before it): each stretch of
    consecutive days is one run over its range, as a single-run backfill from the UI would be;
    then the training set. Returns the runs that failed, by day or range (`first..last`), or
    `training_set`, with the error."""
    failed: dict[str, str] = {}
    job = defs.resolve_job_def(FEATURES_JOB)
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
        result = defs.resolve_job_def(TRAINING_SET_JOB).execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False
        )
        if not result.success:
            failed[TRAINING_SET] = first_error(result)
    return failed
