"""The daily partitions every transactions-derived asset shares (keys `YYYY-MM-DD`, UTC)."""

import dagster as dg

from mlops_assets.settings import Settings

# end_offset=1: today's partition exists, so data landing during the day is ingested that day.
DAILY = dg.DailyPartitionsDefinition(start_date=Settings.from_env().partitions_start, end_offset=1)
