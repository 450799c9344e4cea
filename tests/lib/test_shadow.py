"""`ShadowLog` keeps the service's shadow scores as whole fragments per event day and reads a day
back once per transaction; `compare` measures a champion and a challenger on the same rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_assets.lib.quality.shadow import SHADOW_COLUMNS, ShadowLog, compare


def shadow_rows(ids: list[str], days: list[str], champion: str = "3", challenger: str = "4", **columns) -> pd.DataFrame:
    count = len(ids)
    frame = pd.DataFrame(
        {
            "transaction_id": ids,
            "event_timestamp": pd.to_datetime([f"{day} 12:00" for day in days], utc=True),
            "customer_id": np.arange(1, count + 1),
            "merchant_id": np.arange(1, count + 1),
            "amount": 10.0,
            "scored_at": pd.Timestamp("2025-03-12 09:00", tz="UTC"),
            "champion_version": champion,
            "champion_probability": 0.1,
            "champion_is_fraud": False,
            "challenger_version": challenger,
            "challenger_probability": 0.2,
            "challenger_is_fraud": False,
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


def test_a_fragment_per_event_day_is_written_whole(tmp_path) -> None:
    log = ShadowLog.of_landing(tmp_path)
    written = log.write(shadow_rows(["a", "b", "c"], ["2025-03-11", "2025-03-12", "2025-03-11"]))
    assert [Path(path).parent.name for path in written] == ["2025-03-11", "2025-03-12"]
    assert log.days() == ["2025-03-11", "2025-03-12"]
    assert not [p for p in (tmp_path / "shadow").rglob(".*")], "no partial fragment is left behind"
    assert log.read("2025-03-11")["transaction_id"].tolist() == ["a", "c"]
    assert list(log.read("2025-03-12").columns) == list(SHADOW_COLUMNS)


def test_a_retried_transaction_counts_once_per_pair_of_versions(tmp_path) -> None:
    log = ShadowLog.of_landing(tmp_path)
    log.write(shadow_rows(["a", "b"], ["2025-03-11"] * 2))
    retried = shadow_rows(["a"], ["2025-03-11"], champion_probability=0.7)
    retried["scored_at"] = pd.Timestamp("2025-03-12 10:00", tz="UTC")
    log.write(retried)
    log.write(shadow_rows(["a"], ["2025-03-11"], champion="5"))  # scored again by a later champion
    read = log.read("2025-03-11").set_index(["transaction_id", "champion_version"])
    assert len(read) == 3 and read.loc[("a", "3"), "champion_probability"] == 0.7


def test_shadow_rows_lacking_a_column_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="challenger_probability"):
        ShadowLog.of_landing(tmp_path).write(shadow_rows(["a"], ["2025-03-11"]).drop(columns="challenger_probability"))


def test_an_unreadable_fragment_is_set_aside_with_its_reason(tmp_path) -> None:
    log = ShadowLog.of_landing(tmp_path)
    log.write(shadow_rows(["a"], ["2025-03-11"]))
    broken = Path(log.folder.path) / "2025-03-11" / "broken.parquet"
    broken.write_bytes(b"not parquet")
    assert log.read("2025-03-11")["transaction_id"].tolist() == ["a"]
    assert not broken.exists()
    reason = (Path(log.rejected.path) / "2025-03-11" / "broken.parquet.reason.txt").read_text()
    assert "cannot be read as a parquet table" in reason
    assert log.days() == ["2025-03-11"], "the rejected folder is not a day"


def test_compare_measures_each_pair_on_the_rows_both_scored() -> None:
    scores = shadow_rows(
        ["a", "b", "c", "d", "e"],
        ["2025-03-11"] * 5,
        challenger=["4", "4", "4", "4", "6"],
        champion_probability=[0.9, 0.1, 0.6, 0.2, 0.5],
        champion_is_fraud=[True, False, True, False, True],
        challenger_probability=[0.8, 0.3, 0.4, 0.1, 0.5],
        challenger_is_fraud=[True, False, False, False, True],
        is_fraud=pd.array([0, 1, 1, None, None], dtype="Int64"),
    )
    first, second = compare(scores)
    assert (first["challenger_version"], first["rows"], second["challenger_version"], second["rows"]) == (
        "4",
        4,
        "6",
        1,
    )
    assert first["decision_agreement"] == 0.75
    assert (first["champion_flagged"], first["challenger_flagged"]) == (2, 1)
    assert first["mean_abs_difference"] == pytest.approx(0.15)
    assert (first["labelled_rows"], first["labelled_frauds"]) == (3, 2)
    # labelled rows ranked by either model: a legitimate one first, then the two frauds
    assert first["champion_pr_auc"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert first["challenger_pr_auc"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert (first["champion_recall"], first["challenger_recall"]) == (0.5, 0.0)
    assert second["labelled_rows"] == 0 and "champion_pr_auc" not in second
    assert second["decision_agreement"] == 1.0 and second["score_psi"] == pytest.approx(0.0, abs=1e-9)
