"""A Spark session on the deployment's conf, and the lake as Spark reads and writes it.

The lake keeps one Parquet file per day (`<root>/<table>/<day>.parquet`), which pandas, DuckDB
and Feast read. Spark reads those files directly (`file://` locally, `s3a://` on S3) and writes a
day as one file too: its task writes into a hidden folder beside the table, and the file is moved
to the day's name (a rename locally, a copy on S3: a reader sees the old day or the new one).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterable

import pandas as pd
import pyarrow.fs as pafs

from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.data.storage import S3Access, is_local
from mlops_assets.lib.spark.conf import s3a_settings

DAY_COLUMN = "_day"


def open_session(conf: dict[str, str]):
    """The process's Spark session with `conf` (an existing one is reused: a JVM a process)."""
    from pyspark.sql import SparkSession

    # Python workers run this interpreter (the project's environment; the same path in its image):
    # PySpark reads it from the environment only, and would take the first `python3` on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def configure_s3(session, s3: S3Access) -> None:
    """Points the session's S3A connector at `s3` (its endpoint, region and keys, when it has
    them), also when the session was started for another one: the JVM outlives a step's settings."""
    hadoop = session.sparkContext._jsc.hadoopConfiguration()
    values = s3a_settings(s3)
    if s3.access_key_id and s3.secret_access_key:
        values |= {"fs.s3a.access.key": s3.access_key_id, "fs.s3a.secret.key": s3.secret_access_key}
    for key, value in values.items():
        hadoop.set(key, value)
    if not s3.endpoint_url:
        for key in ("fs.s3a.endpoint", "fs.s3a.path.style.access"):
            hadoop.unset(key)


def spark_path(lake: Lake, path: str) -> str:
    """A lake path as Spark names it: `file:///...` locally, `s3a://bucket/...` on S3."""
    return f"file://{path}" if is_local(lake.filesystem) else f"s3a://{path}"


def day_paths(lake: Lake, table: str, days: Iterable[str]) -> list[str]:
    """The Spark paths of `table`'s files for those of `days` that exist."""
    return [spark_path(lake, lake.path(table, day)) for day in days if lake.exists(table, day)]


def write_days(lake: Lake, table: str, frame, days: list[str], empty: pd.DataFrame, order: list[str]) -> list[str]:
    """Writes the Spark DataFrame `frame` (with a `_day` column) as one file per day of `days`,
    each sorted by `order`, replacing each day whole; a day without rows gets `empty` (the
    table's columns, no rows). Returns the days' paths."""
    staging = f"{lake.root}/.spark-{table.replace('/', '-')}-{uuid.uuid4().hex}"
    (
        frame.repartition(DAY_COLUMN)
        .sortWithinPartitions(DAY_COLUMN, *order)
        .write.partitionBy(DAY_COLUMN)
        .parquet(spark_path(lake, staging))
    )
    paths = []
    try:
        for day in days:
            written = _parquet_files(lake.filesystem, f"{staging}/{DAY_COLUMN}={day}")
            if len(written) > 1:
                raise RuntimeError(f"Spark wrote {len(written)} files for {table} {day}, one expected")
            if written:
                target = lake.path(table, day)
                lake.filesystem.create_dir(target.rsplit("/", 1)[0], recursive=True)
                lake.filesystem.move(written[0], target)
                paths.append(target)
            else:
                paths.append(lake.write(table, empty, day))
    finally:
        lake.filesystem.delete_dir(staging)
    return paths


def _parquet_files(filesystem: pafs.FileSystem, folder: str) -> list[str]:
    selector = pafs.FileSelector(folder, allow_not_found=True)
    return sorted(
        info.path
        for info in filesystem.get_file_info(selector)
        if info.type == pafs.FileType.File and info.base_name.endswith(".parquet")
    )
