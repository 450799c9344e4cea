"""Feature semantics on hand-built histories: window edges, distinct counts, labels known in time."""

import pandas as pd
import pytest

from mlops_assets.lib.featurize import features
from mlops_assets.lib.featurize.feature_spec import FeatureSpec

T0 = pd.Timestamp("2025-03-01T12:00:00Z")


def transactions(*rows: tuple) -> pd.DataFrame:
    """Rows of (offset, customer, merchant, amount, country, is_fraud)."""
    frame = pd.DataFrame(
        [
            {
                "transaction_id": f"t{i}",
                "event_timestamp": T0 + offset,
                "customer_id": customer,
                "merchant_id": merchant,
                "amount": amount,
                "country": country,
                "card_present": i % 2 == 0,
                "channel": "pos",
                "merchant_category": "grocery",
                "is_fraud": fraud,
            }
            for i, (offset, customer, merchant, amount, country, fraud) in enumerate(rows)
        ]
    )
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[us, UTC]")
    frame["is_fraud"] = frame["is_fraud"].astype("Int64")
    return frame


HOUR, DAY = pd.Timedelta(hours=1), pd.Timedelta(days=1)


def test_a_row_is_known_one_microsecond_after_its_transaction_and_counts_it() -> None:
    history = transactions((pd.Timedelta(0), 1, 9, 10.0, "DE", 0))
    rows = features.customer_features(history, history)
    assert rows["event_timestamp"].tolist() == [T0 + pd.Timedelta(microseconds=1)]
    assert rows["txn_count_1h"].tolist() == [1] and rows["last_txn_at"].tolist() == [T0]
    later = transactions((pd.Timedelta(milliseconds=1500), 1, 9, 10.0, "DE", 0))
    later = features.customer_features(later, later)
    assert later["last_txn_at"].tolist() == [T0 + pd.Timedelta(seconds=1)]  # whole seconds, as online


def test_window_edges_are_open_on_the_left() -> None:
    history = transactions(
        (pd.Timedelta(0), 1, 9, 10.0, "DE", 0),
        (DAY, 1, 9, 30.0, "DE", 0),  # exactly 24 h later: the first is out of its 24 h window
        (DAY + pd.Timedelta(seconds=1), 1, 9, 50.0, "DE", 0),
        (DAY, 2, 9, 99.0, "DE", 0),  # another customer, never counted for customer 1
    )
    rows = features.customer_features(history, history)
    assert rows["txn_count_24h"].tolist() == [1, 1, 2, 1]
    assert rows["amount_usd_sum_24h"].tolist() == [10.0, 30.0, 80.0, 99.0]
    assert rows["txn_count_7d"].tolist() == [1, 2, 3, 1]
    assert rows["amount_usd_mean_7d"].tolist() == [10.0, 20.0, 30.0, 99.0]


def test_distinct_countries_leave_the_window_after_seven_days() -> None:
    history = transactions(
        (pd.Timedelta(0), 1, 1, 10.0, "DE", 0),
        (DAY, 1, 2, 10.0, "FR", 0),
        (2 * DAY, 1, 1, 10.0, "DE", 0),
        (8 * DAY, 1, 3, 10.0, "DE", 0),  # FR (day 1) left exactly now; DE is back within the window
        (9 * DAY + HOUR, 1, 3, 10.0, "ES", 0),
    )
    rows = features.customer_features(history, history)
    assert rows["distinct_countries_7d"].tolist() == [1, 2, 2, 1, 2]
    assert rows["distinct_merchants_7d"].tolist() == [1, 2, 2, 2, 1]


def test_merchant_fraud_rate_uses_only_labels_known_by_then() -> None:
    history = transactions(
        (pd.Timedelta(0), 1, 7, 10.0, "DE", 1),
        (DAY, 2, 7, 10.0, "DE", 0),
        (2 * DAY, 3, 7, 10.0, "DE", None),  # label not known yet: never counted
        (3 * DAY, 4, 7, 10.0, "DE", 0),
        (4 * DAY + HOUR, 5, 7, 10.0, "DE", 1),
        (5 * DAY, 6, 7, 10.0, "DE", 0),
    )
    rows = features.merchant_features(history, history, FeatureSpec(label_delay="3d"))
    # At day 3 only the day-0 label (fraud) is known; at day 4+1h also day 1's; the fraud of day 4 never shows.
    assert rows["merchant_labelled_txn_30d"].tolist() == [0, 0, 0, 1, 2, 2]
    assert rows["merchant_fraud_rate_30d"].tolist()[3:] == [1.0, 0.5, 0.5]
    assert rows["merchant_fraud_rate_30d"].isna().tolist()[:3] == [True, True, True]
    assert rows["merchant_txn_count_24h"].tolist() == [1, 1, 1, 1, 1, 2]  # day 4 + 1 h is within 24 h of day 5


