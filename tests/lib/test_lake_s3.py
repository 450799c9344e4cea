"""The lake on S3, against a real S3 API server (`moto_server`) on loopback: the same `Lake` the
local environment uses, given an `s3://` URI, writes and reads back tables, partitions and
records, as the production environment will."""

from __future__ import annotations

import pandas as pd
import pyarrow.fs as pafs
import pytest

from mlops_assets.lib.data.lake import Lake
from tests.support.servers import moto_server


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory):
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


def test_tables_partitions_and_records_round_trip_through_s3(s3) -> None:
    bucket = s3.bucket("lake-round-trip")
    lake = Lake(bucket.replace("?", "/lake?", 1))
    assert isinstance(lake.filesystem, pafs.S3FileSystem) and lake.root == "lake-round-trip/lake"
    first = pd.DataFrame({"transaction_id": ["a", "b"], "amount": [1.5, 2.5]})
    lake.write("validated_transactions", first, "2025-03-01")
    lake.write("validated_transactions", first.head(1), "2025-03-02")
    lake.write("validated_transactions", first.tail(1), "2025-03-02")  # a partition is replaced whole
    assert lake.partitions("validated_transactions") == ["2025-03-01", "2025-03-02"]
    pd.testing.assert_frame_equal(lake.read("validated_transactions", "2025-03-01"), first)
    assert lake.read("validated_transactions", "2025-03-02")["transaction_id"].tolist() == ["b"]
    assert not lake.exists("validated_transactions", "2025-03-03")
    assert lake.partitions("never_written") == []
    lake.write_record("drift_report/2025-03-02", {"verdict": "none"})
    assert lake.exists_record("drift_report/2025-03-02") and not lake.exists_record("drift_report/2025-03-03")
    assert lake.read_records("drift_report") == [{"verdict": "none"}]
    # Read back with a client of its own, as another pod would.
    again = Lake(bucket.replace("?", "/lake?", 1))
    assert again.read("validated_transactions", "2025-03-02")["transaction_id"].tolist() == ["b"]


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_partition_written_and_read_in_parts_is_the_table_whole(where: str, s3, tmp_path) -> None:
    """What batch scoring does with a day too large to hold whole: parts in, parts out, in order;
    a reader sees no partition until the last part is written."""
    lake = Lake(s3.bucket(f"lake-parts-{len(where)}") if where == "s3" else str(tmp_path / "lake"))
    table = pd.DataFrame(
        {"transaction_id": [f"t{i}" for i in range(10)], "amount": [float(i) for i in range(10)]}
    ).assign(event_timestamp=pd.Timestamp("2025-03-01", tz="UTC"))
    lake.write("validated_transactions", table, "2025-03-01")
    whole = lake.read("validated_transactions", "2025-03-01")
    parts = list(lake.read_parts("validated_transactions", "2025-03-01", rows=4))
    assert [len(part) for part in parts] == [4, 4, 2]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)

    def written_while_unseen():
        for part in parts:
            assert not lake.exists("scored_transactions", "2025-03-01")
            yield part

    lake.write_parts("scored_transactions", "2025-03-01", written_while_unseen(), whole.head(0))
    pd.testing.assert_frame_equal(lake.read("scored_transactions", "2025-03-01"), whole)
    lake.write_parts("scored_transactions", "2025-03-02", iter([]), whole.head(0))
    pd.testing.assert_frame_equal(lake.read("scored_transactions", "2025-03-02"), whole.head(0))
    assert lake.empty("validated_transactions", "2025-03-01").columns.tolist() == table.columns.tolist()
