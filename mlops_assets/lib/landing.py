"""The landing folder: reading raw files, rejecting unreadable ones, and indexing the rest.

Indexing a file happens once, in arrival order, and records for every row:
- the day partition it belongs to: the UTC day of its `event_timestamp`; a row whose timestamp
  does not parse, or falls outside the partitions (before the first partition day or after
  today), is placed in the earliest valid day of its own file (and quarantined there by
  validation, which sees the mismatch);
- whether its `transaction_id` was already seen, earlier in the same file or in any file indexed
  before it: the first row seen keeps the id, later ones are duplicates.

A file that cannot be read as a table, lacks a required column, or has no row with a valid
timestamp is moved to `rejected/` with `<name>.reason.txt` beside it. Files whose names start
with a dot are ignored, so a writer can upload to `.name` and rename when complete.

Raw values are kept as text (nulls where a value is missing), so that a file of any types, CSV or
Parquet, becomes the same raw table, and quarantine can show what was really received.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlops_assets.lib.contract import COLUMNS, REQUIRED_COLUMNS, SOURCE_FILE, SOURCE_ROW

LANDING_SUFFIXES = (".parquet", ".csv")


class UnreadableFile(Exception):
    """A landing file that cannot become a raw table; the message is the reason kept beside it."""


def read_as_text(path: Path) -> pd.DataFrame:
    """Read a landing file into contract columns of text; missing optional columns are absent.

    Raises `UnreadableFile` when the file is not a table or lacks a required column.
    """
    try:
        if path.suffix == ".csv":
            # Everything as text: validation, not the reader, decides what a value means.
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        else:
            frame = _parquet_as_text(pq.read_table(path))
    except (OSError, ValueError, pa.ArrowException, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise UnreadableFile(f"cannot be read as a {path.suffix[1:]} table: {error}") from error
    frame.columns = [str(column).strip() for column in frame.columns]
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise UnreadableFile(f"lacks required column(s): {', '.join(missing)}")
    present = [column for column in COLUMNS if column in frame.columns]
    return frame[present].astype("string").reset_index(drop=True)


def _parquet_as_text(table: pa.Table) -> pd.DataFrame:
    """Arrow's own cast to text: timestamps become ISO 8601 (`2025-01-01 10:00:00.5Z` when zoned,
    no suffix when naive, which the contract reads as UTC), numbers and booleans their usual text."""
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_dictionary(column.type):
            column = pa.chunked_array([chunk.dictionary_decode() for chunk in column.chunks])
        columns[name] = column.cast(pa.string()).to_pandas()
    return pd.DataFrame(columns)


def parse_timestamps(text: pd.Series) -> pd.Series:
    """ISO 8601 text to UTC timestamps (naive values are UTC); NaT where it does not parse."""
    parsed = pd.to_datetime(text.str.strip(), format="ISO8601", utc=True, errors="coerce")
    return parsed.astype("datetime64[us, UTC]")


@dataclass
class IndexEntry:
    """What indexing learned about one landing file."""

    file_id: str
    name: str
    sha256: str
    size: int
    mtime_ns: int
    rows: int
    days: dict[str, int] = field(default_factory=dict)  # partition day -> rows placed there
    indexed_at: str = ""


@dataclass
class Rejection:
    name: str
    reason: str


@dataclass
class IndexReport:
    """The outcome of one indexing pass: new entries and files moved to `rejected/`."""

    indexed: list[IndexEntry] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


class LandingIndex:
    """The landing folder and its index under `<landing>/.index/`."""

    def __init__(self, landing_dir: Path, partitions_start: str):
        self.landing_dir = Path(landing_dir)
        self.index_dir = self.landing_dir / ".index"
        self.rejected_dir = self.landing_dir / "rejected"
        self.partitions_start = pd.Timestamp(partitions_start, tz="UTC")

    # -- reading the index -------------------------------------------------------------------
    def entries(self) -> list[IndexEntry]:
        """Every indexed file, in the order it was indexed."""
        if not self.index_dir.exists():
            return []
        entries = [IndexEntry(**json.loads(path.read_text())) for path in self.index_dir.glob("*.json")]
        return sorted(entries, key=lambda entry: (entry.indexed_at, entry.name))

    def entries_for_day(self, day: str) -> list[IndexEntry]:
        return [entry for entry in self.entries() if day in entry.days]

    def row_table(self, entry: IndexEntry) -> pd.DataFrame:
        """Per row of the file: `source_row`, `day`, `transaction_id`, `is_duplicate`."""
        return pd.read_parquet(self.index_dir / f"{entry.file_id}.rows.parquet")

    def read_day(self, day: str) -> pd.DataFrame:
        """The raw rows of every indexed file placed in `day`, with their source file and row."""
        parts = []
        for entry in self.entries_for_day(day):
            rows = self.row_table(entry)
            placed = rows.loc[rows["day"] == day, "source_row"].to_numpy()
            frame = read_as_text(self.landing_dir / entry.name).iloc[placed]
            frame.insert(0, SOURCE_ROW, placed.astype(np.int64))
            frame.insert(0, SOURCE_FILE, entry.name)
            parts.append(frame)
        if not parts:
            return pd.DataFrame({SOURCE_FILE: pd.Series(dtype="string"), SOURCE_ROW: pd.Series(dtype="int64")})
        frame = pd.concat(parts, ignore_index=True)
        frame[SOURCE_FILE] = frame[SOURCE_FILE].astype("string")
        return frame

    def duplicate_rows(self, names: list[str]) -> pd.DataFrame:
        """`source_file`, `source_row` of rows whose transaction id was seen before them."""
        by_name = {entry.name: entry for entry in self.entries()}
        parts = []
        for name in names:
            rows = self.row_table(by_name[name])
            duplicates = rows.loc[rows["is_duplicate"], ["source_row"]]
            parts.append(duplicates.assign(**{SOURCE_FILE: name}))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[SOURCE_ROW, SOURCE_FILE])

    # -- indexing new files ------------------------------------------------------------------
    def landing_files(self) -> list[Path]:
        """Landing files waiting in the folder, oldest first; dot-files are uploads in progress."""
        if not self.landing_dir.exists():
            return []
        files = [
            path
            for path in self.landing_dir.iterdir()
            if path.is_file() and path.suffix in LANDING_SUFFIXES and not path.name.startswith(".")
        ]
        return sorted(files, key=lambda path: (path.stat().st_mtime_ns, path.name))

    def index_new_files(self) -> IndexReport:
        """Index every landing file not indexed yet, in arrival order; reject unreadable ones.

        A file rewritten with the same bytes is left alone; one whose bytes changed after it was
        indexed is rejected with that reason (its first version may already be in the lake).
        """
        report = IndexReport()
        with self._lock():
            known = {entry.name: entry for entry in self.entries()}
            for path in self.landing_files():
                stat = path.stat()
                entry = known.get(path.name)
                if entry is not None and (entry.size, entry.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                    continue
                try:
                    if entry is None:
                        report.indexed.append(self._index_file(path))
                    elif _sha256(path) == entry.sha256:
                        entry.size, entry.mtime_ns = stat.st_size, stat.st_mtime_ns
                        self._write_entry(entry)
                    else:
                        raise UnreadableFile(
                            f"content changed after it was indexed at {entry.indexed_at} (sha256 was "
                            f"{entry.sha256}); land changed data under a new file name"
                        )
                except UnreadableFile as error:
                    report.rejected.append(self._reject(path, str(error)))
        return report

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """One indexer at a time (the sensor and `mlops ingest` may run together)."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with open(self.index_dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def days_of(self, ids: pd.Series) -> pd.Series:
        """The day partition of each transaction id that has landed (absent ids are not in it)."""
        tables = [
            pd.read_parquet(path, columns=["transaction_id", "day", "is_duplicate"])
            for path in self.index_dir.glob("*.rows.parquet")
        ]
        if not tables:
            return pd.Series(dtype="string")
        rows = pd.concat(tables, ignore_index=True)
        rows = rows[~rows["is_duplicate"] & rows["transaction_id"].isin(ids)]
        return rows.set_index("transaction_id")["day"]

    def _seen_ids(self) -> pd.Index:
        ids = [
            pd.read_parquet(path, columns=["transaction_id", "is_duplicate"])
            for path in self.index_dir.glob("*.rows.parquet")
        ]
        if not ids:
            return pd.Index([], dtype="string")
        seen = pd.concat(ids, ignore_index=True)
        return pd.Index(seen.loc[~seen["is_duplicate"], "transaction_id"].dropna())

    def _index_file(self, path: Path) -> IndexEntry:
        frame = read_as_text(path)
        timestamps = parse_timestamps(frame["event_timestamp"])
        # Daily partitions run from the first partition day through today (UTC).
        end = pd.Timestamp.now(tz="UTC").normalize() + pd.Timedelta(days=1)
        valid = timestamps.notna() & (timestamps >= self.partitions_start) & (timestamps < end)
        if len(frame) and not valid.any():
            raise UnreadableFile(
                "no row has a valid event_timestamp, so the file cannot be placed in a daily partition"
            )
        days = _day_keys(timestamps).where(valid)
        days = days.fillna(days.min()) if len(frame) else days
        ids = frame["transaction_id"].str.strip().replace("", pd.NA)
        is_duplicate = ids.notna() & (ids.duplicated(keep="first") | ids.isin(self._seen_ids()))
        rows = pd.DataFrame(
            {
                "source_row": np.arange(len(frame), dtype=np.int64),
                "day": days.astype("string"),
                "transaction_id": ids.astype("string"),
                "is_duplicate": is_duplicate.to_numpy(dtype=bool),
            }
        )
        sha256 = _sha256(path)
        stat = path.stat()
        entry = IndexEntry(
            file_id=hashlib.sha256(f"{path.name}\0{sha256}".encode()).hexdigest()[:16],
            name=path.name,
            sha256=sha256,
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            rows=len(frame),
            days={day: int(count) for day, count in rows["day"].value_counts().sort_index().items()},
            indexed_at=datetime.now(UTC).isoformat(),
        )
        # Rows first, entry last: an entry on disk always has its row table.
        _write_atomically(self.index_dir / f"{entry.file_id}.rows.parquet", rows.to_parquet(index=False))
        self._write_entry(entry)
        return entry

    def _write_entry(self, entry: IndexEntry) -> None:
        _write_atomically(self.index_dir / f"{entry.file_id}.json", json.dumps(asdict(entry), indent=1).encode())

    def _reject(self, path: Path, reason: str) -> Rejection:
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        (self.rejected_dir / f"{path.name}.reason.txt").write_text(reason + "\n")
        path.replace(self.rejected_dir / path.name)
        return Rejection(name=path.name, reason=reason)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomically(path: Path, content: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(content)
    partial.replace(path)


def _day_keys(timestamps: pd.Series) -> pd.Series:
    """`YYYY-MM-DD` of each UTC timestamp, formatting each distinct day once (fast for 1M rows)."""
    days = pd.Categorical(timestamps.dt.floor("D"))
    names = pd.Index(days.categories).strftime("%Y-%m-%d")
    return pd.Series(pd.Categorical.from_codes(days.codes, categories=names), index=timestamps.index).astype("string")
