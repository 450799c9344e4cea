"""Late labels: the outcome of a transaction seen before, as Parquet files in `<landing>/labels/`
(a local folder or an S3 prefix).

`POST /feedback` writes one file per request (anyone may drop files of the same columns there).
Validation applies them to a day's valid rows, so every asset downstream reads them as data: the
newest label of a transaction wins over older labels and over the `is_fraud` it landed with.
A label whose transaction has not landed (yet) stays in its file and applies once it lands; once
it has waited too long for that (`set_aside_unmatched`), it is moved to `labels/unmatched/` with the
reason, where a person can look at it (a mistyped id, a transaction of another system).

A file is written under a dot-name and renamed when complete, so a reader never sees half of
one. A file that cannot be read as labels is moved to `labels/rejected/` with its reason.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
from pyarrow.fs import FileInfo

from mlops_assets.lib.data.storage import Folder, S3Access

LABEL_COLUMNS = ("transaction_id", "is_fraud")
# Written by us beside the label columns: when the label arrived and where from.
RECEIVED_AT, SOURCE = "received_at", "source"


@dataclass(frozen=True)
class LabelFolder:
    folder: Folder

    @classmethod
    def of_landing(cls, landing: str, s3: S3Access | None = None) -> LabelFolder:
        """The `labels/` folder of a landing location (a local path or `s3://...`)."""
        return cls(Folder.at(landing, s3).child("labels"))

    @property
    def rejected(self) -> Folder:
        return self.folder.child("rejected")

    def write(self, labels: pd.DataFrame, source: str) -> str:
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
        return self.folder.write_parquet(f"{source}-{received:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.parquet", frame)

    @property
    def unmatched(self) -> Folder:
        return self.folder.child("unmatched")

    def files(self) -> list[FileInfo]:
        """Complete label files, oldest name first (names start with their arrival time)."""
        return self.folder.files((".parquet",))

    def read(self, names: list[str] | None = None) -> pd.DataFrame:
        """The newest label of each transaction id in the files `names` (default: all):
        `transaction_id`, `is_fraud`, `received_at`, `source` and the `file` it came from.
        Unreadable files are rejected on the way."""
        parts = []
        for info in self.files() if names is None else map(self.folder.info, names):
            frame = self._read_file(info)
            if frame is not None:
                parts.append(frame.assign(file=info.base_name))
        if not parts:
            return pd.DataFrame(columns=[*LABEL_COLUMNS, RECEIVED_AT, SOURCE, "file"])
        labels = pd.concat(parts, ignore_index=True)
        labels = labels.sort_values([RECEIVED_AT, "file"], kind="stable")
        return labels.drop_duplicates("transaction_id", keep="last").reset_index(drop=True)

    def set_aside_unmatched(self, landed: Callable[[pd.Series], pd.Index], after: pd.Timedelta) -> dict[str, int]:
        """Moves the labels of transactions that had not landed `after` their file arrived to
        `unmatched/<file>` (every column kept, and a `reason`); `landed(ids)` gives the ids that
        have landed. Returns how many labels each file lost. The file keeps its other labels, or
        goes when it has none left. Unmatched labels are written before the file is rewritten,
        so an interruption leaves a label in both places at worst, never in neither."""
        arrived_before = time.time_ns() - after.value
        waited = []  # (file, its labels) of the files that have waited long enough
        for info in self.files():
            if info.mtime_ns > arrived_before:
                continue
            try:
                frame = self.folder.read_parquet(info.base_name)
                frame["transaction_id"] = frame["transaction_id"].astype("string").str.strip()
            except (OSError, ValueError, KeyError, pa.ArrowException):
                continue  # not labels: validation and `label_sensor` reject the file with its reason
            waited.append((info, frame))
        if not waited:
            return {}
        known = landed(pd.concat([frame["transaction_id"] for _, frame in waited], ignore_index=True))
        moved = {}
        for info, frame in waited:
            matched = frame["transaction_id"].isin(known).to_numpy()
            if matched.all():
                continue
            if RECEIVED_AT not in frame:  # the arrival is the file's time: kept, as the file is rewritten
                frame[RECEIVED_AT] = pd.Timestamp(info.mtime_ns, unit="ns", tz="UTC")
            self.unmatched.write_parquet(info.base_name, frame[~matched].assign(reason=unmatched_reason(after)))
            if matched.any():
                self.folder.write_parquet(info.base_name, frame[matched])
            else:
                self.folder.delete(info.base_name)
            moved[info.base_name] = int((~matched).sum())
        return moved

    def _read_file(self, info: FileInfo) -> pd.DataFrame | None:
        name = info.base_name
        try:
            frame = self.folder.read_parquet(name)
        except (OSError, ValueError, pa.ArrowException) as error:
            self.folder.set_aside(name, self.rejected, f"cannot be read as a parquet table: {error}")
            return None
        missing = [column for column in LABEL_COLUMNS if column not in frame.columns]
        if missing:
            self.folder.set_aside(name, self.rejected, f"lacks label column(s): {', '.join(missing)}")
            return None
        label = pd.to_numeric(frame["is_fraud"], errors="coerce")
        ids = frame["transaction_id"].astype("string").str.strip()
        if not (label.isin([0, 1]).all() and ids.notna().all() and (ids != "").all()):
            reason = "every row needs a non-empty transaction_id and an is_fraud of 0 or 1"
            self.folder.set_aside(name, self.rejected, reason)
            return None
        received = frame[RECEIVED_AT] if RECEIVED_AT in frame else pd.Timestamp(info.mtime_ns, unit="ns")
        return pd.DataFrame(
            {
                "transaction_id": ids,
                "is_fraud": label.astype("int64"),
                RECEIVED_AT: pd.to_datetime(received, utc=True),
                SOURCE: frame[SOURCE].astype("string") if SOURCE in frame else "file",
            }
        )


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


def unmatched_reason(after: pd.Timedelta) -> str:
    """Why a label was set aside: its transaction had not landed `after` the label arrived."""
    days = after / pd.Timedelta(days=1)
    return f"no transaction with this id had landed {days:g} day{'s' if days != 1 else ''} after the label arrived"
