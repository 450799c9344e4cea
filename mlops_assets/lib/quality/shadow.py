"""Shadow scores: live transactions scored by the `challenger` beside the `champion` that answered.

The service writes them as Parquet fragments in `<landing>/shadow/<YYYY-MM-DD>/` (the day of
each transaction's `event_timestamp`), one fragment per flush of each worker; the `shadow_scores`
asset gathers a day's fragments into the lake table `shadow_scores/<day>.parquet`, with the late
labels validation knows. Like label files, fragments are data that arrived: they stay where they
are, so a day's table can always be rebuilt from them.

A fragment is written under a dot-name and renamed when complete, so a reader never sees half of
one. `compare` measures a champion and a challenger on the same live rows.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
from pyarrow.fs import FileInfo

from mlops_assets.keys import SHADOW_SCORES
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.data.storage import Folder, S3Access
from mlops_assets.lib.quality.drift import psi

# One row per transaction scored in the shadow: what the answer was and what the challenger said.
SHADOW_COLUMNS = (
    "transaction_id",
    "event_timestamp",
    "customer_id",
    "merchant_id",
    "amount",
    "scored_at",
    "champion_version",
    "champion_probability",
    "champion_is_fraud",
    "challenger_version",
    "challenger_probability",
    "challenger_is_fraud",
)
PAIR = ["champion_version", "challenger_version"]


@dataclass(frozen=True)
class ShadowLog:
    folder: Folder

    @classmethod
    def of_landing(cls, landing: str, s3: S3Access | None = None) -> ShadowLog:
        """The `shadow/` folder of a landing location (a local path or `s3://...`)."""
        return cls(Folder.at(landing, s3).child("shadow"))

    @property
    def rejected(self) -> Folder:
        return self.folder.child("rejected")

    def write(self, scores: pd.DataFrame) -> list[str]:
        """One new fragment per event day of `scores` (columns `SHADOW_COLUMNS`); their paths."""
        missing = [column for column in SHADOW_COLUMNS if column not in scores]
        if missing:
            raise ValueError(f"shadow scores lack column(s): {', '.join(missing)}")
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"
        days = pd.to_datetime(scores["event_timestamp"], utc=True).dt.strftime("%Y-%m-%d")
        return [
            self.folder.child(day).write_parquet(name, part)
            for day, part in scores[list(SHADOW_COLUMNS)].groupby(days, sort=True)
        ]

    def days(self) -> list[str]:
        """Days that have fragments, oldest first."""
        return [name for name in self.folder.folders() if name != "rejected"]

    def fragments(self, day: str) -> list[FileInfo]:
        """The day's complete fragments, oldest first."""
        return self.folder.child(day).files((".parquet",))

    def newest_ns(self, day: str) -> int:
        """When the day's newest fragment was written (ns since the epoch); -1 without any."""
        return max((info.mtime_ns for info in self.fragments(day)), default=-1)

    def read(self, day: str) -> pd.DataFrame:
        """The day's shadow scores; a transaction scored more than once by the same pair of
        versions (a client retrying) counts once, its latest scoring kept. Unreadable fragments
        are moved to `rejected/` with their reason on the way."""
        folder = self.folder.child(day)
        parts = [self._read_fragment(folder, info.base_name) for info in self.fragments(day)]
        parts = [frame for frame in parts if frame is not None]
        if not parts:
            return _empty()
        scores = pd.concat(parts, ignore_index=True).sort_values("scored_at", kind="stable")
        return scores.drop_duplicates(["transaction_id", *PAIR], keep="last").reset_index(drop=True)

    def _read_fragment(self, folder: Folder, name: str) -> pd.DataFrame | None:
        rejected = self.rejected.child(folder.path.rsplit("/", 1)[-1])
        try:
            frame = folder.read_parquet(name)
        except (OSError, ValueError, pa.ArrowException) as error:
            folder.set_aside(name, rejected, f"cannot be read as a parquet table: {error}")
            return None
        missing = [column for column in SHADOW_COLUMNS if column not in frame.columns]
        if missing:
            folder.set_aside(name, rejected, f"lacks shadow column(s): {', '.join(missing)}")
            return None
        return frame[list(SHADOW_COLUMNS)]


def _empty() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in SHADOW_COLUMNS})


def compare(scores: pd.DataFrame) -> list[dict]:
    """Each (champion, challenger) pair of `scores` on the rows both scored: how often they
    decide alike, how far their scores are apart and, where `is_fraud` labels exist with both
    classes, their PR AUC and recall on the same labelled rows."""
    from sklearn.metrics import average_precision_score

    found = []
    for (champion, challenger), rows in scores.groupby(PAIR, sort=True):
        ours = rows["champion_probability"].to_numpy(dtype=np.float64)
        theirs = rows["challenger_probability"].to_numpy(dtype=np.float64)
        flagged = rows["champion_is_fraud"].to_numpy(dtype=bool)
        flagged_by_challenger = rows["challenger_is_fraud"].to_numpy(dtype=bool)
        pair = {
            "champion_version": str(champion),
            "challenger_version": str(challenger),
            "rows": len(rows),
            "decision_agreement": float((flagged == flagged_by_challenger).mean()),
            "champion_flagged": int(flagged.sum()),
            "challenger_flagged": int(flagged_by_challenger.sum()),
            "mean_abs_difference": float(np.abs(ours - theirs).mean()),
            "score_psi": psi(ours, theirs),
            "labelled_rows": 0,
            "labelled_frauds": 0,
        }
        if "is_fraud" in rows:
            known = rows["is_fraud"].notna().to_numpy()
            labels = rows["is_fraud"].to_numpy()[known].astype(np.int64)
            pair["labelled_rows"], pair["labelled_frauds"] = int(known.sum()), int(labels.sum())
            if 0 < labels.sum() < len(labels):
                for name, scored, decided in (
                    ("champion", ours, flagged),
                    ("challenger", theirs, flagged_by_challenger),
                ):
                    pair[f"{name}_pr_auc"] = float(average_precision_score(labels, scored[known]))
                    pair[f"{name}_recall"] = float(decided[known][labels == 1].mean())
        found.append(pair)
    return found


def scores_between(lake: Lake, first: str, last: str) -> pd.DataFrame:
    """The rows of the `shadow_scores` table from day `first` to `last`, inclusive."""
    frames = [lake.read(SHADOW_SCORES, day) for day in lake.partitions(SHADOW_SCORES) if first <= day <= last]
    return pd.concat(frames, ignore_index=True) if frames else _empty()


def recent_scores(lake: Lake, days: int) -> pd.DataFrame:
    """The rows of the `shadow_scores` table's latest `days` partitions."""
    partitions = lake.partitions(SHADOW_SCORES)[-days:]
    return scores_between(lake, partitions[0], partitions[-1]) if partitions else _empty()


def live_comparison(scores: pd.DataFrame, champion: str, challenger: str) -> dict | None:
    """`compare` of one champion and challenger on `scores`; None when they share no rows."""
    pair = scores[(scores["champion_version"] == champion) & (scores["challenger_version"] == challenger)]
    return compare(pair)[0] if len(pair) else None
