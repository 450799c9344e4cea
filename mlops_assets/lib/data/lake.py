"""The lake: Parquet tables at `<root>/<asset_key>/<YYYY-MM-DD>.parquet` (daily) or
`<root>/<asset_key>.parquet`, and small JSON records (what a model asset produced) at
`<root>/<asset_key>.json`, on any filesystem pyarrow knows (a local folder, or an S3 prefix).

Writes are atomic: a reader sees the old table or the new one, never half of one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from mlops_assets.lib.data.storage import Folder, S3Access, open_location


class Lake:
    """Parquet tables under one root (a local path or `s3://bucket/prefix`, reached with `s3`)."""

    def __init__(self, root: str, s3: S3Access | None = None):
        self.filesystem, self.root = open_location(root, s3)

    def path(self, key: str, partition: str | None = None) -> str:
        return f"{self.root}/{key}/{partition}.parquet" if partition else f"{self.root}/{key}.parquet"

    def write(self, key: str, frame: pd.DataFrame, partition: str | None = None) -> str:
        """Write a table, replacing the partition whole; returns its path."""
        path = self.path(key, partition)
        folder, name = path.rsplit("/", 1)
        return Folder(self.filesystem, folder).write_parquet(name, frame)

    def write_parts(self, key: str, partition: str, parts: Iterable[pd.DataFrame], empty: pd.DataFrame) -> str:
        """Write a partition from frames of the same columns, one at a time (only one is in memory),
        replacing it whole and atomically; `empty` (no rows) gives its columns when there are no
        parts. Returns its path."""
        path = self.path(key, partition)
        folder, name = path.rsplit("/", 1)

        def write(target: str) -> None:
            writer = None
            try:
                for part in parts:
                    table = pa.Table.from_pandas(part, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(target, table.schema, filesystem=self.filesystem)
                    writer.write_table(table.cast(writer.schema))
                if writer is None:
                    pq.write_table(
                        pa.Table.from_pandas(empty, preserve_index=False), target, filesystem=self.filesystem
                    )
            finally:
                if writer is not None:
                    writer.close()

        return Folder(self.filesystem, folder).write(name, write)

    def empty(self, key: str, partition: str | None = None) -> pd.DataFrame:
        """A table's columns and types, without reading its rows."""
        return pq.read_schema(self.path(key, partition), filesystem=self.filesystem).empty_table().to_pandas()

    def read_parts(self, key: str, partition: str, rows: int) -> Iterator[pd.DataFrame]:
        """A partition `rows` rows at a time, in order (a day larger than memory allows whole)."""
        with self.filesystem.open_input_file(self.path(key, partition)) as handle:
            parquet = pq.ParquetFile(handle)
            for batch in parquet.iter_batches(batch_size=rows):
                yield pa.Table.from_batches([batch], schema=parquet.schema_arrow).to_pandas()

    def write_record(self, key: str, record: dict) -> str:
        """Write a JSON record (replacing it whole); returns its path."""
        folder, name = f"{self.root}/{key}.json".rsplit("/", 1)
        return Folder(self.filesystem, folder).write(name, json.dumps(record, indent=2, sort_keys=True).encode())

    def read_record(self, key: str) -> dict:
        with self.filesystem.open_input_stream(f"{self.root}/{key}.json") as stream:
            return json.loads(stream.read())

    def exists_record(self, key: str) -> bool:
        return self.filesystem.get_file_info(f"{self.root}/{key}.json").type == pafs.FileType.File

    def record_names(self, folder: str) -> list[str]:
        """The names of the JSON records directly under `folder` (none when it does not exist), sorted."""
        selector = pafs.FileSelector(f"{self.root}/{folder}", allow_not_found=True)
        return sorted(
            info.base_name.removesuffix(".json")
            for info in self.filesystem.get_file_info(selector)
            if info.base_name.endswith(".json") and not info.base_name.startswith(".")
        )

    def read_records(self, folder: str) -> list[dict]:
        """Every JSON record directly under `folder` (none when it does not exist), by name."""
        return [self.read_record(f"{folder}/{name}") for name in self.record_names(folder)]

    def read(self, key: str, partition: str | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        return pq.read_table(self.path(key, partition), columns=columns, filesystem=self.filesystem).to_pandas()

    def row_count(self, key: str, partition: str | None = None) -> int:
        """The rows of a table, from its Parquet footer (nothing else is read)."""
        return pq.read_metadata(self.path(key, partition), filesystem=self.filesystem).num_rows

    def exists(self, key: str, partition: str | None = None) -> bool:
        info = self.filesystem.get_file_info(self.path(key, partition))
        return info.type == pafs.FileType.File

    def modified_ns(self, key: str) -> dict[str, int]:
        """When each partition of a daily table was last written (ns since the epoch)."""
        selector = pafs.FileSelector(f"{self.root}/{key}", allow_not_found=True)
        return {
            info.base_name.removesuffix(".parquet"): info.mtime_ns
            for info in self.filesystem.get_file_info(selector)
            if info.base_name.endswith(".parquet") and not info.base_name.startswith(".")
        }

    def partitions(self, key: str) -> list[str]:
        """The partition keys written for a daily table, sorted."""
        return sorted(self.modified_ns(key))
