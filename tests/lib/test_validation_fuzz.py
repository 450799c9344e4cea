"""Property-based fuzzing of the validation of a raw day (hypothesis): on any raw text, near the
rules' edges or not, `validate_day` raises nothing, loses and duplicates no row, keeps each
quarantined row's raw values, names every column a quarantined row breaks in the contract's words,
and lets through only rows the schema accepts."""

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_assets.lib.data.contract import COLUMNS, REASONS, SOURCE_FILE, SOURCE_ROW
from mlops_assets.lib.data.validation import TRANSACTION_SCHEMA, validate_day

DAY = "2025-03-02"


def cell(*edges: str) -> st.SearchStrategy[str | None]:
    """A raw cell: missing, a value at a rule's edge, or any short text."""
    return st.one_of(st.none(), st.sampled_from(edges), st.text(max_size=12))


IDS = ("1", "0", "-1", "+7", "7.0", "7.", "1e3", "9" * 18, "9" * 19, " 42 ", "0x10", "١٢")
RAW_ROW = st.fixed_dictionaries(
    {
        "transaction_id": cell("t1", "t2", " ", "", " t1 "),
        "event_timestamp": cell(
            "2025-03-02T10:00:00Z",
            "2025-03-02",
            "2025-03-02T23:59:59.999999+00:00",
            "2025-03-03T00:00:00Z",
            "2025-03-02T10:00:00+14:00",
            "2025-02-30T10:00:00",
            "1741000000",
            "NaT",
        ),
        "customer_id": cell(*IDS),
        "merchant_id": cell(*IDS),
        "amount": cell("10.5", "0", "-1", "1000000", "1000000.01", "1e-300", "inf", "nan", "1,5", " 3 "),
        "merchant_category": cell("grocery", ""),
        "channel": cell("pos", "ONLINE", " atm ", "carrier pigeon"),
        "card_present": cell("true", "F", "Yes", "0", "maybe", ""),
        "country": cell("DE", "de", "DEU", "", "D1"),
        "is_fraud": cell("0", "1", "1.0", "2", "-0", "nan", "", "true"),
    }
)


def raw_day(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS)).astype("string")
    frame.insert(0, SOURCE_ROW, range(len(frame)))
    frame.insert(0, SOURCE_FILE, "fuzz.csv")
    return frame


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(RAW_ROW, min_size=1, max_size=12))
def test_any_raw_day_splits_into_valid_and_quarantined_rows_that_name_what_they_break(rows: list[dict]) -> None:
    raw = raw_day(rows)
    result = validate_day(raw, DAY)

    # Nothing lost, nothing twice.
    kept = sorted([*result.valid[SOURCE_ROW], *result.quarantined[SOURCE_ROW]])
    assert kept == list(range(len(raw)))

    # A quarantined row keeps its raw values, and each reason names a contract column and its rule.
    quarantined = result.quarantined.set_index(SOURCE_ROW)
    for column in COLUMNS:
        before = raw.set_index(SOURCE_ROW).loc[quarantined.index, column]
        assert before.equals(quarantined[column].astype("string")), column
    for reasons in quarantined[REASONS]:
        parts = reasons.split("; ")
        assert parts and all(part.split(": ", 1)[0] in COLUMNS and part.split(": ", 1)[1] for part in parts), reasons

    # Every row let through holds to the schema (uniqueness within a day is the landing index's).
    TRANSACTION_SCHEMA.update_column("transaction_id", unique=False).validate(result.valid, lazy=True)
