"""The landing index: placing rows in days, first-seen ids, and rejecting what cannot be read."""

import os
from pathlib import Path

import pandas as pd
import pytest

from mlops_assets.lib.data.landing import LandingIndex, read_as_text
from mlops_assets.lib.data.storage import Folder


def write_csv(folder: Path, name: str, rows: list[dict]) -> Path:
    path = folder / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def row(transaction_id: str, timestamp: str, **overrides) -> dict:
    values = {
        "transaction_id": transaction_id,
        "event_timestamp": timestamp,
        "customer_id": 1,
        "merchant_id": 2,
        "amount": 10.0,
        "is_fraud": 0,
    }
    return {**values, **overrides}


@pytest.fixture
def landing(tmp_path: Path) -> LandingIndex:
    (tmp_path / "landing").mkdir()
    return LandingIndex(tmp_path / "landing", "2020-01-01")


def test_rows_are_placed_by_utc_day_and_unplaceable_rows_on_the_files_first_day(landing: LandingIndex) -> None:
    write_csv(
        Path(landing.folder.path),
        "a.csv",
        [
            row("t1", "2025-03-02T23:30:00-02:00"),  # 01:30 UTC on the 3rd
            row("t2", "2025-03-02T10:00:00"),  # naive is UTC
            row("t3", "not a time"),
            row("t4", "2019-12-31T10:00:00Z"),  # before the first partition day
        ],
    )
    report = landing.index_new_files()
    assert [entry.days for entry in report.indexed] == [{"2025-03-02": 3, "2025-03-03": 1}]
    assert list(landing.read_day("2025-03-03")["transaction_id"]) == ["t1"]
    assert list(landing.read_day("2025-03-02")["transaction_id"]) == ["t2", "t3", "t4"]


def test_a_day_of_a_parquet_file_of_many_days_is_its_rows_as_text_with_their_positions(
    landing: LandingIndex,
) -> None:
    rows = [row(f"t{i}", f"2025-03-0{1 + i % 3}T10:00:00Z", amount=i + 0.5) for i in range(9)]
    pd.DataFrame(rows).to_parquet(Path(landing.folder.path) / "month.parquet", index=False)
    landing.index_new_files()
    day = landing.read_day("2025-03-02")
    assert list(day["transaction_id"]) == ["t1", "t4", "t7"]
    assert list(day["source_row"]) == [1, 4, 7]
    # The same text as reading the whole file: only fewer rows are cast.
    whole = read_as_text(landing.folder, "month.parquet")
    pd.testing.assert_frame_equal(
        day.drop(columns=["source_file", "source_row"]), whole.iloc[[1, 4, 7]].reset_index(drop=True)
    )


def test_first_seen_id_wins_across_files_in_arrival_order(landing: LandingIndex) -> None:
    first = write_csv(
        Path(landing.folder.path), "b_first.csv", [row("t1", "2025-03-02T10:00:00"), row("t2", "2025-03-02T11:00:00")]
    )
    os.utime(first, ns=(1, 1))  # arrived earlier, although its name sorts later
    write_csv(
        Path(landing.folder.path),
        "a_second.csv",
        [row("t2", "2025-03-01T10:00:00"), row("t3", "2025-03-01T10:00:00"), row("t3", "2025-03-01T11:00:00")],
    )
    landing.index_new_files()
    duplicates = landing.duplicate_rows(["a_second.csv", "b_first.csv"])
    assert sorted(map(tuple, duplicates[["source_file", "source_row"]].to_numpy().tolist())) == [
        ("a_second.csv", 0),
        ("a_second.csv", 2),
    ]


def test_unreadable_files_are_moved_aside_with_a_reason_and_the_rest_go_on(landing: LandingIndex) -> None:
    write_csv(Path(landing.folder.path), "good.csv", [row("t1", "2025-03-02T10:00:00")])
    write_csv(
        Path(landing.folder.path),
        "no_amount.csv",
        [{k: v for k, v in row("t2", "2025-03-02").items() if k != "amount"}],
    )
    (Path(landing.folder.path) / "garbage.parquet").write_bytes(b"PAR1 this is not parquet")
    write_csv(Path(landing.folder.path), "no_time.csv", [row("t3", "yesterday"), row("t4", "")])
    report = landing.index_new_files()
    assert [entry.name for entry in report.indexed] == ["good.csv"]
    reasons = {rejection.name: rejection.reason for rejection in report.rejected}
    assert reasons["no_amount.csv"] == "lacks required column(s): amount"
    assert reasons["garbage.parquet"].startswith("cannot be read as a parquet table")
    assert "no row has a valid event_timestamp" in reasons["no_time.csv"]
    for name, reason in reasons.items():
        assert not (Path(landing.folder.path) / name).exists()
        assert (Path(landing.rejected.path) / name).exists()
        assert (Path(landing.rejected.path) / f"{name}.reason.txt").read_text().strip() == reason


def test_a_file_is_indexed_once_and_a_changed_one_is_rejected(landing: LandingIndex) -> None:
    path = write_csv(Path(landing.folder.path), "a.csv", [row("t1", "2025-03-02T10:00:00")])
    assert len(landing.index_new_files().indexed) == 1
    assert landing.index_new_files().indexed == []
    path.write_bytes(path.read_bytes())  # same bytes, new mtime: nothing to do
    again = landing.index_new_files()
    assert again.indexed == [] and again.rejected == []
    write_csv(Path(landing.folder.path), "a.csv", [row("t9", "2025-03-02T10:00:00")])
    changed = landing.index_new_files()
    assert [rejection.name for rejection in changed.rejected] == ["a.csv"]
    assert "content changed after it was indexed" in changed.rejected[0].reason


def test_dot_files_are_uploads_in_progress(landing: LandingIndex) -> None:
    write_csv(Path(landing.folder.path), ".partial.csv", [row("t1", "2025-03-02T10:00:00")])
    assert landing.index_new_files().indexed == []


def test_parquet_types_become_the_same_text_as_csv(tmp_path: Path) -> None:
    typed = pd.DataFrame(
        {
            "transaction_id": ["t1"],
            "event_timestamp": pd.to_datetime(["2025-03-02T10:00:00.5"]).tz_localize("UTC"),
            "customer_id": [7],
            "merchant_id": [8],
            "amount": [12.5],
            "card_present": [True],
            "channel": pd.Categorical(["pos"]),
            "is_fraud": pd.array([None], dtype="Int64"),
        }
    )
    typed.to_parquet(tmp_path / "t.parquet")
    text = read_as_text(Folder.at(str(tmp_path)), "t.parquet")
    values = text.iloc[0].to_dict()
    assert pd.isna(values.pop("is_fraud"))
    assert values == {
        "transaction_id": "t1",
        "event_timestamp": "2025-03-02 10:00:00.500000000Z",
        "customer_id": "7",
        "merchant_id": "8",
        "amount": "12.5",
        "channel": "pos",
        "card_present": "true",
    }
