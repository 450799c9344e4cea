"""Validation of one day of raw transactions against the landing contract.

Two steps, each naming the rules it finds broken in the contract's words (`column: rule`):
1. parsing: raw text becomes typed values; a value that does not parse is a broken rule;
2. the pandera schema `TRANSACTION_SCHEMA` checks the typed values (ranges, allowed values).
A row that breaks any rule goes to quarantine with its raw values and every reason; the others are
the validated table. Nothing is dropped: rows in = valid rows + quarantined rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from mlops_assets.keys import VALIDATED_TRANSACTIONS
from mlops_assets.lib.data.contract import (
    CHANNELS,
    COLUMNS,
    LINEAGE_COLUMNS,
    MAX_AMOUNT,
    REASONS,
    SOURCE_FILE,
    SOURCE_ROW,
    Rule,
)
from mlops_assets.lib.data.landing import parse_timestamps

TRUE_TEXT = {"true", "t", "1", "yes", "y"}
FALSE_TEXT = {"false", "f", "0", "no", "n"}
# A whole number as text ("42", "+42", "42.0"); 18 digits at most, so it always fits in int64.
INTEGER_TEXT = r"^\+?(\d{1,18})(?:\.0*)?$"

TRANSACTION_SCHEMA = pa.DataFrameSchema(
    {
        "transaction_id": pa.Column(
            "string", pa.Check.str_length(min_value=1, error=Rule.TRANSACTION_ID_NON_EMPTY), unique=True
        ),
        "event_timestamp": pa.Column("datetime64[us, UTC]"),
        "customer_id": pa.Column("int64", pa.Check.ge(0, error=Rule.CUSTOMER_ID)),
        "merchant_id": pa.Column("int64", pa.Check.ge(0, error=Rule.MERCHANT_ID)),
        "amount": pa.Column(
            "float64",
            [pa.Check.ge(0, error=Rule.AMOUNT_NON_NEGATIVE), pa.Check.le(MAX_AMOUNT, error=Rule.AMOUNT_MAX)],
        ),
        "merchant_category": pa.Column("string", nullable=True),
        "channel": pa.Column("string", pa.Check.isin(CHANNELS, error=Rule.CHANNEL), nullable=True),
        "card_present": pa.Column("boolean", nullable=True),
        "country": pa.Column("string", pa.Check.str_matches(r"^[A-Z]{2}$", error=Rule.COUNTRY), nullable=True),
        "is_fraud": pa.Column("Int64", pa.Check.isin([0, 1], error=Rule.IS_FRAUD), nullable=True),
    },
    strict=False,  # lineage columns ride along
    ordered=False,
    name=VALIDATED_TRANSACTIONS,
)

# What a null value in a required column breaks: the same rule a bad value would.
RULE_WHEN_NULL = {
    "transaction_id": Rule.TRANSACTION_ID_NON_EMPTY,
    "event_timestamp": Rule.TIMESTAMP_ISO,
    "customer_id": Rule.CUSTOMER_ID,
    "merchant_id": Rule.MERCHANT_ID,
    "amount": Rule.AMOUNT_NUMBER,
}


@dataclass
class ValidationResult:
    valid: pd.DataFrame
    quarantined: pd.DataFrame

    @property
    def rows_read(self) -> int:
        return len(self.valid) + len(self.quarantined)


def validate_day(raw: pd.DataFrame, day: str, duplicates: pd.DataFrame | None = None) -> ValidationResult:
    """Split one day's raw rows into validated and quarantined (with `reasons`).

    `duplicates` holds the `source_file`, `source_row` of rows whose transaction id was seen
    before them (from the landing index): those are quarantined, the first row seen is kept.
    """
    raw = raw.reset_index(drop=True)
    for column in COLUMNS:  # an optional column absent from every file is all missing
        if column not in raw.columns:
            raw[column] = pd.Series(pd.NA, index=raw.index, dtype="string")
    typed, broken = _parse(raw, day)
    if duplicates is not None and len(duplicates):
        seen_before = pd.MultiIndex.from_frame(duplicates[[SOURCE_FILE, SOURCE_ROW]].astype({SOURCE_ROW: "int64"}))
        rows = pd.MultiIndex.from_arrays([raw[SOURCE_FILE].astype(str), raw[SOURCE_ROW].astype("int64")])
        broken.append((Rule.TRANSACTION_ID_UNIQUE, rows.isin(seen_before)))
    broken.extend(_schema_failures(typed, already=broken))

    reasons = _join_reasons(broken, len(raw))
    bad = reasons.notna().to_numpy()
    valid = typed.loc[~bad, [*COLUMNS, *LINEAGE_COLUMNS]].reset_index(drop=True)
    quarantined = raw.loc[bad, [*COLUMNS, *LINEAGE_COLUMNS]].assign(**{REASONS: reasons[bad]})
    return ValidationResult(valid=valid, quarantined=quarantined.reset_index(drop=True))


def _parse(raw: pd.DataFrame, day: str) -> tuple[pd.DataFrame, list[tuple[str, np.ndarray]]]:
    """Typed columns plus the rules broken by values that did not parse (as boolean masks)."""
    broken: list[tuple[str, np.ndarray]] = []
    text = {column: raw[column].astype("string").str.strip() for column in COLUMNS}
    typed = pd.DataFrame(index=raw.index)

    typed["transaction_id"] = text["transaction_id"]

    timestamps = parse_timestamps(text["event_timestamp"])
    broken.append((Rule.TIMESTAMP_ISO, (text["event_timestamp"].notna() & timestamps.isna()).to_numpy()))
    # Rows placed on this day because their own timestamp was unusable (see landing.py).
    off_day = timestamps.notna() & (timestamps.dt.floor("D") != pd.Timestamp(day, tz="UTC"))
    broken.append((Rule.TIMESTAMP_IN_RANGE, off_day.to_numpy()))
    typed["event_timestamp"] = timestamps

    for column, rule in (("customer_id", Rule.CUSTOMER_ID), ("merchant_id", Rule.MERCHANT_ID)):
        # Digits, not floats: an id above 2**53 would silently change on its way through a float.
        digits = text[column].str.extract(INTEGER_TEXT, expand=False)
        # Missing counts too: 0 is a valid id, so the placeholder below would pass the schema.
        broken.append((rule, digits.isna().to_numpy()))
        typed[column] = digits.fillna("0").astype("int64")  # a placeholder: the row is quarantined

    amount = pd.to_numeric(text["amount"], errors="coerce").astype("float64")
    broken.append((Rule.AMOUNT_NUMBER, (text["amount"].notna() & amount.isna()).to_numpy()))
    typed["amount"] = amount

    typed["merchant_category"] = text["merchant_category"]
    typed["channel"] = text["channel"].str.lower()

    lowered = text["card_present"].str.lower()
    card_present = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    card_present[lowered.isin(TRUE_TEXT).fillna(False)] = True
    card_present[lowered.isin(FALSE_TEXT).fillna(False)] = False
    broken.append((Rule.CARD_PRESENT, (lowered.notna() & card_present.isna()).to_numpy()))
    typed["card_present"] = card_present

    typed["country"] = text["country"]

    label = pd.to_numeric(text["is_fraud"], errors="coerce")
    label_ok = label.isna() | label.isin([0, 1])
    broken.append((Rule.IS_FRAUD, ((text["is_fraud"].notna() & label.isna()) | ~label_ok).to_numpy()))
    typed["is_fraud"] = label.where(label_ok).astype("Int64")

    for column in LINEAGE_COLUMNS:
        if column in raw.columns:
            typed[column] = raw[column]
    return typed, broken


def _schema_failures(typed: pd.DataFrame, already: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
    """Rules the pandera schema finds broken, skipping cells already reported by parsing."""
    reported_columns = {}
    for rule, mask in already:
        column = rule.split(":")[0]
        reported_columns[column] = reported_columns.get(column, np.zeros(len(typed), bool)) | mask
    # Within-day uniqueness is the landing index's call (first seen wins), not pandera's.
    schema = TRANSACTION_SCHEMA.update_column("transaction_id", unique=False)
    try:
        schema.validate(typed, lazy=True)
        return []
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    if cases["index"].isna().any():
        # A table-level failure (a dtype, a missing column) is a bug in `_parse`, not bad data.
        raise RuntimeError(f"validation schema failed on the table itself:\n{cases[cases['index'].isna()]}")
    failures: list[tuple[str, np.ndarray]] = []
    for (column, check), group in cases.groupby(["column", "check"], sort=False):
        rule = RULE_WHEN_NULL.get(column, f"{column}: not null") if check == "not_nullable" else str(check)
        if not rule.startswith(f"{column}:"):
            rule = f"{column}: {rule}"
        mask = np.zeros(len(typed), bool)
        mask[group["index"].astype("int64").to_numpy()] = True
        mask &= ~reported_columns.get(column, np.zeros(len(typed), bool))
        failures.append((rule, mask))
    return failures


def _join_reasons(broken: list[tuple[str, np.ndarray]], rows: int) -> pd.Series:
    """`"a: rule; b: rule"` for every row with a broken rule, NA for clean rows; contract order."""
    order = {column: position for position, column in enumerate(COLUMNS)}
    broken = sorted(broken, key=lambda item: order.get(item[0].split(":")[0], len(order)))
    reasons = pd.Series(pd.NA, index=range(rows), dtype="string")
    for rule, mask in broken:
        if mask.any():
            reasons[mask] = (reasons[mask] + "; ").fillna("") + rule
    return reasons
