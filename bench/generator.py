"""Benchmark: generator and validation throughput, and the fraud score the `baseline` world allows.

Run with `make bench` (or `uv run python bench/generator.py`). Prints Markdown tables for
docs/performance.md. Every figure is measured in this run, next to its baseline:
- throughput: generating and ingesting 1,000,000 rows, against plainly reading the same file;
- score: XGBoost and logistic regression on a time-based holdout, on the raw contract columns and
  with simple per-customer history features (past-only, no leakage).
"""

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops_assets.lib.data.landing import LandingIndex
from mlops_assets.lib.data.validation import validate_day
from mlops_assets.synth import generator


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def throughput(rows: int, folder: Path) -> list[tuple[str, float, float]]:
    """(step, seconds, rows per second) for one day of `rows` rows."""
    day = date(2025, 1, 1)
    generated, generate_s = timed(generator.generate, day, 1, rows, folder / "landing", seed=1)
    _, read_s = timed(pd.read_parquet, generated.files[0])
    index = LandingIndex(folder / "landing", "2020-01-01")
    _, index_s = timed(index.index_new_files)
    raw, read_day_s = timed(index.read_day, day.isoformat())
    duplicates = index.duplicate_rows(list(raw["source_file"].unique()))
    result, validate_s = timed(validate_day, raw, day.isoformat(), duplicates)
    assert result.rows_read == rows
    steps = [
        ("baseline: pandas.read_parquet of the file", read_s),
        ("generate (simulate + write Parquet)", generate_s),
        ("index (read as text, place rows by day, find duplicate ids)", index_s),
        ("raw partition (read the day's rows as text)", read_day_s),
        ("validate (parse + pandera schema + reasons)", validate_s),
    ]
    return [(name, seconds, rows / seconds) for name, seconds in steps]


def history_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-customer features from the past only: bursts, new countries, amount against habit."""
    frame = frame.sort_values("event_timestamp", kind="stable").reset_index(drop=True)
    by_customer = frame.groupby("customer_id", sort=False)
    indexed = frame.set_index("event_timestamp")
    counts = indexed.groupby("customer_id")["amount"].rolling("1h", closed="left").count()
    frame["txn_count_1h"] = counts.reset_index(level=0, drop=True).sort_index(kind="stable").to_numpy()
    frame["txn_count_1h"] = frame["txn_count_1h"].fillna(0)
    frame["is_new_country"] = (frame.groupby(["customer_id", "country"]).cumcount() == 0).astype(int)
    previous_total = by_customer["amount"].cumsum() - frame["amount"]
    previous_count = by_customer.cumcount()
    frame["amount_vs_habit"] = frame["amount"] / (previous_total / previous_count.replace(0, np.nan))
    return frame


def model_inputs(frame: pd.DataFrame, with_history: bool) -> pd.DataFrame:
    inputs = pd.DataFrame(
        {
            "amount": frame["amount"],
            "hour": frame["event_timestamp"].dt.hour,
            "is_online": (frame["channel"] == "online").astype(int),
            "is_atm": (frame["channel"] == "atm").astype(int),
            "card_present": frame["card_present"].astype(int),
        }
    )
    for category in generator.CATEGORY_NAMES:
        inputs[f"category_{category}"] = (frame["merchant_category"] == category).astype(int)
    if with_history:
        inputs[["txn_count_1h", "is_new_country", "amount_vs_habit"]] = frame[
            ["txn_count_1h", "is_new_country", "amount_vs_habit"]
        ]
    return inputs


def scores(days: int, rows: int, folder: Path) -> list[tuple[str, str, float, float]]:
    """(model, inputs, ROC AUC, PR AUC) on the last quarter of the days, trained on the rest."""
    start = date(2025, 1, 1)
    result = generator.generate(start, days, rows, folder / "score", seed=7)
    frame = history_features(pd.concat(pd.read_parquet(path) for path in result.files))
    cut = pd.Timestamp(start, tz="UTC") + pd.Timedelta(days=days - days // 4)
    train, test = frame["event_timestamp"] < cut, frame["event_timestamp"] >= cut
    label = frame["is_fraud"]
    rows_out = []
    for with_history in (False, True):
        inputs = model_inputs(frame, with_history)
        models = {
            "logistic regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
            "XGBoost (200 trees, depth 5)": xgb.XGBClassifier(
                n_estimators=200, max_depth=5, learning_rate=0.1, random_state=0, n_jobs=2
            ),
        }
        for name, model in models.items():
            model.fit(inputs[train].fillna(0), label[train])
            predicted = model.predict_proba(inputs[test].fillna(0))[:, 1]
            described = "contract columns + customer history" if with_history else "contract columns only"
            roc_auc = roc_auc_score(label[test], predicted)
            rows_out.append((name, described, roc_auc, average_precision_score(label[test], predicted)))
    return rows_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for the throughput run")
    parser.add_argument("--score-days", type=int, default=28)
    parser.add_argument("--score-rows-per-day", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        print(f"Throughput, one day of {args.rows:,} rows\n")
        print("| step | seconds | rows/s | time vs. plain read |\n|---|---:|---:|---:|")
        measured = throughput(args.rows, folder)
        plain = measured[0][1]
        for name, seconds, per_second in measured:
            print(f"| {name} | {seconds:.2f} | {per_second:,.0f} | {seconds / plain:.1f}x |")
        print(
            f"\nScore on `baseline`: {args.score_days} days x {args.score_rows_per_day:,} rows, "
            f"holdout = last {args.score_days // 4} days\n"
        )
        print("| model | inputs | ROC AUC | PR AUC |\n|---|---|---:|---:|")
        for name, inputs, roc, pr in scores(args.score_days, args.score_rows_per_day, folder):
            print(f"| {name} | {inputs} | {roc:.3f} | {pr:.3f} |")


if __name__ == "__main__":
    main()
