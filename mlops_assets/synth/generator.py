"""A synthetic card-transaction simulator that samples from a documented causal graph.

The world: customers with a home country and a typical spend, merchants with a category (a few
of them compromised), a daily rhythm of legitimate spending, and fraud that arrives as episodes:
a taken-over card used in a burst of transactions, more often at night, card-not-present, abroad,
at risky categories and for larger amounts. `TRUTH_EDGES` is the graph the sampler follows: each
variable below is drawn from its parents in that graph and nothing else.

Scenarios change the world's parameters, never the code path:
- `baseline`: the world as described.
- `covariate_shift`: the inputs move (more online spending, higher amounts, more travel, later
  hours) while every fraud mechanism stays the same.
- `concept_drift`: fraud moves to new patterns (cloned cards used in person at a new set of
  compromised merchants, domestic, in the daytime).
- `dirty`: `baseline` rows with data-quality faults mixed in (each faulty row has one fault,
  counted in `GenerationResult.faults`), plus one truncated file and one file lacking a column.

Every random draw comes from a generator seeded by (seed, scenario, day), so the same arguments
give the same bytes.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_assets.lib.data.contract import Rule

SCENARIOS: dict[str, str] = {
    "baseline": "the world as documented: stable customers, merchants and fraud mechanisms",
    "covariate_shift": "inputs move (more online, higher amounts, more travel, later hours); fraud mechanism unchanged",
    "concept_drift": "fraud moves to new patterns: cloned cards used in person, domestic, "
    "daytime, at a new set of compromised merchants",
    "dirty": "baseline rows with data-quality faults mixed in, a truncated file and a file missing a required column",
}

TRUTH_NODES: tuple[str, ...] = (
    "customer_home_country",
    "customer_spend_usd",
    "is_fraud",
    "hour_of_day",
    "merchant_category",
    "merchant_id",
    "channel",
    "card_present",
    "is_foreign",
    "country",
    "amount",
    "txn_count_1h",
)
TRUTH_EDGES: tuple[tuple[str, str], ...] = (
    ("is_fraud", "hour_of_day"),
    ("is_fraud", "merchant_category"),
    ("is_fraud", "merchant_id"),
    ("merchant_category", "merchant_id"),
    ("is_fraud", "channel"),
    ("merchant_category", "channel"),
    ("channel", "card_present"),
    ("is_fraud", "is_foreign"),
    ("channel", "is_foreign"),
    ("is_foreign", "country"),
    ("customer_home_country", "country"),
    ("is_fraud", "amount"),
    ("merchant_category", "amount"),
    ("customer_spend_usd", "amount"),
    ("is_fraud", "txn_count_1h"),
)


def truth_graph() -> dict[str, list]:
    """The causal graph the sampler follows, as `{"nodes": [...], "edges": [[parent, child]]}`."""
    return {"nodes": list(TRUTH_NODES), "edges": [list(edge) for edge in TRUTH_EDGES]}


COUNTRIES: tuple[str, ...] = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "CA", "BR", "IN", "MX", "NG")
HOME_COUNTRY_WEIGHTS = np.array([30, 14, 11, 10, 7, 7, 5, 5, 4, 3, 2, 2], dtype=float)

# name: (share of legitimate spend, share of baseline fraud, P(online | legit), amount factor)
CATEGORIES: dict[str, tuple[float, float, float, float]] = {
    "grocery": (0.22, 0.03, 0.08, 1.0),
    "restaurants": (0.15, 0.02, 0.10, 0.8),
    "fuel": (0.10, 0.03, 0.02, 1.1),
    "retail": (0.17, 0.12, 0.35, 1.5),
    "health": (0.05, 0.01, 0.20, 1.2),
    "travel": (0.05, 0.10, 0.70, 6.0),
    "electronics": (0.05, 0.22, 0.55, 4.0),
    "digital_goods": (0.08, 0.25, 0.97, 0.6),
    "gambling": (0.02, 0.10, 0.90, 2.0),
    "jewelry": (0.02, 0.07, 0.40, 5.0),
    "atm_withdrawal": (0.09, 0.05, 0.00, 2.5),
}
CATEGORY_NAMES = np.array(list(CATEGORIES))
ATM_CATEGORY = "atm_withdrawal"


def _hour_weights(peaks: list[tuple[float, float, float]], floor: float) -> np.ndarray:
    """A 24-hour rhythm: a floor plus Gaussian bumps (centre hour, width, height)."""
    hours = np.arange(24)
    weights = np.full(24, floor)
    for centre, width, height in peaks:
        distance = np.minimum(np.abs(hours - centre), 24 - np.abs(hours - centre))
        weights += height * np.exp(-0.5 * (distance / width) ** 2)
    return weights / weights.sum()


@dataclass(frozen=True)
class FraudMechanism:
    """How fraud episodes look: P(each child | is_fraud = 1) in the truth graph."""

    hour_weights: np.ndarray
    category_weights: np.ndarray
    # Extra probability that a fraudulent transaction is card-not-present where it could be.
    online_boost: float
    foreign_prob_online: float
    foreign_prob_in_person: float
    amount_multiplier: float
    amount_sigma: float
    mean_episode_size: float
    mean_minutes_between: float
    # Fraud concentrates on compromised merchants: this many of every 100, picked by this seed.
    compromised_per_100: int
    compromised_seed: int
    compromised_weight: float


@dataclass(frozen=True)
class World:
    """Everything a scenario can change; the sampling code is the same for every scenario."""

    fraud_rate: float
    legit_hour_weights: np.ndarray
    legit_category_weights: np.ndarray
    online_scale: float
    legit_foreign_prob_online: float
    legit_foreign_prob_in_person: float
    amount_scale: float
    fraud: FraudMechanism
    fault_rate: float = 0.0


def _category_weights(column: int, overrides: dict[str, float] | None = None) -> np.ndarray:
    weights = np.array([values[column] for values in CATEGORIES.values()])
    for name, weight in (overrides or {}).items():
        weights[list(CATEGORIES).index(name)] = weight
    return weights / weights.sum()


BASELINE_FRAUD = FraudMechanism(
    hour_weights=_hour_weights([(2.5, 2.5, 1.0), (20.0, 3.0, 0.5)], floor=0.25),
    category_weights=_category_weights(1),
    online_boost=0.55,
    foreign_prob_online=0.55,
    foreign_prob_in_person=0.35,
    amount_multiplier=2.2,
    amount_sigma=0.9,
    mean_episode_size=4.0,
    mean_minutes_between=7.0,
    compromised_per_100=8,
    compromised_seed=1,
    compromised_weight=6.0,
)

BASELINE = World(
    fraud_rate=0.008,
    legit_hour_weights=_hour_weights([(12.5, 2.0, 1.0), (18.5, 2.5, 1.2), (9.0, 1.5, 0.5)], 0.02),
    legit_category_weights=_category_weights(0),
    online_scale=1.0,
    legit_foreign_prob_online=0.10,
    legit_foreign_prob_in_person=0.02,
    amount_scale=1.0,
    fraud=BASELINE_FRAUD,
)

WORLDS: dict[str, World] = {
    "baseline": BASELINE,
    "covariate_shift": replace(
        BASELINE,
        legit_hour_weights=_hour_weights([(14.0, 2.5, 1.0), (21.0, 2.0, 1.3)], 0.04),
        legit_category_weights=_category_weights(
            0, {"digital_goods": 0.16, "travel": 0.09, "electronics": 0.08, "grocery": 0.14}
        ),
        online_scale=1.6,
        legit_foreign_prob_online=0.18,
        legit_foreign_prob_in_person=0.06,
        amount_scale=1.4,
    ),
    "concept_drift": replace(
        BASELINE,
        fraud_rate=0.012,
        fraud=FraudMechanism(
            hour_weights=_hour_weights([(11.0, 2.0, 1.0), (17.0, 2.0, 1.0)], floor=0.05),
            category_weights=_category_weights(
                1,
                {
                    "atm_withdrawal": 0.30,
                    "fuel": 0.15,
                    "grocery": 0.15,
                    "jewelry": 0.12,
                    "electronics": 0.10,
                    "digital_goods": 0.02,
                    "gambling": 0.01,
                    "travel": 0.01,
                },
            ),
            online_boost=-0.9,
            foreign_prob_online=0.05,
            foreign_prob_in_person=0.03,
            amount_multiplier=3.0,
            amount_sigma=0.5,
            mean_episode_size=5.0,
            mean_minutes_between=12.0,
            compromised_per_100=5,
            compromised_seed=2,
            compromised_weight=20.0,
        ),
    ),
    "dirty": replace(BASELINE, fault_rate=0.02),
}


@dataclass(frozen=True)
class Population:
    """Customers and merchants; depends on the seed and the size only, never on the scenario."""

    customer_ids: np.ndarray
    customer_home: np.ndarray  # index into COUNTRIES
    customer_spend_usd: np.ndarray
    customer_activity: np.ndarray  # relative weight of picking the customer for a legit txn
    merchant_ids: np.ndarray
    merchant_category: np.ndarray  # index into CATEGORIES

    @classmethod
    def build(cls, seed: int, rows_per_day: int) -> Population:
        rng = np.random.default_rng([seed, 0, rows_per_day])
        n_customers = int(np.clip(rows_per_day // 2, 500, 2_000_000))
        n_merchants = int(np.clip(n_customers // 20, 110, 200_000))
        home = rng.choice(len(COUNTRIES), n_customers, p=HOME_COUNTRY_WEIGHTS / HOME_COUNTRY_WEIGHTS.sum())
        spend = np.exp(rng.normal(np.log(40.0), 0.6, n_customers))
        activity = rng.gamma(2.0, 1.0, n_customers)
        # Every category gets merchants; the rest are spread by the legitimate spend shares.
        category = np.concatenate(
            [
                np.arange(len(CATEGORIES)),
                rng.choice(len(CATEGORIES), n_merchants - len(CATEGORIES), p=_category_weights(0)),
            ]
        )
        return cls(
            customer_ids=np.arange(1, n_customers + 1, dtype=np.int64) + 100_000,
            customer_home=home,
            customer_spend_usd=spend,
            customer_activity=activity / activity.sum(),
            merchant_ids=np.arange(1, n_merchants + 1, dtype=np.int64) + 500_000,
            merchant_category=category,
        )

    def merchant_weights(self, mechanism: FraudMechanism | None) -> np.ndarray:
        """Relative chance of each merchant within its category: even for legit, skewed for fraud."""
        weights = np.ones(len(self.merchant_ids))
        if mechanism is not None:
            picker = np.random.default_rng([mechanism.compromised_seed, len(self.merchant_ids)])
            compromised = picker.random(len(self.merchant_ids)) < mechanism.compromised_per_100 / 100
            weights[compromised] = mechanism.compromised_weight
        return weights


def _choose_within_groups(
    rng: np.random.Generator, groups: np.ndarray, pool_group: np.ndarray, pool_weights: np.ndarray
) -> np.ndarray:
    """For each element's group, pick an index of the pool from that group by weight."""
    picked = np.empty(len(groups), dtype=np.int64)
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        members = np.flatnonzero(pool_group == group)
        weights = pool_weights[members] / pool_weights[members].sum()
        picked[rows] = members[rng.choice(len(members), len(rows), p=weights)]
    return picked


