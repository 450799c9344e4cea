"""Validation of a raw day: every broken rule named, nothing dropped."""

import pandas as pd
import pytest

from mlops_assets.lib.data.contract import Rule
from mlops_assets.lib.data.validation import TRANSACTION_SCHEMA, validate_day

DAY = "2025-03-02"
GOOD = {
    "transaction_id": "t1",
    "event_timestamp": "2025-03-02T10:00:00Z",
    "customer_id": "1",
    "merchant_id": "2",
    "amount": "10.5",
    "merchant_category": "a category never seen before",
    "channel": "pos",
    "card_present": "true",
    "country": "DE",
    "is_fraud": "0",
}


def raw(*rows: dict, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    frame = pd.DataFrame([{**GOOD, "transaction_id": f"t{i}", **row} for i, row in enumerate(rows)]).astype("string")
    frame = frame.drop(columns=list(drop))
    frame.insert(0, "source_row", range(len(frame)))
    frame.insert(0, "source_file", "f.csv")
    return frame


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"transaction_id": "  "}, Rule.TRANSACTION_ID_NON_EMPTY),
        ({"transaction_id": None}, Rule.TRANSACTION_ID_NON_EMPTY),
        ({"event_timestamp": "2025-02-30T10:00:00"}, Rule.TIMESTAMP_ISO),
        ({"event_timestamp": None}, Rule.TIMESTAMP_ISO),
        ({"event_timestamp": "2025-03-05T10:00:00Z"}, Rule.TIMESTAMP_IN_RANGE),
        ({"customer_id": "-1"}, Rule.CUSTOMER_ID),
        ({"customer_id": "1.5"}, Rule.CUSTOMER_ID),
        ({"customer_id": None}, Rule.CUSTOMER_ID),
        ({"merchant_id": "-3"}, Rule.MERCHANT_ID),
        ({"merchant_id": "1e3"}, Rule.MERCHANT_ID),
        ({"merchant_id": "9" * 19}, Rule.MERCHANT_ID),
        ({"amount": "-0.01"}, Rule.AMOUNT_NON_NEGATIVE),
        ({"amount": "1000000.01"}, Rule.AMOUNT_MAX),
        ({"amount": "inf"}, Rule.AMOUNT_MAX),
        ({"amount": "ten"}, Rule.AMOUNT_NUMBER),
        ({"amount": None}, Rule.AMOUNT_NUMBER),
        ({"channel": "carrier pigeon"}, Rule.CHANNEL),
        ({"card_present": "perhaps"}, Rule.CARD_PRESENT),
        ({"country": "de"}, Rule.COUNTRY),
        ({"country": "DEU"}, Rule.COUNTRY),
        ({"is_fraud": "2"}, Rule.IS_FRAUD),
        ({"is_fraud": "yes"}, Rule.IS_FRAUD),
    ],
)
def test_each_broken_rule_is_named_once(override: dict, reason: str) -> None:
    result = validate_day(raw({}, override), DAY)
    assert list(result.valid["transaction_id"]) == ["t0"]
    assert list(result.quarantined["reasons"]) == [reason]


def test_a_row_breaking_several_rules_names_them_all_in_contract_order() -> None:
    result = validate_day(raw({"amount": "-1", "country": "xx", "customer_id": "abc"}), DAY)
    assert result.quarantined["reasons"].tolist() == [f"{Rule.CUSTOMER_ID}; {Rule.AMOUNT_NON_NEGATIVE}; {Rule.COUNTRY}"]


def test_quarantine_keeps_the_raw_text_and_lineage() -> None:
    result = validate_day(raw({}, {"amount": " twelve "}), DAY)
    kept = result.quarantined.iloc[0]
    assert kept["amount"] == " twelve " and kept["source_file"] == "f.csv" and kept["source_row"] == 1


def test_duplicates_from_the_landing_index_are_quarantined() -> None:
    duplicates = pd.DataFrame({"source_file": ["f.csv"], "source_row": [1]})
    result = validate_day(raw({}, {"transaction_id": "t0"}), DAY, duplicates)
    assert result.valid["source_row"].tolist() == [0]
    assert result.quarantined["reasons"].tolist() == [Rule.TRANSACTION_ID_UNIQUE]


def test_optional_columns_may_be_absent_and_values_may_be_empty() -> None:
    frame = raw({}, {"is_fraud": None, "channel": None}, drop=("country", "card_present", "merchant_category"))
    result = validate_day(frame, DAY)
    assert len(result.valid) == 2 and result.quarantined.empty
    assert result.valid["country"].isna().all() and result.valid["is_fraud"].isna().tolist() == [False, True]
    TRANSACTION_SCHEMA.validate(result.valid)


def test_ids_of_zero_and_amounts_of_zero_are_valid_data() -> None:
    # Identifiers from 0 are common (row numbers of an export); an amount of 0 is a card check.
    result = validate_day(raw({"customer_id": "0", "merchant_id": "0", "amount": "0"}), DAY)
    assert result.quarantined.empty
    assert result.valid[["customer_id", "merchant_id", "amount"]].values.tolist() == [[0, 0, 0.0]]


def test_large_ids_keep_every_digit() -> None:
    result = validate_day(raw({"customer_id": "900719925474099313", "merchant_id": "7.0"}), DAY)
    assert result.valid["customer_id"].tolist() == [900719925474099313]
    assert result.valid["merchant_id"].tolist() == [7]


def test_values_are_typed_and_timestamps_are_utc() -> None:
    result = validate_day(
        raw({"event_timestamp": "2025-03-02T09:00:00+09:00", "channel": "ONLINE", "card_present": "0"}), DAY
    )
    valid = result.valid.iloc[0]
    assert valid["event_timestamp"] == pd.Timestamp("2025-03-02T00:00:00Z")
    assert valid["channel"] == "online"
    assert result.valid["card_present"].tolist() == [False]
    assert str(result.valid["customer_id"].dtype) == "int64" and str(result.valid["is_fraud"].dtype) == "Int64"
    TRANSACTION_SCHEMA.validate(result.valid)


def test_nothing_is_dropped_on_a_large_mixed_day() -> None:
    rows = [{}] * 500 + [{"amount": "-1"}] * 7 + [{"channel": "x", "is_fraud": "3"}] * 3
    result = validate_day(raw(*rows), DAY)
    assert (len(result.valid), len(result.quarantined)) == (500, 10)
    assert result.rows_read == 510
