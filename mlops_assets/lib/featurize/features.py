"""Customer and merchant features from validated transactions, and the one function that turns a
raw transaction plus its entity features into a model input row (used by training and serving).

Which features exist follows the deployment's `FeatureSpec` (`lib/feature_spec.py`): the windows
of each family, the label delay and the calendar's time zone. Names carry their window
(`txn_count_24h`, `merchant_fraud_rate_7d`).

Semantics, chosen so that training and serving see the same values by construction:
- A feature row describes an entity just after one of its transactions: windows `(t - w, t]`
  around that transaction's time `t`, the transaction included. The row's `event_timestamp` is
  `t + 1 µs`, the moment it can be known, so a point-in-time join for a transaction at `t` takes
  the row of the entity's *previous* transaction, never its own: exactly what an online store
  holds when the transaction arrives.
- A label counts for the merchant risk features only once it is known: `label_delay` after the
  transaction (chargebacks take time). The risk windows end there: `(t - delay - w, t - delay]`,
  so no feature ever uses a label from the future.
- Features of an optional column (channel, card presence, category, country) are missing where
  the data lacks the column, and a model trained on such data does without their inputs
  (`available_inputs`): never a constant column standing in for an absent one.
Everything is vectorized: cumulative sums per entity, looked up with `merge_asof` at `t` and
`t - w`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops_assets.lib.featurize.feature_spec import FeatureSpec, category_input, parse_window

AVAILABLE_AFTER = pd.Timedelta(microseconds=1)
TIME = "event_timestamp"
MICROS = "datetime64[us, UTC]"
DEFAULT_SPEC = FeatureSpec()

# The columns of validated transactions that the entity features read (the last four optional).
HISTORY_COLUMNS = ("customer_id", "merchant_id", TIME, "amount", "is_fraud", "card_present", "country")

# Feature value kinds, as the Feast views declare them.
COUNT, NUMBER, TIMESTAMP = "count", "number", "timestamp"


def _window(name: str) -> pd.Timedelta:
    return pd.Timedelta(parse_window(name))


def customer_feature_kinds(spec: FeatureSpec = DEFAULT_SPEC) -> dict[str, str]:
    """The customer view's features, name -> kind, in order."""
    kinds: dict[str, str] = {}
    for w in spec.customer_windows:
        kinds |= {f"txn_count_{w}": COUNT, f"amount_usd_sum_{w}": NUMBER, f"amount_usd_mean_{w}": NUMBER}
    for w in spec.habit_windows:
        kinds |= {
            f"distinct_merchants_{w}": COUNT,
            f"distinct_countries_{w}": COUNT,
            f"card_not_present_share_{w}": NUMBER,
            f"zero_amount_count_{w}": COUNT,
        }
    return kinds | {"last_txn_at": TIMESTAMP}


def merchant_feature_kinds(spec: FeatureSpec = DEFAULT_SPEC) -> dict[str, str]:
    """The merchant view's features, name -> kind, in order."""
    kinds: dict[str, str] = {}
    for w in spec.merchant_windows:
        kinds |= {f"merchant_txn_count_{w}": COUNT, f"merchant_amount_usd_mean_{w}": NUMBER}
    for w in spec.risk_windows:
        kinds |= {f"merchant_labelled_txn_{w}": COUNT, f"merchant_fraud_rate_{w}": NUMBER}
    return kinds


def feature_columns(spec: FeatureSpec = DEFAULT_SPEC) -> tuple[str, ...]:
    """Every feature of the service, customer view first."""
    return (*customer_feature_kinds(spec), *merchant_feature_kinds(spec))


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
    if ordered.empty:  # an optional column without a value in the whole history
        return np.zeros(len(queries), dtype="int64")
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
    return (entered - exited).astype("int64").to_numpy()