def _episode_layout(rng: np.random.Generator, n_fraud: int, mean_size: float) -> np.ndarray:
    """Episode number of each fraudulent transaction: card takeovers come in bursts."""
    if n_fraud == 0:
        return np.zeros(0, dtype=np.int64)
    sizes = rng.geometric(1.0 / mean_size, size=n_fraud)  # plenty: the cut below keeps n_fraud
    return np.repeat(np.arange(n_fraud), sizes)[:n_fraud]


def simulate_day(world: World, population: Population, day: date, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """One day of clean transactions, sorted by time, following `TRUTH_EDGES`."""
    n_fraud = int(rng.binomial(rows, world.fraud_rate))
    n_legit = rows - n_fraud
    is_fraud = np.concatenate([np.zeros(n_legit, dtype=np.int64), np.ones(n_fraud, dtype=np.int64)])
    fraud = world.fraud

    # Who pays: legit spending follows activity, fraud picks victims at random, one per episode.
    episode = _episode_layout(rng, n_fraud, fraud.mean_episode_size)
    n_episodes = int(episode.max()) + 1 if n_fraud else 0
    victims = rng.integers(0, len(population.customer_ids), n_episodes)
    customer = np.concatenate(
        [rng.choice(len(population.customer_ids), n_legit, p=population.customer_activity), victims[episode]]
    )

    # hour_of_day <- is_fraud; a fraud episode shares its start, then follows in minutes.
    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    legit_seconds = rng.choice(24, n_legit, p=world.legit_hour_weights) * 3600 + rng.uniform(0, 3600, n_legit)
    episode_start = rng.choice(24, n_episodes, p=fraud.hour_weights) * 3600 + rng.uniform(0, 3600, n_episodes)
    gaps = rng.exponential(fraud.mean_minutes_between * 60, n_fraud)
    first_of_episode = np.r_[True, episode[1:] != episode[:-1]] if n_fraud else np.zeros(0, bool)
    gaps[first_of_episode] = 0.0
    offsets = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first_of_episode], np.bincount(episode))
    fraud_seconds = np.minimum(episode_start[episode] + offsets, 86_399.0)
    seconds = np.concatenate([legit_seconds, fraud_seconds])

    # merchant_category <- is_fraud; merchant_id <- merchant_category, is_fraud
    category = np.concatenate(
        [
            rng.choice(len(CATEGORIES), n_legit, p=world.legit_category_weights),
            rng.choice(len(CATEGORIES), n_fraud, p=fraud.category_weights),
        ]
    )
    merchant = np.concatenate(
        [
            _choose_within_groups(
                rng, category[:n_legit], population.merchant_category, population.merchant_weights(None)
            ),
            _choose_within_groups(
                rng, category[n_legit:], population.merchant_category, population.merchant_weights(fraud)
            ),
        ]
    )

    # channel <- merchant_category, is_fraud
    p_online = np.array([values[2] for values in CATEGORIES.values()])[category] * world.online_scale
    boost = np.where(is_fraud == 1, fraud.online_boost, 0.0)
    p_online = np.where(boost >= 0, p_online + (1 - p_online) * boost, p_online * (1 + boost))
    is_atm = CATEGORY_NAMES[category] == ATM_CATEGORY
    online = ~is_atm & (rng.random(rows) < np.clip(p_online, 0.0, 1.0))
    channel = np.where(is_atm, "atm", np.where(online, "online", "pos"))

    # card_present <- channel (a little noise: manual key entry, tokenised wallets)
    card_present = np.where(online, rng.random(rows) < 0.005, rng.random(rows) < 0.985)

    # is_foreign <- is_fraud, channel; country <- is_foreign, customer_home_country
    foreign_prob = np.where(
        is_fraud == 1,
        np.where(online, fraud.foreign_prob_online, fraud.foreign_prob_in_person),
        np.where(online, world.legit_foreign_prob_online, world.legit_foreign_prob_in_person),
    )
    is_foreign = rng.random(rows) < foreign_prob
    home = population.customer_home[customer]
    # A fraud episode abroad happens in one country; legit trips pick one per transaction.
    shift = np.concatenate(
        [rng.integers(1, len(COUNTRIES), n_legit), rng.integers(1, len(COUNTRIES), n_episodes)[episode]]
    )
    country = np.where(is_foreign, (home + shift) % len(COUNTRIES), home)

    # amount <- customer_spend_usd, merchant_category, is_fraud
    amount_factor = np.array([values[3] for values in CATEGORIES.values()])[category]
    log_amount = np.log(population.customer_spend_usd[customer] * amount_factor * world.amount_scale)
    sigma = np.where(is_fraud == 1, fraud.amount_sigma, 0.7)
    log_amount += np.where(is_fraud == 1, np.log(fraud.amount_multiplier), 0.0) + rng.normal(0, 1, rows) * sigma
    amount = np.round(np.clip(np.exp(log_amount), 0.5, 50_000.0), 2)

    ids = rng.integers(0, np.iinfo(np.int64).max, rows, dtype=np.int64)
    frame = pd.DataFrame(
        {
            "transaction_id": _hex_ids(ids),
            "event_timestamp": pd.Timestamp(day_start) + pd.to_timedelta(np.floor(seconds * 1e6), unit="us"),
            "customer_id": population.customer_ids[customer],
            "merchant_id": population.merchant_ids[merchant],
            "amount": amount,
            "merchant_category": CATEGORY_NAMES[category],
            "channel": channel,
            "card_present": card_present,
            "country": np.array(COUNTRIES)[country],
            "is_fraud": is_fraud,
        }
    )
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[us, UTC]")
    return frame.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def _hex_ids(values: np.ndarray) -> np.ndarray:
    """`t` + 16 hex digits per value, without a Python loop (1M ids in milliseconds)."""
    digits = np.frombuffer(values.astype(">u8").tobytes().hex().encode(), dtype="S16")
    return np.char.add("t", digits.astype("U16"))


