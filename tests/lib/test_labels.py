"""`LabelFolder` and `apply_labels`: late labels as files, the newest winning, bad files kept aside."""

import os
import time
from pathlib import Path

import pandas as pd

from mlops_assets.lib.data.labels import LabelFolder, apply_labels


def labels(*pairs: tuple[str, int]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["transaction_id", "is_fraud"])


def test_the_newest_label_of_a_transaction_wins(tmp_path) -> None:
    folder = LabelFolder.of_landing(tmp_path)
    first = folder.write(labels(("a", 1), ("b", 0)), source="feedback")
    time.sleep(0.01)
    folder.write(labels(("a", 0)), source="feedback")
    assert not any(p.name.startswith(".") for p in Path(folder.folder.path).iterdir())  # no partial file left
    read = folder.read().set_index("transaction_id")
    assert read["is_fraud"].to_dict() == {"a": 0, "b": 0}
    assert read.loc["b", "file"] == Path(first).name and read.loc["a", "source"] == "feedback"
    assert folder.read([Path(first).name]).set_index("transaction_id")["is_fraud"].to_dict() == {"a": 1, "b": 0}


def test_files_dropped_by_others_are_read_and_bad_ones_rejected_with_a_reason(tmp_path) -> None:
    folder = LabelFolder.of_landing(tmp_path)
    Path(folder.folder.path).mkdir()
    labels(("c", 1)).to_parquet(Path(folder.folder.path) / "bank-chargebacks.parquet")
    pd.DataFrame({"transaction_id": ["d"], "label": [1]}).to_parquet(Path(folder.folder.path) / "wrong-columns.parquet")
    labels(("e", 7)).to_parquet(Path(folder.folder.path) / "bad-value.parquet")
    (Path(folder.folder.path) / "not-parquet.parquet").write_text("hello")
    (Path(folder.folder.path) / ".uploading.parquet").write_text("half")
    read = folder.read()
    assert read[["transaction_id", "is_fraud", "source"]].to_dict("records") == [
        {"transaction_id": "c", "is_fraud": 1, "source": "file"}
    ]
    reasons = {
        p.name.removesuffix(".reason.txt"): p.read_text() for p in Path(folder.rejected.path).glob("*.reason.txt")
    }
    assert set(reasons) == {"wrong-columns.parquet", "bad-value.parquet", "not-parquet.parquet"}
    assert "is_fraud" in reasons["wrong-columns.parquet"] and "0 or 1" in reasons["bad-value.parquet"]
    assert (Path(folder.rejected.path) / "not-parquet.parquet").read_text() == "hello"  # kept, not lost
    assert (Path(folder.folder.path) / ".uploading.parquet").exists()


def test_apply_labels_fills_and_corrects_and_counts_the_changes() -> None:
    valid = pd.DataFrame(
        {"transaction_id": ["a", "b", "c", "d"], "is_fraud": pd.array([0, None, 1, 0], dtype="Int64"), "amount": 1.0}
    )
    late = labels(("a", 1), ("b", 0), ("c", 1), ("zz", 1))
    labelled, changed = apply_labels(valid, late)
    assert labelled["is_fraud"].tolist() == [1, 0, 1, 0] and str(labelled["is_fraud"].dtype) == "Int64"
    assert changed == 2  # a corrected, b filled; c already said so; zz has not landed
    assert valid["is_fraud"].isna().sum() == 1  # the input is left as it was


def test_an_old_file_without_received_at_sorts_by_its_time(tmp_path) -> None:
    folder = LabelFolder.of_landing(tmp_path)
    Path(folder.folder.path).mkdir()
    old = Path(folder.folder.path) / "z-old.parquet"
    labels(("a", 1)).to_parquet(old)
    os.utime(old, (1_000_000, 1_000_000))
    folder.write(labels(("a", 0)), source="feedback")
    assert folder.read().set_index("transaction_id").loc["a", "is_fraud"] == 0
