"""Which entity features exist: the windows of each family, when a label counts as known, and the
time zone of the calendar flags. One spec per deployment (`Settings.features`), read by the
feature assets, the Feast definitions, training and serving alike, so that all of them agree.

Windows are written as a number and a unit, `30m`, `1h`, `24h`, `7d`; the text is also the
suffix of the feature's name (`txn_count_24h`), so a name says its window.

No pandas here: `settings.py` builds a spec at every command's start.
"""

from __future__ import annotations

import re
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
        for variable, (name, windows) in VARIABLES.items():
            if values.get(variable):
                fields[name] = parse_windows(values[variable]) if windows else values[variable].strip()
        return cls(**fields)

    def to_variables(self) -> dict[str, str]:
        return {
            variable: ",".join(getattr(self, name)) if windows else getattr(self, name)
            for variable, (name, windows) in VARIABLES.items()
        }


# Environment variable -> (spec field, whether it is a list of windows). Documented in the README.
VARIABLES: dict[str, tuple[str, bool]] = {
    "MLOPS_CUSTOMER_WINDOWS": ("customer_windows", True),
    "MLOPS_HABIT_WINDOWS": ("habit_windows", True),
    "MLOPS_MERCHANT_WINDOWS": ("merchant_windows", True),
    "MLOPS_RISK_WINDOWS": ("risk_windows", True),
    "MLOPS_LABEL_DELAY": ("label_delay", False),
    "MLOPS_TIMEZONE": ("timezone", False),
}