@dataclass(frozen=True)
class Fault:
    """A data-quality fault: the column it spoils, the rule that breaks, and the faulty text
    (None where the text depends on the row)."""

    column: str
    rule: str
    text: str | None = None


# The faults of the `dirty` scenario, by kind. The order matters: kinds are drawn by position.
FAULTS: dict[str, Fault] = {
    "missing_transaction_id": Fault("transaction_id", Rule.TRANSACTION_ID_NON_EMPTY, ""),
    "duplicate_transaction_id": Fault("transaction_id", Rule.TRANSACTION_ID_UNIQUE),
    "bad_timestamp": Fault("event_timestamp", Rule.TIMESTAMP_ISO, "31/02/2024 25:61"),
    "missing_customer_id": Fault("customer_id", Rule.CUSTOMER_ID, ""),
    "negative_merchant_id": Fault("merchant_id", Rule.MERCHANT_ID, "-7"),
    "negative_amount": Fault("amount", Rule.AMOUNT_NON_NEGATIVE),
    "amount_too_large": Fault("amount", Rule.AMOUNT_MAX, "2500000.0"),
    "amount_not_a_number": Fault("amount", Rule.AMOUNT_NUMBER, "twelve"),
    "unknown_channel": Fault("channel", Rule.CHANNEL, "telepathy"),
    "bad_card_present": Fault("card_present", Rule.CARD_PRESENT, "maybe"),
    "lower_case_country": Fault("country", Rule.COUNTRY),
    "bad_label": Fault("is_fraud", Rule.IS_FRAUD, "2"),
}


