"""Benchmark: the Fraud Detection Handbook's protocol run through the project's own commands, on
its own data, beside the results it publishes.

The handbook (Le Borgne et al., "Reproducible Machine Learning for Credit Card Fraud Detection",
chapter 3, BaselineModeling) trains on 2018-07-25..07-31, leaves a 7-day delay, tests on
2018-08-08..08-14, removes the cards known to be compromised by then from the test set, and
averages card precision@100 per test day (dropping the cards found on earlier days). Its chapter 5
tests tuned models on four weekly folds, 2018-08-08..09-04. Here, in a fresh MLOPS_HOME:

    mlops import <data> --map ... --label-delay 7d --start 2018-06-01 --end 2018-09-04
    mlops backfill --end-day 2018-08-14 --days 21 --holdout-days 7 --gap-days 7
    mlops retrain  --end-day <each later fold's last day> --days 21 --holdout-days 7 --gap-days 7

and each model's `*_new_cards` metrics are read from `model_evaluation` (scored as the handbook
scores: known compromised cards left out). The training window of 21 days holds 7 training days
(07-25..07-31), the 7-day gap, and the 7 test days.

Run with `uv run python bench/handbook.py` (reads `../shared/handbook/`, or `--data DIR`); about
10 minutes here. Prints Markdown tables for docs/performance.md.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MLOPS = str(Path(sys.executable).with_name("mlops"))
MAPPING = (
    "transaction_id=TRANSACTION_ID,event_timestamp=TX_DATETIME,customer_id=CUSTOMER_ID,"
    "merchant_id=TERMINAL_ID,amount=TX_AMOUNT,is_fraud=TX_FRAUD"
)
WINDOW = ["--days", "21", "--holdout-days", "7", "--gap-days", "7"]
FOLD_ENDS = ["2018-08-14", "2018-08-21", "2018-08-28", "2018-09-04"]
# The handbook's published test results, chapter 3 (AUC ROC, average precision, card precision@100).
PUBLISHED = {
    "handbook logistic regression": (0.871, 0.606, 0.291),
    "handbook random forest": (0.867, 0.658, 0.287),
    "handbook XGBoost": (0.862, 0.639, 0.273),
}
# Chapter 5, XGBoost with tuned parameters, mean of the four weekly test folds.
PUBLISHED_FOLDS = {"handbook XGBoost, tuned (chapter 5)": (0.869, 0.687, 0.303)}
NAMES = {
    "xgboost": "ours, XGBoost",
    "baseline": "ours, logistic regression",
    "bayesian_network": "ours, Bayesian network",
}
METRICS = ("roc_auc_new_cards", "pr_auc_new_cards", "card_precision_at_k_new_cards")


def run(home: Path, *args: str) -> tuple[str, float]:
    """One `mlops` command in the benchmark's home; its output and wall time. A failure stops all."""
    started = time.perf_counter()
    done = subprocess.run(
        [MLOPS, *args], cwd=REPO, env={**os.environ, "MLOPS_HOME": str(home)}, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mlops {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout, seconds


def evaluation(home: Path) -> dict:
    return json.loads((home / "lake" / "model_evaluation.json").read_text())


def table(rows: dict[str, tuple[float, float, float]]) -> str:
    lines = ["| model | AUC ROC | AP | CP@100 |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {name} | {auc:.3f} | {ap:.3f} | {cp:.3f} |" for name, (auc, ap, cp) in rows.items()]
    return "\n".join(lines)


def ours(record: dict) -> dict[str, tuple[float, float, float]]:
    return {
        NAMES[kind]: tuple(candidate["metrics"][name] for name in METRICS)
        for kind, candidate in record["candidates"].items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "handbook")
    parser.add_argument("--no-folds", action="store_true", help="the chapter 3 test week only")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no handbook data at {args.data}: pass --data DIR (its monthly Parquet files)")
    with tempfile.TemporaryDirectory(prefix="handbook-") as folder:
        home = Path(folder) / "mlops"
        steps = {}
        _, steps["mlops import (96 days)"] = run(
            home, "import", str(args.data), "--map", MAPPING, "--label-delay", "7d",
            "--start", "2018-06-01", "--end", FOLD_ENDS[-1] if not args.no_folds else FOLD_ENDS[0],
        )  # fmt: skip
        output, steps["mlops backfill (ingest, features, first champion)"] = run(
            home, "backfill", "--end-day", FOLD_ENDS[0], *WINDOW
        )
        for label, pattern in (("ingestion", r"ingestion: ([\d.]+) s"), ("features", r"training set: ([\d.]+) s")):
            found = re.search(pattern, output)
            if found:
                steps[f"    of which {label}"] = float(found.group(1))
        first = evaluation(home)
        folds = [first]
        if not args.no_folds:
            for end in FOLD_ENDS[1:]:
                _, steps[f"mlops retrain (fold ending {end})"] = run(home, "retrain", "--end-day", end, *WINDOW)
                folds.append(evaluation(home))

    print(f"Test week {first['holdout_window']} (the handbook's chapter 3 protocol):\n")
    print(table({**PUBLISHED, **ours(first)}))
    print("\nThe default gates on that week's holdout (all cards):\n")
    for kind, candidate in first["candidates"].items():
        verdict = "; ".join(candidate["failures"].values()) or "passed"
        print(f"- {NAMES[kind]}: {verdict}")
    if len(folds) > 1:
        print(f"\nFour weekly folds {folds[0]['holdout_window'][:10]}..{folds[-1]['holdout_window'][-10:]}, means:\n")
        mean = {
            name: tuple(sum(ours(fold)[name][i] for fold in folds) / len(folds) for i in range(3))
            for name in NAMES.values()
        }
        print(table({**PUBLISHED_FOLDS, **mean}))
    print("\n| step | seconds |\n| --- | ---: |")
    for step, seconds in steps.items():
        print(f"| {step} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
