"""Where files live: a local folder or an S3 prefix, both through a pyarrow filesystem, so the
landing folder, the lake and the reports work the same on a laptop and on S3.

A location is a plain string: a local path, or `s3://bucket/prefix`. How to reach S3 (endpoint,
region, keys) is an `S3Access`; without keys, pyarrow's usual chain (environment, instance role)
applies.

Writes are atomic for readers: on a local disk a file is written under a dot-name and renamed
(readers skip dot-names); an object store puts whole objects.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

S3_PREFIX = "s3://"
# Attempts of one S3 request before its error is raised.
S3_ATTEMPTS = 5
# Copying a local file to a location streams it in pieces of this many bytes.
LOCAL_COPY_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class S3Access:
    """How to reach S3: `endpoint_url` for an S3-compatible server (MinIO, moto), else AWS."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None

    def filesystem(self) -> pafs.S3FileSystem:
        # The AWS SDK's standard retries (exponential backoff with jitter on throttling, 5xx and
        # connection errors), with a few more attempts than its default 3.
        options: dict[str, object] = {"retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=S3_ATTEMPTS)}
        if self.endpoint_url:
            endpoint = urlsplit(self.endpoint_url)
            options.update(endpoint_override=endpoint.netloc, scheme=endpoint.scheme or "https")
        if self.region:
            options["region"] = self.region
        if self.access_key_id and self.secret_access_key:
            options.update(access_key=self.access_key_id, secret_key=self.secret_access_key)
        return pafs.S3FileSystem(**options)


def open_location(location: str, s3: S3Access | None = None) -> tuple[pafs.FileSystem, str]:
    """The filesystem and root path of a location: a local path, `s3://bucket/prefix` (reached
    with `s3`, by default AWS itself, as the AWS SDK configures itself from its own variables), or
    any URI pyarrow knows."""
    if location.startswith(S3_PREFIX) and "?" not in location:
        return (s3 or S3Access()).filesystem(), location.removeprefix(S3_PREFIX).rstrip("/")
    if "://" in location:
        filesystem, root = pafs.FileSystem.from_uri(location)
        return filesystem, root.rstrip("/")
    return pafs.LocalFileSystem(), os.path.abspath(location)


def is_local(filesystem: pafs.FileSystem) -> bool:
    return isinstance(filesystem, pafs.LocalFileSystem)


def write_atomically(filesystem: pafs.FileSystem, path: str, write: Callable[[str], None]) -> None:
    """Calls `write(target)` so that readers of `path` see the old file or the new one whole."""
    folder, name = path.rsplit("/", 1)
    filesystem.create_dir(folder, recursive=True)
    if not is_local(filesystem):
        write(path)  # object stores put whole objects
        return
    # Hidden while partial: readers here, and of the folder (pyarrow datasets), skip dot-files.
    partial = f"{folder}/.{name}.{uuid.uuid4().hex}.partial"
    write(partial)
    filesystem.move(partial, path)  # rename: atomic on one filesystem


@dataclass(frozen=True)
class Folder:
    """The files directly under one folder of a filesystem. Names starting with a dot are
    uploads in progress and are never listed."""

    filesystem: pafs.FileSystem
    path: str

    @classmethod
    def at(cls, location: str, s3: S3Access | None = None) -> Folder:
        return cls(*open_location(str(location), s3))

    @property
    def location(self) -> str:
        """The folder as a user would name it (`s3://...` on S3)."""
        return self.path if is_local(self.filesystem) else S3_PREFIX + self.path

    def child(self, name: str) -> Folder:
        return Folder(self.filesystem, f"{self.path}/{name}")

    def file(self, name: str) -> str:
        return f"{self.path}/{name}"

    def files(self, suffixes: tuple[str, ...] = ()) -> list[pafs.FileInfo]:
        """Complete files (with their size and modification time), by name."""
        infos = self.filesystem.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        return sorted(
            (
                info
                for info in infos
                if info.type == pafs.FileType.File
                and not info.base_name.startswith(".")
                and (not suffixes or info.base_name.endswith(suffixes))
            ),
            key=lambda info: info.base_name,
        )

    def folders(self) -> list[str]:
        """Names of the folders directly under this one, sorted."""
        infos = self.filesystem.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        return sorted(info.base_name for info in infos if info.type == pafs.FileType.Directory)

    def info(self, name: str) -> pafs.FileInfo:
        return self.filesystem.get_file_info(self.file(name))

    def exists(self, name: str) -> bool:
        return self.info(name).type == pafs.FileType.File

    def open(self, name: str):
        """A seekable binary reader of one file (pandas and pyarrow read from it)."""
        return self.filesystem.open_input_file(self.file(name))

    def read_bytes(self, name: str) -> bytes:
        with self.open(name) as handle:
            return handle.read()

    def write(self, name: str, write: Callable[[str], None] | bytes | Path) -> str:
        """Writes a file atomically, from bytes, a local file's contents, or by
        `write(target_path)`; returns its path."""
        if isinstance(write, bytes | Path):
            source = write

            def write(target: str) -> None:
                with self.filesystem.open_output_stream(target) as stream:
                    if isinstance(source, bytes):
                        stream.write(source)
                    else:
                        with source.open("rb") as handle:
                            shutil.copyfileobj(handle, stream, LOCAL_COPY_CHUNK)

        write_atomically(self.filesystem, self.file(name), write)
        return self.file(name)

    def read_parquet(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        return pq.read_table(self.file(name), columns=columns, filesystem=self.filesystem).to_pandas()

    def row_count(self, name: str) -> int:
        """The rows of a Parquet file here, from its footer (nothing else is read)."""
        return pq.read_metadata(self.file(name), filesystem=self.filesystem).num_rows

    def write_parquet(self, name: str, frame: pd.DataFrame) -> str:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        return self.write(name, lambda target: pq.write_table(table, target, filesystem=self.filesystem))

    def delete(self, name: str) -> None:
        self.filesystem.delete_file(self.file(name))

    def set_aside(self, name: str, into: Folder, reason: str) -> None:
        """Moves a file into `into` with `<name>.reason.txt` beside it: kept, never lost."""
        into.write(f"{name}.reason.txt", (reason + "\n").encode())
        self.filesystem.move(self.file(name), into.file(name))
