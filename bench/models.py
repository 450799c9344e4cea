"""Benchmark: the three models on generated `baseline` data (time-based holdout, the asset
defaults), and the learned Bayesian network's compiled scoring against pgmpy's
VariableElimination on the same network and rows.

Run with `uv run python bench/models.py` (about a minute). pgmpy answers one row per query, so it
runs on fewer rows; both are reported in rows per second, with the answers checked to agree to 1e-9.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mlops_assets.defs.evaluation.assets import EvaluationConfig  # noqa: E402
from mlops_assets.defs.training.assets import BaselineConfig, BayesianNetworkConfig, XGBoostConfig  # noqa: E402
from mlops_assets.defs.training.training_set import input_columns  # noqa: E402
from mlops_assets.lib.modelling.discretize import TARGET  # noqa: E402
from mlops_assets.lib.modelling.models import BaselineModel, BayesianNetworkModel, XGBoostModel  # noqa: E402
from mlops_assets.lib.quality.metrics import Costs, evaluate  # noqa: E402
from tests.lib.frames import labelled_inputs, transactions  # noqa: E402


def train_all(train: pd.DataFrame) -> dict[str, tuple[object, float]]:
    """Each model with the asset's default config, and its fit time in seconds."""
    labels = train["is_fraud"]
    columns = tuple(input_columns(train))
    bayes = BayesianNetworkConfig().model_dump(exclude={"truth_graph"})
    fits = {
        "XGBoost": lambda: XGBoostModel.fit(train, labels, columns=columns, **XGBoostConfig().model_dump()),
        "logistic regression (baseline)": lambda: BaselineModel.fit(
            train, labels, columns=columns, **BaselineConfig().model_dump()
        ),
        "Bayesian network": lambda: BayesianNetworkModel.fit(train, labels, columns=columns, **bayes),
    }
    models = {}
    for name, fit in fits.items():
        started = time.perf_counter()
        models[name] = (fit(), time.perf_counter() - started)
    return models


def scoring_speed(model: BayesianNetworkModel, holdout: pd.DataFrame, rows: int, pgmpy_rows: int) -> None:
    with warnings.catch_warnings():  # pgmpy warns of its own internal deprecations on import
        warnings.simplefilter("ignore", FutureWarning)
        from pgmpy.inference import VariableElimination

    network = model.network
    evidence = model.evidence(holdout)
    rng = np.random.default_rng(0)
    inference = VariableElimination(network.to_pgmpy())
    print("| evidence | pgmpy VariableElimination rows/s | compiled rows/s | speed-up |\n|---|---:|---:|---:|")
    for label, missing in (("complete (every input known)", 0.0), ("10% of values missing", 0.1)):
        picked = rng.integers(0, len(holdout), rows)
        codes = {node: np.where(rng.random(rows) < missing, -1, column[picked]) for node, column in evidence.items()}
        small = {node: column[:pgmpy_rows] for node, column in codes.items()}
        started = time.perf_counter()
        exact = np.array(
            [
                inference.query(
                    [TARGET],
                    evidence={
                        node: network.state_names[node][small[node][row]] for node in small if small[node][row] >= 0
                    },
                    show_progress=False,
                ).values
                for row in range(pgmpy_rows)
            ]
        )
        pgmpy_rate = pgmpy_rows / (time.perf_counter() - started)
        np.testing.assert_allclose(network.posterior(small), exact, rtol=0, atol=1e-9)
        started = time.perf_counter()
        network.posterior(codes)
        compiled_rate = rows / (time.perf_counter() - started)
        print(f"| {label} | {pgmpy_rate:,.0f} | {compiled_rate:,.0f} | {compiled_rate / pgmpy_rate:,.0f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--rows-per-day", type=int, default=10_000)
    parser.add_argument("--holdout-days", type=int, default=7)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows scored by the compiled network")
    parser.add_argument("--pgmpy-rows", type=int, default=2_000)
    args = parser.parse_args()
    frame = labelled_inputs(transactions(args.days, args.rows_per_day, seed=7))
    cut = frame["event_timestamp"].min().floor("D") + pd.Timedelta(days=args.days - args.holdout_days)
    train = frame[frame["event_timestamp"] < cut].reset_index(drop=True)
    holdout = frame[frame["event_timestamp"] >= cut].reset_index(drop=True)
    print(
        f"`baseline`, {args.days} days x {args.rows_per_day:,} rows: trained on {len(train):,}, "
        f"held out the last {args.holdout_days} days ({len(holdout):,} rows, {holdout['is_fraud'].mean():.2%} fraud)\n"
    )
    config = EvaluationConfig()
    costs = Costs(config.missed_fraud_cost, config.false_alarm_cost)
    print(
        f"| model | fit s | ROC AUC | PR AUC | recall @{config.max_fpr:.0%} FPR | card precision@{config.top_k}/day "
        "| Brier | calibration error | cost per 1,000 txns (USD) | threshold |"
    )
    print("|---" + "|---:" * 9 + "|")
    models = train_all(train)
    for name, (model, seconds) in models.items():
        scored = holdout[["event_timestamp", "customer_id"]].assign(
            label=holdout["is_fraud"], score=model.predict_proba(holdout)
        )
        m = evaluate(scored, max_fpr=config.max_fpr, top_k=config.top_k, costs=costs)
        print(
            f"| {name} | {seconds:.1f} | {m['roc_auc']:.3f} | {m['pr_auc']:.3f} | {m['recall_at_fpr']:.3f} | "
            f"{m['card_precision_at_k']:.3f} | {m['brier']:.4f} | {m['calibration_error']:.4f} | "
            f"{m['expected_cost_per_1000']:.0f} | {m['threshold']:.4f} |"
        )
    print("\nThe learned Bayesian network's posterior of fraud, compiled against pgmpy, on holdout rows:\n")
    scoring_speed(models["Bayesian network"][0], holdout, args.rows, args.pgmpy_rows)


if __name__ == "__main__":
    main()
