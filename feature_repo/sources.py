"""Offline sources: the daily feature tables that the Dagster feature assets write to the lake
(`<lake>/customer_features/<YYYY-MM-DD>.parquet`, the same for merchants), read by DuckDB."""

from feast import FileSource
from feast.data_format import ParquetFormat

from mlops_assets.settings import Settings

LAKE = Settings.from_env().lake_dir

customer_features_source = FileSource(
    name="customer_features_source",
    path=str(LAKE / "customer_features" / "*.parquet"),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    description="One row per customer transaction: the customer just after it.",
)
merchant_features_source = FileSource(
    name="merchant_features_source",
    path=str(LAKE / "merchant_features" / "*.parquet"),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    description="One row per merchant transaction: the merchant just after it.",
)
