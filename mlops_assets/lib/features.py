"""Customer and merchant features from validated transactions, and the one function that turns a
raw transaction plus its entity features into a model input row (used by training and serving).

Semantics, chosen so that training and serving see the same values by construction:
- A feature row describes an entity just after one of its transactions: windows `(t - w, t]`
  around that transaction's time `t`, the transaction included. The row's `event_timestamp` is
  `t + 1 µs`, the moment it can be known, so a point-in-time join for a transaction at `t` takes
  the row of the entity's *previous* transaction, never its own: exactly what an online store
  holds when the transaction arrives.
- A label counts for the merchant fraud rate only once it is known: `label_delay` after the
  transaction (chargebacks take time), so no feature ever uses a label from the future.
Everything is vectorized: cumulative sums per entity, looked up with `merge_asof` at `t` and
`t - w`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

AVAILABLE_AFTER = pd.Timedelta(microseconds=1)
TIME = "event_timestamp"
MICROS = "datetime64[us, UTC]"

CUSTOMER_WINDOWS = {
    "1h": pd.Timedelta(hours=1),
    "24h": pd.Timedelta(hours=24),
    "7d": pd.Timedelta(days=7),
    "30d": pd.Timedelta(days=30),
}
MERCHANT_WINDOWS = {"24h": pd.Timedelta(hours=24), "7d": pd.Timedelta(days=7)}
FRAUD_RATE_WINDOW = pd.Timedelta(days=30)
# How much history a day's features need: the longest window.
HISTORY = pd.Timedelta(days=30)

CUSTOMER_FEATURES: tuple[str, ...] = (
    *(f"txn_count_{name}" for name in CUSTOMER_WINDOWS),
    "amount_usd_sum_24h",
    "amount_usd_mean_7d",
    "amount_usd_mean_30d",
    "distinct_countries_7d",
    "distinct_merchants_7d",
    "card_not_present_share_7d",
    "last_txn_at",
)
MERCHANT_FEATURES: tuple[str, ...] = (
    *(f"merchant_txn_count_{name}" for name in MERCHANT_WINDOWS),
    "merchant_amount_usd_mean_7d",
    "merchant_labelled_txn_30d",
    "merchant_fraud_rate_30d",
)


def _micros(times: pd.Series) -> pd.Series:
    """UTC microseconds, positionally aligned: DuckDB 2 cannot read nanosecond zoned timestamps."""
    return times.astype(MICROS).reset_index(drop=True)


class _RunningSums:
    """Running sums of `values` per `key` over `history` in time order, computed once and looked
    up at any (key, time): the sum over the key's rows with time <= that time."""

    def __init__(self, history: pd.DataFrame, key: str, values: list[str]):
        ordered = history.sort_values([TIME, key], kind="stable")
        running = ordered.groupby(key, sort=False)[values].cumsum()
        table = pd.concat([ordered[[key, TIME]], running], axis=1).astype({TIME: MICROS})
        # Rows at the same (key, time) all count: keep the last running value per (key, time).
        self.table = table.drop_duplicates([key, TIME], keep="last")
        self.key, self.values = key, values

    def at(self, keys: pd.Series, times: pd.Series) -> pd.DataFrame:
        left = pd.DataFrame({self.key: keys.to_numpy(), TIME: _micros(times), "_row": np.arange(len(keys))})
        joined = pd.merge_asof(
            left.sort_values(TIME, kind="stable"), self.table, on=TIME, by=self.key, direction="backward"
        )
        return joined.sort_values("_row")[self.values].fillna(0).reset_index(drop=True)

    def between(self, keys: pd.Series, start: pd.Series, end: pd.Series) -> pd.DataFrame:
        """Sums over the key's rows with time in `(start, end]`."""
        return self.at(keys, end) - self.at(keys, start)


