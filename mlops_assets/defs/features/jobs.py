"""`features_job`: a day's (or a range's) customer and merchant features, then the online store."""

import dagster as dg
import pandas as pd

from mlops_assets.keys import CUSTOMER_FEATURES, FEATURES_JOB, MERCHANT_FEATURES, ONLINE_FEATURES

features_job = dg.define_asset_job(
    FEATURES_JOB,
    selection=dg.AssetSelection.assets(CUSTOMER_FEATURES, MERCHANT_FEATURES, ONLINE_FEATURES),
    description="A day's customer and merchant features, then the online store.",
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