def customer_features(history: pd.DataFrame, day_rows: pd.DataFrame, spec: FeatureSpec = DEFAULT_SPEC) -> pd.DataFrame:
    """Feature rows for `day_rows` (validated transactions), from `history` (which includes them
    and at least `spec.history` before). Keyed by `customer_id` and `event_timestamp` = t + 1 µs."""
    card_present = _column(history, "card_present").astype("boolean")
    history = history.assign(
        _count=1,
        _amount=history["amount"].astype("float64"),
        _zero=(history["amount"] == 0).astype(int),
        _card_known=card_present.notna().astype(int),
        _cnp=card_present.eq(False).fillna(False).astype(int),
    )
    at, keys = day_rows[TIME], day_rows["customer_id"]
    running = _RunningSums(history, "customer_id", ["_count", "_amount", "_zero", "_card_known", "_cnp"])
    columns: dict[str, object] = {"customer_id": keys.to_numpy()}
    for w in spec.customer_windows:
        sums = running.between(keys, at - _window(w), at)
        columns[f"txn_count_{w}"] = sums["_count"].astype("int64").to_numpy()
        columns[f"amount_usd_sum_{w}"] = sums["_amount"].to_numpy()
        columns[f"amount_usd_mean_{w}"] = _ratio(sums["_amount"], sums["_count"])
    for w in spec.habit_windows:
        window = _window(w)
        sums = running.between(keys, at - window, at)
        columns[f"distinct_merchants_{w}"] = _distinct_in_window(
            history, "customer_id", "merchant_id", day_rows, window
        )
        columns[f"distinct_countries_{w}"] = _distinct_in_window(
            history.assign(country=_column(history, "country")), "customer_id", "country", day_rows, window
        )
        columns[f"card_not_present_share_{w}"] = _ratio(sums["_cnp"], sums["_card_known"])
        columns[f"zero_amount_count_{w}"] = sums["_zero"].astype("int64").to_numpy()
    # Whole seconds: Feast's online UnixTimestamp keeps no more, and training must see what serving sees.
    columns["last_txn_at"] = _micros(at.dt.floor("s"))
    columns[TIME] = _micros(at + AVAILABLE_AFTER)
    out = pd.DataFrame(columns)
    return out[["customer_id", TIME, *customer_feature_kinds(spec)]]


def merchant_features(history: pd.DataFrame, day_rows: pd.DataFrame, spec: FeatureSpec = DEFAULT_SPEC) -> pd.DataFrame:
    """Merchant feature rows for `day_rows`; the risk features use only labels known by then."""
    history = history.assign(
        _count=1,
        _amount=history["amount"].astype("float64"),
        _labelled=history["is_fraud"].notna().astype(int),
        _fraud=history["is_fraud"].fillna(0).astype(int),
    )
    at, keys = day_rows[TIME], day_rows["merchant_id"]
    running = _RunningSums(history, "merchant_id", ["_count", "_amount", "_labelled", "_fraud"])
    columns: dict[str, object] = {"merchant_id": keys.to_numpy()}
    for w in spec.merchant_windows:
        sums = running.between(keys, at - _window(w), at)
        columns[f"merchant_txn_count_{w}"] = sums["_count"].astype("int64").to_numpy()
        columns[f"merchant_amount_usd_mean_{w}"] = _ratio(sums["_amount"], sums["_count"])
    known_at = at - pd.Timedelta(spec.label_delay_length)
    for w in spec.risk_windows:
        # Labels of transactions in (t - delay - w, t - delay] are the ones known at t.
        known = running.between(keys, known_at - _window(w), known_at)
        columns[f"merchant_labelled_txn_{w}"] = known["_labelled"].astype("int64").to_numpy()
        columns[f"merchant_fraud_rate_{w}"] = _ratio(known["_fraud"], known["_labelled"])
    columns[TIME] = _micros(at + AVAILABLE_AFTER)
    out = pd.DataFrame(columns)
    return out[["merchant_id", TIME, *merchant_feature_kinds(spec)]]


def _ratio(numerator: pd.Series, denominator: pd.Series) -> np.ndarray:
    """numerator / denominator, missing where there is nothing to divide by (a mean of no
    transactions, a rate of no labels): never 0, never an error."""
    return (numerator / denominator.where(denominator > 0)).to_numpy()


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """An optional column, or all missing where the frame lacks it."""
    return frame[name] if name in frame else pd.Series(pd.NA, index=frame.index, dtype="object")