def _distinct_in_window(history: pd.DataFrame, key: str, value: str, queries: pd.DataFrame, window: pd.Timedelta):
    """Per query: distinct `value`s among the key's history rows with time in `(t - window, t]`.

    A value enters when it appears after an absence of at least `window`, and leaves `window` after
    the last appearance of that run; distinct(t) = entries <= t - exits <= t.
    """
    ordered = history[[key, value, TIME]].dropna().sort_values([key, value, TIME], kind="stable")
    same_pair = (ordered[key].to_numpy()[1:] == ordered[key].to_numpy()[:-1]) & (
        ordered[value].to_numpy()[1:] == ordered[value].to_numpy()[:-1]
    )
    gap = ordered[TIME].diff().to_numpy()[1:]
    continues = np.r_[False, same_pair & (gap < window)]  # same run as the row before
    entries = ordered.loc[~continues, [key, TIME]].assign(_entries=1)
    run_ends = ~np.r_[continues[1:], False]
    exits = ordered.loc[run_ends, [key, TIME]].assign(_exits=1)
    exits[TIME] = exits[TIME] + window
    keys, at = queries[key], queries[TIME]
    entered = _RunningSums(entries, key, ["_entries"]).at(keys, at)["_entries"]
    exited = _RunningSums(exits, key, ["_exits"]).at(keys, at)["_exits"]
    return (entered - exited).astype("int64")


def customer_features(history: pd.DataFrame, day_rows: pd.DataFrame) -> pd.DataFrame:
    """Feature rows for `day_rows` (validated transactions), from `history` (which includes them
    and at least `HISTORY` before). Keyed by `customer_id` and `event_timestamp` = t + 1 µs."""
    history = history.assign(
        _count=1,
        _amount=history["amount"].astype("float64"),
        _cnp=(history["card_present"] == False).astype(int),  # noqa: E712
    )
    at, keys = day_rows[TIME], day_rows["customer_id"]
    running = _RunningSums(history, "customer_id", ["_count", "_amount", "_cnp"])
    out = pd.DataFrame({"customer_id": keys.to_numpy()})
    for name, window in CUSTOMER_WINDOWS.items():
        sums = running.between(keys, at - window, at)
        out[f"txn_count_{name}"] = sums["_count"].astype("int64").to_numpy()
        if name == "24h":
            out["amount_usd_sum_24h"] = sums["_amount"].to_numpy()
        if name in ("7d", "30d"):
            out[f"amount_usd_mean_{name}"] = (sums["_amount"] / sums["_count"]).to_numpy()
        if name == "7d":
            out["card_not_present_share_7d"] = (sums["_cnp"] / sums["_count"]).to_numpy()
    week = CUSTOMER_WINDOWS["7d"]
    out["distinct_countries_7d"] = _distinct_in_window(history, "customer_id", "country", day_rows, week).to_numpy()
    out["distinct_merchants_7d"] = _distinct_in_window(history, "customer_id", "merchant_id", day_rows, week).to_numpy()
    # Whole seconds: Feast's online UnixTimestamp keeps no more, and training must see what serving sees.
    out["last_txn_at"] = _micros(at.dt.floor("s"))
    out[TIME] = _micros(at + AVAILABLE_AFTER)
    return out[["customer_id", TIME, *CUSTOMER_FEATURES]]


def merchant_features(history: pd.DataFrame, day_rows: pd.DataFrame, label_delay: pd.Timedelta) -> pd.DataFrame:
    """Merchant feature rows for `day_rows`; the fraud rate uses only labels known by then."""
    history = history.assign(
        _count=1,
        _amount=history["amount"].astype("float64"),
        _labelled=history["is_fraud"].notna().astype(int),
        _fraud=history["is_fraud"].fillna(0).astype(int),
    )
    at, keys = day_rows[TIME], day_rows["merchant_id"]
    running = _RunningSums(history, "merchant_id", ["_count", "_amount", "_labelled", "_fraud"])
    out = pd.DataFrame({"merchant_id": keys.to_numpy()})
    for name, window in MERCHANT_WINDOWS.items():
        sums = running.between(keys, at - window, at)
        out[f"merchant_txn_count_{name}"] = sums["_count"].astype("int64").to_numpy()
        if name == "7d":
            out["merchant_amount_usd_mean_7d"] = (sums["_amount"] / sums["_count"]).to_numpy()
    # Labels of transactions in (t - 30d, t - delay] are the ones known at t.
    known = running.between(keys, at - FRAUD_RATE_WINDOW, at - label_delay)
    out["merchant_labelled_txn_30d"] = known["_labelled"].astype("int64").to_numpy()
    out["merchant_fraud_rate_30d"] = (known["_fraud"] / known["_labelled"].where(known["_labelled"] > 0)).to_numpy()
    out[TIME] = _micros(at + AVAILABLE_AFTER)
    return out[["merchant_id", TIME, *MERCHANT_FEATURES]]


