"""Late labels: the outcome of a transaction seen before, as Parquet files in `<landing>/labels/`.

`POST /feedback` writes one file per request (anyone may drop files of the same columns there).
Validation applies them to a day's valid rows, so every asset downstream reads them as data: the
newest label of a transaction wins over older labels and over the `is_fraud` it landed with.
A label whose transaction has not landed (yet) stays in its file and applies once it lands.

A file is written under a dot-name and renamed when complete, so a reader never sees half of
one. A file that cannot be read as labels is moved to `labels/rejected/` with its reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

LABEL_COLUMNS = ("transaction_id", "is_fraud")
# Written by us beside the label columns: when the label arrived and where from.
RECEIVED_AT, SOURCE = "received_at", "source"


@dataclass(frozen=True)
class LabelFolder:
    folder: Path

    @classmethod
    def of_landing(cls, landing_dir: Path) -> LabelFolder:
        return cls(Path(landing_dir) / "labels")

    @property
    def rejected_dir(self) -> Path:
        return self.folder / "rejected"

    def write(self, labels: pd.DataFrame, source: str) -> Path:
        """A new label file of `labels` (`transaction_id`, `is_fraud` 0/1); returns its path."""
        received = datetime.now(UTC)
        frame = pd.DataFrame(
            {
                "transaction_id": labels["transaction_id"].astype("string"),
                "is_fraud": labels["is_fraud"].astype("int8"),
                RECEIVED_AT: pd.Timestamp(received),
                SOURCE: source,
            }
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{source}-{received:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.parquet"
        partial = path.with_name(f".{path.name}")
        frame.to_parquet(partial, index=False)
        partial.replace(path)
        return path

    def files(self) -> list[Path]:
        """Complete label files, oldest name first (names start with their arrival time)."""
        if not self.folder.exists():
            return []
        return sorted(p for p in self.folder.glob("*.parquet") if not p.name.startswith("."))

    def read(self, files: list[Path] | None = None) -> pd.DataFrame:
        """The newest label of each transaction id in `files` (default: all): `transaction_id`,
        `is_fraud`, `received_at`, `source` and the `file` it came from. Unreadable files are
        rejected on the way."""
        parts = []
        for path in self.files() if files is None else files:
            frame = self._read_file(path)
            if frame is not None:
                parts.append(frame.assign(file=path.name))
        if not parts:
            return pd.DataFrame(columns=[*LABEL_COLUMNS, RECEIVED_AT, SOURCE, "file"])
        labels = pd.concat(parts, ignore_index=True)
        labels = labels.sort_values([RECEIVED_AT, "file"], kind="stable")
        return labels.drop_duplicates("transaction_id", keep="last").reset_index(drop=True)

    def _read_file(self, path: Path) -> pd.DataFrame | None:
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError, pa.ArrowException) as error:
            self._reject(path, f"cannot be read as a parquet table: {error}")
            return None
        missing = [column for column in LABEL_COLUMNS if column not in frame.columns]
        if missing:
            self._reject(path, f"lacks label column(s): {', '.join(missing)}")
            return None
        label = pd.to_numeric(frame["is_fraud"], errors="coerce")
        ids = frame["transaction_id"].astype("string").str.strip()
        if not (label.isin([0, 1]).all() and ids.notna().all() and (ids != "").all()):
            self._reject(path, "every row needs a non-empty transaction_id and an is_fraud of 0 or 1")
            return None
        received = frame[RECEIVED_AT] if RECEIVED_AT in frame else pd.Timestamp(path.stat().st_mtime, unit="s")
        return pd.DataFrame(
            {
                "transaction_id": ids,
                "is_fraud": label.astype("int64"),
                RECEIVED_AT: pd.to_datetime(received, utc=True),
                SOURCE: frame[SOURCE].astype("string") if SOURCE in frame else "file",
            }
        )

    def _reject(self, path: Path, reason: str) -> None:
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        (self.rejected_dir / f"{path.name}.reason.txt").write_text(reason + "\n")
        path.replace(self.rejected_dir / path.name)


def apply_labels(valid: pd.DataFrame, labels: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """`valid` with `is_fraud` replaced by the late label of each transaction that has one;
    returns it and how many rows got a label that differs from (or fills) the landed one."""
    if labels.empty or valid.empty:
        return valid, 0
    late = valid["transaction_id"].map(labels.set_index("transaction_id")["is_fraud"]).astype("Int64")
    has_label = late.notna()
    differs = (valid["is_fraud"].isna() | (valid["is_fraud"] != late)).fillna(True)
    changed = int((has_label & differs).sum())
    labelled = valid.copy()
    labelled["is_fraud"] = late.where(has_label, valid["is_fraud"]).astype("Int64")
    return labelled, changed
