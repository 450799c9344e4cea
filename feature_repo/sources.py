"""Offline sources: the daily feature tables that the Dagster feature assets write to the lake
(`<lake>/customer_features/<YYYY-MM-DD>.parquet`, the same for merchants), read by DuckDB; the
lake is a local folder, or S3 in production (`mlops-lake://` paths, read through pyarrow)."""

from feast import FileSource
from feast.data_format import ParquetFormat

from mlops_assets.feature_store import offline_source_path

customer_features_source = FileSource(
    name="customer_features_source",
    path=offline_source_path("customer_features"),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    description="One row per customer transaction: the customer just after it.",
)
merchant_features_source = FileSource(
    name="merchant_features_source",
    path=offline_source_path("merchant_features"),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    description="One row per merchant transaction: the merchant just after it.",
)
