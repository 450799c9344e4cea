"""`OnlineMirror` answers what Feast's online read answers, for the same rows (in process, on the
serving home's real Feast store)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from mlops_assets.feature_store import online_features, open_store
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.featurize.features import normalize_features
from serving.online import OnlineMirror

pytestmark = pytest.mark.slow


def test_the_mirror_matches_feasts_online_read(home) -> None:
    settings, _ = home
    store = open_store(settings)
    lake = Lake(str(settings.lake_dir))
    transactions = lake.read("validated_transactions", lake.partitions("validated_transactions")[-1]).head(300)
    transactions = transactions.reset_index(drop=True)
    transactions.loc[0, "customer_id"] = 987_654_321  # unknown customer
    transactions.loc[1, "merchant_id"] = 123_456_789  # unknown merchant
    transactions.loc[2, "event_timestamp"] = pd.Timestamp("2030-01-01", tz="UTC")  # values too old by then
    mirror = OnlineMirror(store)
    assert mirror.mirrors and mirror.refresh() and not mirror.refresh()  # loads once until the store changes
    expected = normalize_features(online_features(store, transactions))
    found = normalize_features(mirror.lookup(transactions))
    pd.testing.assert_frame_equal(found, expected)
    assert found.loc[0, "txn_count_24h"] != found.loc[0, "txn_count_24h"]  # NaN: unknown customer
    assert found.loc[2].isna().all() and found.loc[3].notna().any()


def test_a_store_that_cannot_be_reloaded_leaves_the_last_copy_serving(home, tmp_path) -> None:
    """A mirror of a copy of the store; the copy is then overwritten with bytes that are no SQLite
    database: the reload fails, says why, and lookups answer as before."""
    settings, _ = home
    store = open_store(settings)
    copy = tmp_path / "online_store.db"
    shutil.copy(store.config.online_store.path, copy)
    store.config.online_store.path = str(copy)
    mirror = OnlineMirror(store)
    assert mirror.refresh() and mirror.last_error is None
    lake = Lake(str(settings.lake_dir))
    transactions = lake.read("validated_transactions", lake.partitions("validated_transactions")[-1]).head(50)
    before = mirror.lookup(transactions)
    assert before["txn_count_24h"].notna().any()

    copy.write_bytes(b"not a database" * 100)
    assert not mirror.refresh()
    assert "DatabaseError" in mirror.last_error
    pd.testing.assert_frame_equal(mirror.lookup(transactions), before)