def inject_faults(frame: pd.DataFrame, rate: float, rng: np.random.Generator) -> tuple[pd.DataFrame, Counter]:
    """Turn a share of rows into faulty ones, one fault each; returns the frame as text and counts.

    Row 0 stays clean so that every duplicated id copies a clean row seen earlier in the file.
    """
    text = frame.astype({"customer_id": str, "merchant_id": str, "amount": str, "card_present": str})
    text["event_timestamp"] = frame["event_timestamp"].map(pd.Timestamp.isoformat)
    text["is_fraud"] = frame["is_fraud"].astype("Int64").astype(str).replace("<NA>", "")
    n_faulty = int(round(len(frame) * rate))
    rows = np.sort(rng.choice(np.arange(1, len(frame)), n_faulty, replace=False))
    kinds = np.array(list(FAULTS))[rng.integers(0, len(FAULTS), n_faulty)]
    clean = np.setdiff1d(np.arange(len(frame)), rows)
    for kind, fault in FAULTS.items():
        target = rows[kinds == kind]
        if fault.text is not None:
            text.loc[target, fault.column] = fault.text
        elif kind == "duplicate_transaction_id":
            earlier_clean = clean[np.searchsorted(clean, target) - 1]
            text.loc[target, fault.column] = text[fault.column].to_numpy()[earlier_clean]
        elif kind == "negative_amount":
            text.loc[target, fault.column] = (-frame[fault.column].to_numpy()[target]).astype(str)
        elif kind == "lower_case_country":
            text.loc[target, fault.column] = text.loc[target, fault.column].str.lower()
    return text, Counter(kinds.tolist())


