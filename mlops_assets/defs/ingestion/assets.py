"""`raw_transactions`: each day's rows from every landing file, as received."""

import dagster as dg
import pandas as pd

from mlops_assets.defs.partitions import DAILY
from mlops_assets.lib.data.contract import SOURCE_FILE
from mlops_assets.resources.lake import LandingResource


@dg.asset(
    partitions_def=DAILY,
    group_name="ingestion",
    kinds={"parquet", "pandas"},
    io_manager_key="lake_io_manager",
)
def raw_transactions(context: dg.AssetExecutionContext, landing: LandingResource) -> dg.Output[pd.DataFrame]:
    """Raw rows of every landing file placed on the day, as text, with source file and row."""
    index = landing.index()
    # Usually the sensor has indexed the files already; this makes a run started by hand see them too.
    for rejection in index.index_new_files().rejected:
        context.log.warning(f"rejected landing file {rejection.name}: {rejection.reason}")
    frame = index.read_day(context.partition_key)
    per_file = frame[SOURCE_FILE].value_counts().sort_index()
    return dg.Output(
        frame,
        metadata={
            "dagster/row_count": len(frame),
            "source_files": dg.MetadataValue.md(
                "| file | rows |\n|---|---|\n" + "".join(f"| {name} | {rows} |\n" for name, rows in per_file.items())
            ),
            "columns": ", ".join(column for column in frame.columns),
        },
    )
