"""Benchmark: how fresh a merchant's delayed fraud rates must be, on the Fraud Detection Handbook's
data and protocol (train 2018-07-25..07-31, test 08-08..08-14, a 7-day label delay, the known
compromised cards left out).

Every input is the project's own (`lib/features.py` with the default feature spec and a 7-day
label delay), trained by the project's XGBoost with its default configuration. Customer features
and merchant volumes are those of each entity's previous transaction, as the point-in-time join
gives them. Only the anchor of the merchant risk windows changes, row by row: labels of the
merchant's transactions in `(a - delay - w, a - delay]` where `a` is

- the merchant's previous transaction (what the feature views hold today),
- the start of the transaction's day (an online store refreshed once a day),
- the start of the transaction's hour (refreshed each hour),
- the transaction itself (the handbook's computation).

Run with `uv run python bench/label_freshness.py` (reads `../shared/handbook/`, or `--data DIR`);
about two minutes here. Prints a Markdown table for docs/performance.md.
"""

import argparse
from pathlib import Path

import pandas as pd

from mlops_assets.defs.training.assets import XGBoostConfig
from mlops_assets.lib.featurize.feature_spec import FeatureSpec
from mlops_assets.lib.featurize.features import (
    customer_feature_kinds,
    customer_features,
    merchant_feature_kinds,
    merchant_features,
    model_input,
    model_inputs,
)
from mlops_assets.lib.modelling.models import XGBoostModel
from mlops_assets.lib.quality.metrics import evaluate_new_cards, known_compromised

REPO = Path(__file__).resolve().parent.parent
HISTORY = ("2018-06-01", "2018-08-15")  # 30 days of risk window and the 7-day delay before training
TRAIN = ("2018-07-25", "2018-08-01")
TEST = ("2018-08-08", "2018-08-15")
SPEC = FeatureSpec(label_delay="7d")
COLUMNS = {
    "TRANSACTION_ID": "transaction_id",
    "TX_DATETIME": "event_timestamp",
    "CUSTOMER_ID": "customer_id",
    "TERMINAL_ID": "merchant_id",
    "TX_AMOUNT": "amount",
    "TX_FRAUD": "is_fraud",
}


def transactions(data: Path) -> pd.DataFrame:
    months = [pd.read_parquet(path, columns=list(COLUMNS)) for path in sorted(data.glob("*.parquet"))]
    rows = pd.concat(months).rename(columns=COLUMNS)
    rows["event_timestamp"] = pd.to_datetime(rows["event_timestamp"]).dt.tz_localize("UTC")
    rows = rows[rows["event_timestamp"].between(*HISTORY, inclusive="left")]
    return rows.sort_values(["event_timestamp", "transaction_id"], kind="stable").reset_index(drop=True)


def previous_rows(features: pd.DataFrame, key: str) -> pd.DataFrame:
    """Each row's entity features as of the entity's previous transaction (missing for its first)."""
    return features.groupby(key, sort=False).shift(1)


def risk_columns(spec: FeatureSpec) -> list[str]:
    return [name for name in merchant_feature_kinds(spec) if name.startswith(("merchant_labelled", "merchant_fraud"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "handbook")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no handbook data at {args.data}: pass --data DIR (its monthly Parquet files)")
    rows = transactions(args.data)
    customers = previous_rows(customer_features(rows, rows, SPEC), "customer_id")
    merchants = previous_rows(merchant_features(rows, rows, SPEC), "merchant_id")
    risk = risk_columns(SPEC)
    at = rows["event_timestamp"]
    anchors = {
        "the merchant's previous transaction (today)": None,
        "the start of the transaction's day": at.dt.floor("D"),
        "the start of the transaction's hour": at.dt.floor("h"),
        "the transaction (the handbook's)": at,
    }
    labelled = rows.rename(columns={"is_fraud": "label"})
    split = lambda window: rows["event_timestamp"].between(*window, inclusive="left").to_numpy()  # noqa: E731
    train, test = split(TRAIN), split(TEST)
    # As `model_evaluation` does: the cards seen with a fraud from the training window on are known.
    since_training = labelled[rows["event_timestamp"] >= TRAIN[0]]
    known = known_compromised(labelled[test], since_training, pd.Timedelta(SPEC.label_delay_length))
    config = XGBoostConfig()
    print("| merchant risk windows anchored at | AUC ROC | AP | CP@100 |\n| --- | ---: | ---: | ---: |")
    for name, anchor in anchors.items():
        if anchor is None:
            risk_values = merchants[risk]
        else:
            risk_values = merchant_features(rows, rows.assign(event_timestamp=anchor), SPEC)[risk]
        features = pd.concat(
            [customers[list(customer_feature_kinds(SPEC))], merchants.drop(columns=risk), risk_values], axis=1
        )
        inputs = model_input(rows, features, SPEC)
        columns = model_inputs(SPEC)
        model = XGBoostModel.fit(
            inputs[train], rows.loc[train, "is_fraud"], columns=columns, rounds=config.rounds,
            max_depth=config.max_depth, learning_rate=config.learning_rate, subsample=config.subsample,
            seed=config.seed, monotone_increasing=tuple(config.monotone_increasing),
        )  # fmt: skip
        scored = labelled[test].assign(score=model.predict_proba(inputs[test]))
        metrics = evaluate_new_cards(scored, known, top_k=100)
        print(
            f"| {name} | {metrics['roc_auc_new_cards']:.3f} | {metrics['pr_auc_new_cards']:.3f} "
            f"| {metrics['card_precision_at_k_new_cards']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
