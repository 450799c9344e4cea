"""Benchmark: the computations of one day's `drift_report`, and its Evidently HTML, as the day grows.

Run with `uv run python bench/drift_report.py` (about 3 minutes; `--rows 3000 1000000` are the
sizes). The champion (XGBoost) and its companion Bayesian network are trained on generated
`baseline` inputs, which are also the 20,000-row reference; each day's window is drawn from other
generated days. Each step is the call `drift_report` or `drift_report_html` makes, timed in this
process after a first warm-up call, so first imports are not counted (docs/performance.md says what they
cost a fresh run process). The baseline of each row is the same step at the smallest size.
"""

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mlops_assets.defs.training.assets import BayesianNetworkConfig, XGBoostConfig  # noqa: E402
from mlops_assets.defs.training.training_set import input_columns  # noqa: E402
from mlops_assets.lib.featurize import features  # noqa: E402
from mlops_assets.lib.modelling.models import BayesianNetworkModel, XGBoostModel  # noqa: E402
from mlops_assets.lib.quality.drift import DriftPolicy, drift_html, input_drift, network_drift, psi  # noqa: E402
from mlops_assets.lib.quality.metrics import pr_auc_upper_bound, recall_at_fpr  # noqa: E402
from tests.lib.frames import labelled_inputs, transactions  # noqa: E402

REFERENCE_ROWS = 20_000


def timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def steps(champion, network, reference: pd.DataFrame, window: pd.DataFrame, html: str) -> dict[str, Callable]:
    """The calls of `drift_report` (then `drift_report_html`) on one window, in their order."""
    policy = DriftPolicy()
    monitored = features.drift_monitored(champion.inputs)
    labels = window["is_fraud"].astype("int64").to_numpy()
    scores = champion.predict_proba(window)
    return {
        "input drift (monitored inputs)": lambda: input_drift(reference[monitored], window[monitored], policy),
        "champion scores, window and reference": lambda: psi(
            champion.predict_proba(reference), champion.predict_proba(window)
        ),
        "PR AUC, its 90% upper bound, recall": lambda: (
            pr_auc_upper_bound(labels, scores),
            recall_at_fpr(labels, scores, 0.01),
        ),
        "network CPTs refitted and compared": lambda: network_drift(
            network.network, network.discretizer.transform(window.reset_index(drop=True), window["is_fraud"])
        ),
        "Evidently HTML (drift_report_html)": lambda: drift_html(reference[monitored], window[monitored], policy, html),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[3_000, 1_000_000], help="rows of the day's window")
    args = parser.parse_args()
    reference = labelled_inputs(transactions(8, REFERENCE_ROWS // 8 + 500, seed=3)).sample(
        REFERENCE_ROWS, random_state=0, ignore_index=True
    )
    labels = reference["is_fraud"]
    columns = tuple(input_columns(reference))
    champion = XGBoostModel.fit(reference, labels, columns=columns, **XGBoostConfig().model_dump())
    bayes = BayesianNetworkConfig().model_dump(exclude={"truth_graph"})
    with warnings.catch_warnings():  # pgmpy's own deprecation notices
        warnings.simplefilter("ignore", FutureWarning)
        network = BayesianNetworkModel.fit(reference, labels, columns=columns, **bayes)
    # Other days of the same world; a large window repeats their rows (the cost depends on the
    # number of rows, not on their being distinct).
    pool = labelled_inputs(transactions(4, 5_000, seed=9, start=pd.Timestamp("2025-02-01").date()))
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as scratch:
        html = str(Path(scratch) / "report.html")
        warm = pool.sample(min(len(pool), 2_000), random_state=1, ignore_index=True)
        for step in steps(champion, network, reference, warm, html).values():
            step()  # first imports and caches, not counted
        seconds: dict[int, dict[str, float]] = {}
        for rows in args.rows:
            window = pool.iloc[rng.integers(0, len(pool), rows)].reset_index(drop=True)
            calls = steps(champion, network, reference, window, html)
            seconds[rows] = {name: timed(step) for name, step in calls.items()}
    smallest, sizes = min(args.rows), sorted(args.rows)
    print(f"One day's drift report against the {REFERENCE_ROWS:,}-row reference, seconds in process:\n")
    print("| step | " + " | ".join(f"{rows:,} rows" for rows in sizes) + f" | growth ({smallest:,} → {sizes[-1]:,}) |")
    print("|---|" + "---:|" * (len(sizes) + 1))
    for name in seconds[smallest]:
        cells = " | ".join(f"{seconds[rows][name]:.2f}" for rows in sizes)
        print(f"| {name} | {cells} | {seconds[sizes[-1]][name] / max(seconds[smallest][name], 1e-6):.0f}x |")
    totals = {rows: sum(seconds[rows].values()) for rows in sizes}
    verdict = {rows: totals[rows] - seconds[rows]["Evidently HTML (drift_report_html)"] for rows in sizes}
    print("| **the verdict (drift_report)** | " + " | ".join(f"**{verdict[rows]:.2f}**" for rows in sizes) + " | |")
    print("| **with the HTML** | " + " | ".join(f"**{totals[rows]:.2f}**" for rows in sizes) + " | |")


if __name__ == "__main__":
    main()
