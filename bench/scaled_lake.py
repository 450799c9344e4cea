"""A home for the scale benchmarks (`bench/ceiling.py`, `bench/spark_engine.py`): one generated
day of N transactions in its landing folder, and in its lake that day validated with the days
before it that the feature spec reaches (`history_days`, 33 with the default windows), each with
its customer and merchant feature tables, and a Feast registry over them.

The history is the generated day repeated, shifted a day at a time (transaction ids made
unique): time and memory follow how many rows there are, not which values they hold, and
generating 340 million transactions would take longer than everything measured on them. Values
are not compared here; `tests/spark` compares them.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from mlops_assets.keys import CUSTOMER_FEATURES, MERCHANT_FEATURES, VALIDATED_TRANSACTIONS
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.featurize import features
from mlops_assets.synth import generator

DAY = date(2025, 2, 10)  # the day measured
SEED = 3


def spec():
    """The feature spec of the environment (`MLOPS_*_WINDOWS`, ...), as the assets read it."""
    from mlops_assets.settings import Settings

    return Settings.from_env().features


def history_days() -> list[str]:
    """The days before `DAY` that its features read, oldest first."""
    count = spec().history_days
    return [(DAY - timedelta(days=count - offset)).isoformat() for offset in range(count)]


def shifted(frame: pd.DataFrame, days: int, suffix: str | None = None) -> pd.DataFrame:
    """`frame` `days` earlier (every timestamp column), its transaction ids with `suffix`."""
    moved = frame.copy()
    for name in moved.columns:
        if pd.api.types.is_datetime64_any_dtype(moved[name]):
            moved[name] = (moved[name] - pd.Timedelta(days=days)).astype(moved[name].dtype)  # keep µs
    if suffix is not None and "transaction_id" in moved:
        moved["transaction_id"] = moved["transaction_id"] + suffix
    return moved


def build(home: Path, rows: int) -> Path:
    """Builds (once: an existing home is reused) the home of `rows` transactions a day; returns it."""
    done = home / ".built"
    if done.exists():
        return home
    from mlops_assets.lib.data.landing import LandingIndex

    landing = home / "landing"
    [generated] = generator.generate(DAY, 1, rows, landing, seed=SEED).files
    LandingIndex(str(landing), "2020-01-01").index_new_files()
    # The generated day as validation passes it on (validating 10 M rows of text would not fit:
    # bench/ceiling.py measures that step on its own).
    validated = pd.read_parquet(generated).astype({"is_fraud": "Int64", "event_timestamp": features.MICROS})
    lake = Lake(str(home / "lake"))
    history = validated[[name for name in features.HISTORY_COLUMNS if name in validated]]
    customer = features.customer_features(history, history, spec())
    merchant = features.merchant_features(history, history, spec())
    del history
    lake.write(CUSTOMER_FEATURES, customer, DAY.isoformat())
    lake.write(MERCHANT_FEATURES, merchant, DAY.isoformat())
    lake.write(VALIDATED_TRANSACTIONS, validated, DAY.isoformat())
    for day in history_days():
        back = (DAY - date.fromisoformat(day)).days
        lake.write(VALIDATED_TRANSACTIONS, shifted(validated, back, f"-{back}"), day)
        lake.write(CUSTOMER_FEATURES, shifted(customer, back), day)
        lake.write(MERCHANT_FEATURES, shifted(merchant, back), day)
    del validated, customer, merchant
    feast_store(home).apply(_definitions(home))
    done.touch()
    return home


def use_home(home: Path) -> None:
    """Points this process's settings (and Feast's module-level sources) at `home`."""
    os.environ["MLOPS_HOME"] = str(home)
    for variable in ("MLOPS_LAKE_DIR", "MLOPS_FEAST_DIR", "MLOPS_ENV"):
        os.environ.pop(variable, None)


def _definitions(home: Path) -> list:
    from mlops_assets.feature_store import definitions

    use_home(home)
    return definitions()


def feast_store(home: Path):
    """The Feast store of `home` (its registry under `feast/`)."""
    from mlops_assets.feature_store import open_store
    from mlops_assets.settings import Settings

    use_home(home)
    return open_store(Settings.from_env())