def test_features_of_a_day_need_only_its_rows_plus_history() -> None:
    history = transactions(*[(i * HOUR, 1, 1, 10.0 + i, "DE", 0) for i in range(30)])
    day = history[history["event_timestamp"] >= T0 + 24 * HOUR]
    rows = features.customer_features(history, day)
    assert rows["txn_count_24h"].tolist() == [24] * len(day)
    assert len(rows) == 6


def test_model_input_for_new_customers_unknown_categories_and_missing_columns() -> None:
    raw = transactions((pd.Timedelta(0), 1, 1, 40.0, "DE", 0)).drop(columns=["channel", "card_present"])
    raw["merchant_category"] = "a brand new category"
    missing = pd.DataFrame({name: [pd.NA] for name in features.feature_columns()})
    row = features.model_input(raw, missing).iloc[0]
    assert list(features.model_input(raw, missing).columns) == list(features.model_inputs())
    assert row["is_category_unknown"] == 1.0 and row["is_category_grocery"] == 0.0
    assert row["has_history"] == 0.0 and row["txn_count_24h"] == 0.0
    assert row["minutes_since_prev_txn"] == 30 * 24 * 60
    # Nothing to compute a rate or a mean from: missing, for each model to fill as it learned.
    assert pd.isna(row["merchant_fraud_rate_30d"]) and pd.isna(row["amount_vs_mean_30d"])
    assert row["is_online"] == 0.0 and row["is_zero_amount"] == 0.0


def test_model_input_from_history() -> None:
    history = transactions((pd.Timedelta(0), 1, 1, 10.0, "DE", 0), (HOUR, 1, 1, 30.0, "DE", 0))
    customer = features.customer_features(history, history.head(1))
    merchant = features.merchant_features(history, history.head(1), FeatureSpec(label_delay="1d"))
    row = features.model_input(
        history.tail(1), pd.concat([customer, merchant.drop(columns=["merchant_id", "event_timestamp"])], axis=1)
    ).iloc[0]
    assert row["minutes_since_prev_txn"] == 60.0
    assert row["amount_vs_mean_30d"] == pytest.approx(3.0)
    assert row["txn_count_1h"] == 1.0 and row["has_history"] == 1.0


def test_risk_windows_end_the_label_delay_before_each_transaction() -> None:
    # Labels of (t - delay - w, t - delay] count for window w: with a delay of 7 days, at day 10
    # the 1-day window holds day 2's transactions (3 = 10 - 7: its edge, included) but not day 2's
    # exactly 1 day before that edge; the 7-day window holds days (-4, 3].
    history = transactions(
        (2 * DAY, 1, 5, 10.0, "DE", 1),  # exactly 8 days before day 10: out of the 1-day window
        (2 * DAY + HOUR, 2, 5, 10.0, "DE", 0),
        (3 * DAY, 3, 5, 10.0, "DE", 1),  # exactly 7 days before: the delayed windows' right edge, in
        (3 * DAY + HOUR, 4, 5, 10.0, "DE", 1),  # 1 h too recent: label not known yet
        (10 * DAY, 5, 5, 10.0, "DE", 0),
    )
    spec = FeatureSpec(risk_windows=("1d", "7d"), label_delay="7d")
    rows = features.merchant_features(history, history.tail(1), spec).iloc[0]
    assert rows["merchant_labelled_txn_1d"] == 2 and rows["merchant_fraud_rate_1d"] == 0.5  # 2 d + 1 h, 3 d
    assert rows["merchant_labelled_txn_7d"] == 3 and rows["merchant_fraud_rate_7d"] == pytest.approx(2 / 3)
    assert rows["merchant_txn_count_24h"] == 1  # transactions themselves count at once


def test_windows_follow_the_spec_and_name_their_length() -> None:
    history = transactions(
        (pd.Timedelta(0), 1, 1, 10.0, "DE", 0), (DAY, 1, 1, 0.0, "DE", 0), (2 * DAY, 1, 1, 20.0, "DE", 0)
    )
    spec = FeatureSpec(customer_windows=("1d", "2d"), habit_windows=("2d",))
    rows = features.customer_features(history, history, spec)
    assert list(rows.columns[2:]) == list(features.customer_feature_kinds(spec))
    assert rows["txn_count_2d"].tolist() == [1, 2, 2]  # day 0 is exactly 2 days before day 2: out
    assert rows["amount_usd_mean_2d"].tolist() == [10.0, 5.0, 10.0]
    assert rows["zero_amount_count_2d"].tolist() == [0, 1, 1]


