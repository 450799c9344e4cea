"""Helpers for running Dagster jobs in-process from the command line."""

import dagster as dg

# The full event log is in the UI; the terminal gets warnings and errors only.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def first_error(result: dg.ExecuteInProcessResult) -> str:
    """The first line of the first step failure of a run, to say in one line why it failed."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            return event.step_failure_data.error.message.strip().splitlines()[0]
    return "run failed"
