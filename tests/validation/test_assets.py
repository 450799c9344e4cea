"""The real asset graph through `dg.materialize` on generated data in a temporary MLOPS_HOME."""

from collections import Counter

import dagster as dg
import pandas as pd

from mlops_assets.defs.ingestion.assets import raw_transactions
from mlops_assets.defs.validation import checks
from mlops_assets.defs.validation.assets import validate_transactions
from mlops_assets.lib.data.lake import Lake
from mlops_assets.settings import Settings
from mlops_assets.synth import generator
from tests.conftest import DAY, land

ASSETS = [raw_transactions, validate_transactions]
DAY_KEY = DAY.isoformat()


def materialize(day: str, resources: dict, max_share: float | None = None) -> dg.ExecuteInProcessResult:
    config = {"ops": {"validate_transactions": {"config": {"max_quarantine_share": max_share}}}}
    return dg.materialize(
        ASSETS,
        partition_key=day,
        resources=resources,
        run_config=config if max_share is not None else None,
        raise_on_error=False,
    )


def check_outcomes(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {evaluation.check_name: evaluation.passed for evaluation in result.get_asset_check_evaluations()}


def test_dirty_day_is_split_with_every_fault_counted_exactly(settings: Settings, resources: dict) -> None:
    clean = land(settings, days=2, rows=3000)
    dirty = land(settings, scenario="dirty", rows=3000)
    for day in ("2025-03-01", "2025-03-02"):
        result = materialize(day, resources)
        assert result.success
        assert check_outcomes(result) == {name: True for name in check_outcomes(result)}
        assert len(check_outcomes(result)) == 4

    lake = Lake(str(settings.lake_dir))
    for key in ("raw_transactions", "validated_transactions", "quarantined_transactions"):
        assert (settings.lake_dir / key / f"{DAY_KEY}.parquet").is_file()
    quarantined = lake.read("quarantined_transactions", DAY_KEY)
    expected = Counter()
    for fault, count in dirty.faults.items():
        expected[generator.FAULTS[fault].rule] += count
    assert Counter(quarantined["reasons"]) == expected
    assert set(quarantined["source_file"]) == {dirty.files[0].name}

    # Rows read = rows validated + rows quarantined, for every file.
    validated = pd.concat(lake.read("validated_transactions", day) for day in ("2025-03-01", "2025-03-02"))
    for path in clean.files + dirty.files:
        rows_read = len(pd.read_parquet(path))
        assert (validated["source_file"] == path.name).sum() + (
            quarantined["source_file"] == path.name
        ).sum() == rows_read
    # The two unreadable files were moved aside with their reasons; the rest went through.
    assert sorted(path.name for path in settings.rejected_dir.glob("*.reason.txt")) == sorted(
        f"{path.name}.reason.txt" for path in dirty.rejected_files
    )


def test_rematerializing_a_partition_gives_the_same_tables(settings: Settings, resources: dict) -> None:
    land(settings, scenario="dirty", rows=1500)
    lake = Lake(str(settings.lake_dir))
    tables = []
    for _ in range(2):
        assert materialize(DAY_KEY, resources).success
        tables.append(
            {
                key: lake.read(key, DAY_KEY)
                for key in ("raw_transactions", "validated_transactions", "quarantined_transactions")
            }
        )
    for key, table in tables[0].items():
        pd.testing.assert_frame_equal(table, tables[1][key])


def test_quarantine_share_over_the_threshold_blocks_the_day(settings: Settings, resources: dict) -> None:
    land(settings, scenario="dirty", rows=1500)
    result = materialize(DAY_KEY, resources, max_share=0.01)
    outcomes = check_outcomes(result)
    assert outcomes[checks.QUARANTINE_SHARE] is False
    assert outcomes[checks.SCHEMA_HOLDS] and outcomes[checks.ROWS_RECONCILE]
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == checks.QUARANTINE_SHARE)
    assert evaluation.metadata["quarantine_share"].value == 0.02
    assert not result.success  # a blocking check that fails stops the run


def test_a_duplicate_id_on_a_later_day_is_quarantined_there(settings: Settings, resources: dict) -> None:
    first = land(settings, days=2, rows=500)
    again = pd.read_parquet(first.files[0]).head(3)
    again["event_timestamp"] = again["event_timestamp"] + pd.Timedelta(days=1)
    again.to_parquet(settings.landing_dir / "late_copy.parquet")
    assert materialize(DAY_KEY, resources).success
    second = materialize("2025-03-02", resources)
    assert second.success and check_outcomes(second)[checks.IDS_UNIQUE]
    quarantined = Lake(str(settings.lake_dir)).read("quarantined_transactions", "2025-03-02")
    assert quarantined["transaction_id"].tolist() == again["transaction_id"].tolist()


def test_the_uniqueness_check_sees_ids_in_other_partitions(settings: Settings) -> None:
    lake = Lake(str(settings.lake_dir))
    lake.write("validated_transactions", pd.DataFrame({"transaction_id": ["a", "b"]}), "2025-03-01")
    today = pd.DataFrame({"transaction_id": ["b", "c"]})
    result = checks.ids_unique_across_partitions(today, lake, "2025-03-02")
    assert not result.passed
    assert result.metadata["duplicates_in_other_partitions"].value == {"2025-03-01": 1}
    assert checks.ids_unique_across_partitions(pd.DataFrame({"transaction_id": ["c"]}), lake, "2025-03-02").passed


def test_files_without_optional_columns_still_validate(settings: Settings, resources: dict) -> None:
    result = land(settings, rows=300, file_format="csv")
    frame = pd.read_csv(result.files[0]).drop(columns=["channel", "country", "card_present", "merchant_category"])
    frame.to_csv(result.files[0], index=False)
    assert materialize(DAY_KEY, resources).success
    validated = Lake(str(settings.lake_dir)).read("validated_transactions", DAY_KEY)
    assert len(validated) == 300 and validated["channel"].isna().all()