@dataclass
class GenerationResult:
    """What `generate` wrote: files, row and fraud counts, and the faults it injected by kind."""

    files: list[Path] = field(default_factory=list)
    rows: int = 0
    fraud_rows: int = 0
    faults: Counter = field(default_factory=Counter)
    rejected_files: list[Path] = field(default_factory=list)


def _write(frame: pd.DataFrame, path: Path) -> None:
    """Write atomically (a reader never sees half a file), as Parquet or CSV by suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    if path.suffix == ".csv":
        frame.to_csv(partial, index=False)
    else:
        frame.to_parquet(partial, index=False, engine="pyarrow")
    partial.replace(path)


def generate(
    start: date,
    days: int,
    rows_per_day: int,
    out_dir: Path,
    scenario: str = "baseline",
    seed: int = 0,
    file_format: str = "parquet",
    unlabelled_share: float = 0.0,
) -> GenerationResult:
    """Write one landing file per day (`transactions_<scenario>_<day>.<format>`)."""
    if scenario not in WORLDS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(WORLDS)}")
    world = WORLDS[scenario]
    population = Population.build(seed, rows_per_day)
    scenario_code = list(WORLDS).index(scenario)
    result = GenerationResult()
    for offset in range(days):
        day = start + timedelta(days=offset)
        rng = np.random.default_rng([seed, scenario_code, day.toordinal()])
        frame = simulate_day(world, population, day, rows_per_day, rng)
        result.rows += len(frame)
        result.fraud_rows += int(frame["is_fraud"].sum())
        if unlabelled_share > 0:
            frame["is_fraud"] = frame["is_fraud"].astype("Int64").mask(rng.random(len(frame)) < unlabelled_share)
        if world.fault_rate > 0:
            frame, faults = inject_faults(frame, world.fault_rate, rng)
            result.faults.update(faults)
        path = out_dir / f"transactions_{scenario}_{day.isoformat()}.{file_format}"
        _write(frame, path)
        result.files.append(path)
    if scenario == "dirty" and days > 0:
        result.rejected_files = _write_unreadable_files(world, population, start, seed, out_dir)
    return result


def _write_unreadable_files(world: World, population: Population, day: date, seed: int, out_dir: Path) -> list[Path]:
    """A Parquet file cut in half (as a crashed upload leaves it) and a CSV without `amount`."""
    rng = np.random.default_rng([seed, 99, day.toordinal()])
    frame = simulate_day(world, population, day, 200, rng)
    truncated = out_dir / f"transactions_dirty_{day.isoformat()}_truncated.parquet"
    _write(frame, truncated)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    missing = out_dir / f"transactions_dirty_{day.isoformat()}_no_amount.csv"
    _write(frame.drop(columns=["amount"]), missing)
    return [truncated, missing]


def truth_json() -> str:
    return json.dumps(truth_graph(), indent=2)
