"""The landing contract: the columns of a raw transaction and the rules each must keep.

Rule texts are what a quarantined row's `reasons` say, as `column: rule`, so they are written
for a person reading the quarantine table.
"""

from __future__ import annotations

REQUIRED_COLUMNS: tuple[str, ...] = (
    "transaction_id",
    "event_timestamp",
    "customer_id",
    "merchant_id",
    "amount",
    "is_fraud",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("merchant_category", "channel", "card_present", "country")
COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS[:5] + OPTIONAL_COLUMNS + ("is_fraud",)

CHANNELS: tuple[str, ...] = ("online", "pos", "atm")
MAX_AMOUNT = 1_000_000.0

# Lineage columns added at ingestion: which landing file and row each raw row came from.
SOURCE_FILE = "source_file"
SOURCE_ROW = "source_row"
LINEAGE_COLUMNS: tuple[str, ...] = (SOURCE_FILE, SOURCE_ROW)

# The column of quarantined rows that names every broken rule, joined by "; ".
REASONS = "reasons"


class Rule:
    """The rule texts, one constant per rule, so tests and code name them the same way."""

    TRANSACTION_ID_NON_EMPTY = "transaction_id: non-empty"
    TRANSACTION_ID_UNIQUE = "transaction_id: unique (a row with this id was seen earlier)"
    TIMESTAMP_ISO = "event_timestamp: ISO 8601 timestamp"
    TIMESTAMP_IN_RANGE = "event_timestamp: between the first partition day and today (UTC)"
    CUSTOMER_ID = "customer_id: integer >= 0"
    MERCHANT_ID = "merchant_id: integer >= 0"
    AMOUNT_NUMBER = "amount: number"
    AMOUNT_NON_NEGATIVE = "amount: >= 0"
    AMOUNT_MAX = "amount: <= 1,000,000"
    CHANNEL = "channel: one of online, pos, atm"
    CARD_PRESENT = "card_present: true or false"
    COUNTRY = "country: ISO 3166 alpha-2, upper case"
    IS_FRAUD = "is_fraud: 0, 1 or empty"