# -- the model input: one code path for training and serving --------------------------------------
# A customer without history is treated as if its last transaction was this long before.
NO_HISTORY_GAP = pd.Timedelta(days=30)


def _inputs_by_column(spec: FeatureSpec) -> list[tuple[str, str | None]]:
    """Every model input with the optional column it needs (None: only required columns), in order."""
    pairs: list[tuple[str, str | None]] = [
        ("amount_usd", None),
        ("is_zero_amount", None),
        ("hour_of_day", None),
        ("is_night", None),
        ("is_weekend", None),
        ("is_online", "channel"),
        ("is_atm", "channel"),
        ("is_card_present", "card_present"),
        *((category_input(c), "merchant_category") for c in (*spec.merchant_categories, "unknown")),
        ("has_history", None),
        ("minutes_since_prev_txn", None),
    ]
    for w in spec.customer_windows:
        pairs += [
            (f"{name}_{w}", None) for name in ("txn_count", "amount_usd_sum", "amount_usd_mean", "amount_vs_mean")
        ]
    for w in spec.habit_windows:
        pairs += [
            (f"distinct_merchants_{w}", None),
            (f"distinct_countries_{w}", "country"),
            (f"card_not_present_share_{w}", "card_present"),
            (f"zero_amount_count_{w}", None),
        ]
    for w in spec.merchant_windows:
        pairs += [(f"merchant_txn_count_{w}", None), (f"merchant_amount_usd_mean_{w}", None)]
    # The labelled counts behind the rates are features, not inputs: their level follows how much
    # labelled history has accumulated, which says nothing about a transaction.
    pairs += [(f"merchant_fraud_rate_{w}", None) for w in spec.risk_windows]
    return pairs


def drift_monitored(inputs: tuple[str, ...]) -> list[str]:
    """The inputs whose distribution a drift report compares, in order. Left out: inputs that
    follow the calendar rather than the world (whether a day is a weekend is the same for all of
    it, so its share says which days a window holds), and inputs computed from labels (the
    merchant fraud rates: they show past fraud, `label_delay` late, and what fraud looks like is
    judged by the fraud conditionals and the labelled performance instead)."""
    return [name for name in inputs if name != "is_weekend" and not name.startswith("merchant_fraud_rate_")]


def model_inputs(spec: FeatureSpec = DEFAULT_SPEC) -> tuple[str, ...]:
    """Every input `model_input` computes under the spec, in order."""
    return tuple(name for name, _ in _inputs_by_column(spec))


def available_inputs(transactions: pd.DataFrame, spec: FeatureSpec = DEFAULT_SPEC) -> tuple[str, ...]:
    """The inputs that the data can give: those of an optional column only where that column has
    values in `transactions` (a training window), in `model_inputs` order."""

    def has(column: str | None) -> bool:
        return column is None or (column in transactions and bool(transactions[column].notna().any()))

    return tuple(name for name, column in _inputs_by_column(spec) if has(column))


def with_inputs(frame: pd.DataFrame, names: tuple[str, ...], spec: FeatureSpec = DEFAULT_SPEC) -> pd.DataFrame:
    """`frame` (model inputs of data without some optional columns, as a training set keeps them)
    with each of `names` it lacks added at the value `model_input` gives when that column is
    absent: how serving sees such data, so a model trained where the column existed (a champion)
    can be scored on it."""
    lacking = [name for name in names if name not in frame.columns]
    if not lacking:
        return frame
    bare = pd.DataFrame({TIME: [pd.Timestamp(0, tz="UTC")], "amount": [0.0]})
    absent = model_input(bare, pd.DataFrame({name: [None] for name in feature_columns(spec)}), spec).iloc[0]
    unknown = [name for name in lacking if name not in absent.index]
    if unknown:
        raise ValueError(f"inputs {', '.join(unknown)} are not computed by this deployment's feature spec")
    return frame.assign(**{name: absent[name] for name in lacking})