def test_calendar_inputs_are_in_the_configured_time_zone() -> None:
    # Friday 2025-03-07 23:30 UTC is Saturday 00:30 in Brussels: night and weekend there.
    raw = transactions((pd.Timedelta(0), 1, 1, 40.0, "DE", 0))
    raw["event_timestamp"] = pd.Series([pd.Timestamp("2025-03-07T23:30:00Z")]).astype("datetime64[us, UTC]")
    missing = pd.DataFrame({name: [pd.NA] for name in features.feature_columns()})
    utc = features.model_input(raw, missing).iloc[0]
    local = features.model_input(raw, missing, FeatureSpec(timezone="Europe/Brussels")).iloc[0]
    assert (utc["hour_of_day"], utc["is_night"], utc["is_weekend"]) == (23.0, 0.0, 0.0)
    assert (local["hour_of_day"], local["is_night"], local["is_weekend"]) == (0.0, 1.0, 1.0)


def test_merchant_categories_are_the_data_s_own_values_from_the_spec() -> None:
    raw = transactions(*((pd.Timedelta(minutes=i), 1, 1, 40.0, "DE", 0) for i in range(3)))
    raw["merchant_category"] = [" Gas Station", "gas station", "grocery"]
    spec = FeatureSpec(merchant_categories=("gas station", "supermarket"))
    missing = pd.DataFrame({name: [pd.NA] * 3 for name in features.feature_columns(spec)})
    inputs = features.model_input(raw, missing, spec)
    category_inputs = [name for name in inputs.columns if name.startswith("is_category_")]
    assert category_inputs == ["is_category_gas_station", "is_category_supermarket", "is_category_unknown"]
    # Compared without case or surrounding blanks; a category not in the spec is unknown.
    assert inputs["is_category_gas_station"].tolist() == [1.0, 1.0, 0.0]
    assert inputs["is_category_unknown"].tolist() == [0.0, 0.0, 1.0]
    assert FeatureSpec.from_variables({"MLOPS_MERCHANT_CATEGORIES": "Fuel, fuel,Travel"}).merchant_categories == (
        "fuel",
        "travel",
    )
    with pytest.raises(ValueError, match="no two may differ only in case or punctuation"):
        FeatureSpec(merchant_categories=("gas station", "gas-station"))
    with pytest.raises(ValueError, match="none may be 'unknown'"):
        FeatureSpec(merchant_categories=("unknown",))


def test_features_of_a_history_without_optional_columns() -> None:
    # No card presence, no country anywhere (the contract allows it): features compute, and the
    # inputs of those columns are left out rather than filled with constants.
    history = transactions((pd.Timedelta(0), 1, 1, 10.0, "DE", 0), (HOUR, 1, 2, 20.0, "DE", 0))
    history = history.assign(card_present=pd.NA, country=pd.NA, channel=pd.NA, merchant_category=pd.NA)
    history["card_present"] = history["card_present"].astype("boolean")
    rows = features.customer_features(history, history)
    assert rows["distinct_countries_7d"].tolist() == [0, 0] and rows["card_not_present_share_7d"].isna().all()
    available = features.available_inputs(history)
    assert "distinct_countries_7d" not in available and "is_card_present" not in available
    assert not any(name.startswith("is_category_") or name in ("is_online", "is_atm") for name in available)
    assert {"amount_usd", "txn_count_24h", "merchant_fraud_rate_30d", "is_weekend"} <= set(available)


def test_inputs_of_an_absent_column_are_added_as_serving_computes_them() -> None:
    # A champion trained with card presence and channels, scored on a window without them.
    history = transactions((pd.Timedelta(0), 1, 1, 10.0, "DE", 0))
    missing = pd.DataFrame({name: [pd.NA] for name in features.feature_columns()})
    bare = history.drop(columns=["card_present", "channel", "merchant_category", "country"])
    served = features.model_input(bare, missing).iloc[0]
    kept = features.model_input(bare, missing)[list(features.available_inputs(bare))]
    completed = features.with_inputs(kept, features.model_inputs()).iloc[0]
    assert completed[list(features.model_inputs())].equals(served)
    assert completed["is_card_present"] == 0.0 and completed["is_category_unknown"] == 1.0
    with pytest.raises(ValueError, match="txn_count_90d"):
        features.with_inputs(kept, ("txn_count_90d",))


def test_drift_compares_inputs_of_the_world_not_of_the_calendar_or_the_labels() -> None:
    monitored = features.drift_monitored(features.model_inputs())
    assert "is_weekend" not in monitored and not any(name.startswith("merchant_fraud_rate_") for name in monitored)
    assert {"amount_usd", "hour_of_day", "txn_count_24h", "merchant_txn_count_7d"} <= set(monitored)
