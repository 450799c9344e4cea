"""Offline sources: the daily feature tables that the Dagster feature assets write to the lake
(`<lake>/customer_features/<YYYY-MM-DD>.parquet`, the same for merchants), read by DuckDB; the
lake is a local folder, or S3 in production (`mlops-lake://` paths, read through pyarrow).

Feast declares sources at module level, so their paths are resolved from the environment's
settings when Feast imports this file (`offline_source_path` with no settings given)."""

from feast import FileSource
from feast.data_format import ParquetFormat

from mlops_assets.feature_store import offline_source_path
from mlops_assets.keys import CUSTOMER_FEATURES, MERCHANT_FEATURES

customer_features_source = FileSource(
    name=f"{CUSTOMER_FEATURES}_source",
    path=offline_source_path(CUSTOMER_FEATURES),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    description="One row per customer transaction: the customer just after it.",
)
merchant_features_source = FileSource(
    name=f"{MERCHANT_FEATURES}_source",
    path=offline_source_path(MERCHANT_FEATURES),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    description="One row per merchant transaction: the merchant just after it.",
)