# Inputs that are missing, not zero, where there is nothing to compute them from (a mean without
# transactions, a rate without labels): each model fills them in its own way, learned from its
# training data (XGBoost natively, the baseline by imputation, the network as a state of its own).
def _stays_missing(name: str) -> bool:
    return name.startswith(
        (
            "amount_usd_mean_",
            "amount_vs_mean_",
            "merchant_amount_usd_mean_",
            "merchant_fraud_rate_",
            "card_not_present_",
        )
    )


def model_input(transactions: pd.DataFrame, features: pd.DataFrame, spec: FeatureSpec = DEFAULT_SPEC) -> pd.DataFrame:
    """Model input rows from raw transactions and their entity features (aligned row by row).

    `features` holds the columns of `feature_columns(spec)` as a point-in-time join (training) or
    an online lookup (serving) returns them: missing where the entity has no history. Missing
    optional columns of a transaction and unknown categories get neutral values, never errors.
    The columns are `model_inputs(spec)`, all float64, in that order; a model reads its own subset.
    """
    n = len(transactions)
    utc = pd.to_datetime(transactions[TIME], utc=True).reset_index(drop=True)
    local = utc.dt.tz_convert(spec.timezone)

    def column(name: str) -> pd.Series:
        if name in transactions:
            return transactions[name].reset_index(drop=True)
        return pd.Series([None] * n, dtype="object")

    feature = normalize_features(features.reset_index(drop=True), spec)
    channel = column("channel").astype("string").str.lower()
    category = column("merchant_category").astype("string").str.strip().str.lower()
    amount = transactions["amount"].astype("float64").reset_index(drop=True)
    hour = local.dt.hour
    last_txn_at = feature["last_txn_at"]
    inputs: dict[str, pd.Series] = {
        "amount_usd": amount,
        "is_zero_amount": amount.eq(0),
        "hour_of_day": hour,
        "is_night": hour.lt(6),
        "is_weekend": local.dt.dayofweek.ge(5),
        "is_online": channel.eq("online").fillna(False),
        "is_atm": channel.eq("atm").fillna(False),
        "is_card_present": column("card_present").astype("boolean").fillna(False),
        **{category_input(name): category.eq(name).fillna(False) for name in spec.merchant_categories},
        "is_category_unknown": ~category.isin(spec.merchant_categories).fillna(False),
        "has_history": last_txn_at.notna(),
        "minutes_since_prev_txn": ((utc - last_txn_at).dt.total_seconds() / 60).fillna(
            NO_HISTORY_GAP.total_seconds() / 60
        ),
    }
    for name in feature_columns(spec):
        if name != "last_txn_at":
            inputs[name] = feature[name] if _stays_missing(name) else feature[name].fillna(0.0)
    for w in spec.customer_windows:
        inputs[f"amount_vs_mean_{w}"] = amount / feature[f"amount_usd_mean_{w}"].where(lambda m: m > 0)
    frame = pd.DataFrame(inputs)
    return frame[list(model_inputs(spec))].astype("float64")


def normalize_features(frame: pd.DataFrame, spec: FeatureSpec = DEFAULT_SPEC) -> pd.DataFrame:
    """Feature columns with canonical types, whichever store returned them (an offline join gives
    timestamps as text, an online lookup objects): numbers float64, `last_txn_at` UTC timestamps."""
    columns = {
        name: pd.to_datetime(frame[name], utc=True, format="ISO8601").astype(MICROS)
        if name == "last_txn_at"
        else _numbers(frame[name])
        for name in feature_columns(spec)
    }
    # One frame from all columns at once: inserting them one by one costs more than the work.
    return pd.DataFrame(columns, index=frame.index)


def _numbers(values: pd.Series) -> pd.Series:
    """float64 with NaN for missing, whatever the input's dtype (online lookups return objects)."""
    if values.dtype == "float64":
        return values
    return pd.to_numeric(values, errors="coerce").astype("float64")
