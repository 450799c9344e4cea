"""The daily partitions every transactions-derived asset shares (keys `YYYY-MM-DD`, UTC)."""

import dagster as dg

from mlops_assets.settings import Settings

# Read when the module is imported: every daily asset declares these partitions, and Dagster takes
# them at declaration. end_offset=1: today's partition exists, so data landing during the day is
# ingested that day.
DAILY = dg.DailyPartitionsDefinition(start_date=Settings.from_env().partitions_start, end_offset=1)
