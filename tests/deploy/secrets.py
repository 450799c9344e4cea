"""Finds secret values in what a deployment keeps and shows. It looks inside the containers the
project writes, where compression would hide a value from a plain search: Parquet tables (as CSV
text), gzip streams, zip and tar archives (skops models, exported Bentos), recursively."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow.parquet as pq


def readable(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """`data` as bytes a search can see into, each piece with where it came from
    (`archive!member` for what an archive holds)."""
    if data[:4] == b"PAR1":
        table = pq.read_table(io.BytesIO(data))
        yield name, f"{table.schema.metadata}\n{table.to_pandas().to_csv()}".encode()
    elif data[:2] == b"\x1f\x8b":
        yield from readable(name, gzip.decompress(data))
    elif zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                yield from readable(f"{name}!{member}", archive.read(member))
    elif len(data) >= 512 and tarfile.is_tarfile(io.BytesIO(data)):
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            for member in archive.getmembers():
                if member.isfile():
                    yield from readable(f"{name}!{member.name}", archive.extractfile(member).read())
    else:
        yield name, data


def files_under(root: Path) -> Iterator[tuple[str, bytes]]:
    """Every file below `root`, opened up as `readable` does."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield from readable(str(path), path.read_bytes())


def leaks(secrets: dict[str, str], places: Iterable[tuple[str, bytes]]) -> list[str]:
    """`"<variable> in <place>"` for each secret value found in a place's bytes."""
    found = []
    for place, data in places:
        found += [f"{variable} in {place}" for variable, value in secrets.items() if value.encode() in data]
    return found
