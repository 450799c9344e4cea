"""Which entity features exist: the windows of each family, when a label counts as known, and the
time zone of the calendar flags. One spec per deployment (`Settings.features`), read by the
feature assets, the Feast definitions, training and serving alike, so that all of them agree.

Windows are written as a number and a unit, `30m`, `1h`, `24h`, `7d`; the text is also the
suffix of the feature's name (`txn_count_24h`), so a name says its window. The merchant
categories that get a model input each are the data's own values (`mlops import` writes the
common ones of the data it lands); any other category is `is_category_unknown`.

No pandas here: `settings.py` builds a spec at every command's start.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_WINDOW = re.compile(r"^(\d+)([mhd])$")


def parse_window(text: str) -> timedelta:
    """`"7d"` -> 7 days; anything else than a whole number of minutes, hours or days is an error."""
    match = _WINDOW.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"a window is a whole number and a unit (m, h or d), like 1h or 7d; not {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_windows(text: str) -> tuple[str, ...]:
    """`"1h,24h,7d"` -> ("1h", "24h", "7d"), checked, without repeats, shortest first."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ValueError("a list of windows needs at least one, like 1h,24h,7d")
    lengths = {name: parse_window(name) for name in names}
    if len(set(lengths.values())) < len(lengths):
        raise ValueError(f"windows {text!r} name one length twice")
    return tuple(sorted(lengths, key=lengths.__getitem__))


def parse_names(text: str) -> tuple[str, ...]:
    """`"Grocery, fuel"` -> ("grocery", "fuel"): category values, compared without case."""
    return tuple(dict.fromkeys(name.strip().lower() for name in text.split(",") if name.strip()))


def category_input(category: str) -> str:
    """The model input of a merchant category: `is_category_` and the category in lower case, each
    run of other characters than letters and digits as one `_` (model libraries refuse some)."""
    return "is_category_" + re.sub(r"[^0-9a-z]+", "_", category.lower()).strip("_")


# The categories of our own generator (and the contract's examples): what a deployment without
# `MLOPS_MERCHANT_CATEGORIES` has.
GENERATOR_CATEGORIES: tuple[str, ...] = (
    "grocery",
    "restaurants",
    "fuel",
    "retail",
    "health",
    "travel",
    "electronics",
    "digital_goods",
    "gambling",
    "jewelry",
    "atm_withdrawal",
)


@dataclass(frozen=True)
class FeatureSpec:
    """The entity feature families and their windows (see `lib/features.py` for what each holds)."""

    # Per customer: transaction count, amount sum and mean amount over each window.
    customer_windows: tuple[str, ...] = ("1h", "24h", "7d", "30d")
    # Per customer: distinct merchants and countries, card-not-present share, zero amounts.
    habit_windows: tuple[str, ...] = ("7d",)
    # Per merchant: transaction count and mean amount over each window.
    merchant_windows: tuple[str, ...] = ("24h", "7d", "30d")
    # Per merchant: labelled transactions and fraud rate over each window, ending `label_delay` ago.
    risk_windows: tuple[str, ...] = ("24h", "7d", "30d")
    # How long after a transaction its label counts as known (chargebacks take time).
    label_delay: str = "3d"
    # The IANA time zone of the calendar inputs (hour of day, night, weekend).
    timezone: str = "UTC"
    # Merchant categories with an input each (lower case); any other is `is_category_unknown`.
    merchant_categories: tuple[str, ...] = GENERATOR_CATEGORIES

    def __post_init__(self) -> None:
        for family in (self.customer_windows, self.habit_windows, self.merchant_windows, self.risk_windows):
            parse_windows(",".join(family))
        if self.label_delay.strip() not in ("0", "0d"):
            parse_window(self.label_delay)
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r} (an IANA name, like Europe/Brussels)") from None
        # Data values are compared in lower case, without surrounding blanks: so are these.
        object.__setattr__(self, "merchant_categories", tuple(c.strip().lower() for c in self.merchant_categories))
        inputs = [category_input(category) for category in self.merchant_categories]
        unnamed = {"is_category_", "is_category_unknown"} & set(inputs)
        if unnamed or len(set(inputs)) < len(inputs):
            raise ValueError(
                f"merchant categories {','.join(self.merchant_categories)!r}: each needs a letter or digit, "
                "none may be 'unknown', and no two may differ only in case or punctuation"
            )

    @property
    def label_delay_length(self) -> timedelta:
        return timedelta(0) if self.label_delay.strip() in ("0", "0d") else parse_window(self.label_delay)

    @property
    def history(self) -> timedelta:
        """How far back a day's features read: the longest window, the delayed ones with their delay."""
        longest = max(parse_window(w) for w in (*self.customer_windows, *self.habit_windows, *self.merchant_windows))
        delayed = max(parse_window(w) for w in self.risk_windows) + self.label_delay_length
        return max(longest, delayed)

    @property
    def history_days(self) -> int:
        """`history` in whole days, rounded up: the day partitions a day's features read before it."""
        return -(-self.history // timedelta(days=1))

    @classmethod
    def from_variables(cls, values: dict[str, str]) -> FeatureSpec:
        """The spec from `MLOPS_*` variables (each optional; see `VARIABLES`)."""
        fields = {}
        for variable, (name, parse) in VARIABLES.items():
            if values.get(variable):
                fields[name] = parse(values[variable])
        return cls(**fields)

    def to_variables(self) -> dict[str, str]:
        def text(value: str | tuple[str, ...]) -> str:
            return value if isinstance(value, str) else ",".join(value)

        return {variable: text(getattr(self, name)) for variable, (name, _) in VARIABLES.items()}


# Environment variable -> (spec field, how its text is read). Documented in docs/features.md.
VARIABLES: dict[str, tuple[str, Callable[[str], object]]] = {
    "MLOPS_CUSTOMER_WINDOWS": ("customer_windows", parse_windows),
    "MLOPS_HABIT_WINDOWS": ("habit_windows", parse_windows),
    "MLOPS_MERCHANT_WINDOWS": ("merchant_windows", parse_windows),
    "MLOPS_RISK_WINDOWS": ("risk_windows", parse_windows),
    "MLOPS_LABEL_DELAY": ("label_delay", str.strip),
    "MLOPS_TIMEZONE": ("timezone", str.strip),
    "MLOPS_MERCHANT_CATEGORIES": ("merchant_categories", parse_names),
}