# -- the model input: one code path for training and serving --------------------------------------
CATEGORIES: tuple[str, ...] = (
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
class Defaults:
    """What a feature is when it is missing (a new customer, a stale or absent online value)."""

    merchant_fraud_rate: float = 0.008  # the long-run share of fraud, until the merchant has labels


MODEL_INPUTS: tuple[str, ...] = (
    "amount_usd",
    "hour_of_day",
    "is_night",
    "is_online",
    "is_atm",
    "is_card_present",
    *(f"is_category_{category}" for category in CATEGORIES),
    "is_category_unknown",
    "has_history",
    "minutes_since_prev_txn",
    *(f"txn_count_{name}" for name in CUSTOMER_WINDOWS),
    "amount_usd_sum_24h",
    "amount_vs_mean_30d",
    "distinct_countries_7d",
    "distinct_merchants_7d",
    "card_not_present_share_7d",
    *(f"merchant_txn_count_{name}" for name in MERCHANT_WINDOWS),
    "merchant_fraud_rate_30d",
)


def model_input(transactions: pd.DataFrame, features: pd.DataFrame, defaults: Defaults = Defaults()) -> pd.DataFrame:
    """Model input rows from raw transactions and their entity features (aligned row by row).

    `features` holds the columns of `CUSTOMER_FEATURES` and `MERCHANT_FEATURES` as a point-in-time
    join (training) or an online lookup (serving) returns them: missing where the entity has no
    history. Missing optional columns of a transaction and unknown categories get defaults, never
    errors. The columns are `MODEL_INPUTS`, all float64, in that order.
    """
    n = len(transactions)
    time = pd.to_datetime(transactions[TIME], utc=True)

    def column(name: str, default: object) -> pd.Series:
        if name in transactions:
            return transactions[name].reset_index(drop=True)
        return pd.Series([default] * n)

    feature = normalize_features(features.reset_index(drop=True))
    channel = column("channel", None).astype("string").str.lower()
    category = column("merchant_category", None).astype("string").str.lower()
    hour = time.dt.hour.reset_index(drop=True)
    has_history = feature["last_txn_at"].notna()
    last_txn_at = feature["last_txn_at"]
    inputs = {
        "amount_usd": transactions["amount"].astype("float64").reset_index(drop=True),
        "hour_of_day": hour,
        "is_night": hour.lt(6),
        "is_online": channel.eq("online").fillna(False),
        "is_atm": channel.eq("atm").fillna(False),
        "is_card_present": column("card_present", None).astype("boolean").fillna(False),
        **{f"is_category_{name}": category.eq(name).fillna(False) for name in CATEGORIES},
        "is_category_unknown": ~category.isin(CATEGORIES).fillna(False),
        "has_history": has_history,
        # Without history, as if the last transaction was a month before.
        "minutes_since_prev_txn": ((time.reset_index(drop=True) - last_txn_at).dt.total_seconds() / 60).fillna(
            HISTORY.total_seconds() / 60
        ),
    }
    for name in (
        *(f"txn_count_{w}" for w in CUSTOMER_WINDOWS),
        "amount_usd_sum_24h",
        "distinct_countries_7d",
        "distinct_merchants_7d",
        "card_not_present_share_7d",
        *(f"merchant_txn_count_{w}" for w in MERCHANT_WINDOWS),
    ):
        inputs[name] = feature[name].fillna(0.0)
    mean_30d = feature["amount_usd_mean_30d"]
    inputs["amount_vs_mean_30d"] = (inputs["amount_usd"] / mean_30d).fillna(1.0)
    inputs["merchant_fraud_rate_30d"] = feature["merchant_fraud_rate_30d"].fillna(defaults.merchant_fraud_rate)
    frame = pd.DataFrame(inputs)
    return frame[list(MODEL_INPUTS)].astype("float64")


def normalize_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Feature columns with canonical types, whichever store returned them (an offline join gives
    timestamps as text, an online lookup objects): numbers float64, `last_txn_at` UTC timestamps."""
    columns = {
        name: pd.to_datetime(frame[name], utc=True, format="ISO8601").astype(MICROS)
        if name == "last_txn_at"
        else _numbers(frame[name])
        for name in feature_columns()
    }
    # One frame from all columns at once: inserting them one by one costs more than the work.
    return pd.DataFrame(columns, index=frame.index)


def _numbers(values: pd.Series) -> pd.Series:
    """float64 with NaN for missing, whatever the input's dtype (online lookups return objects)."""
    if values.dtype == "float64":
        return values
    return pd.to_numeric(values, errors="coerce").astype("float64")


def feature_columns() -> Iterable[str]:
    return (*CUSTOMER_FEATURES, *MERCHANT_FEATURES)
