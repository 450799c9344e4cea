"""Benchmark: the champion's ONNX file run by onnxruntime against the native predict (XGBoost's
`inplace_predict`, scikit-learn's `predict_proba`), on one row and on 10,000 rows. (Not named
`onnx.py`: a script's folder comes first on `sys.path`, and it would hide the `onnx` package.)

Run with `uv run python bench/portable.py` (about 2 minutes; `make bench` runs it too). It builds a
state of its own in a temporary folder (ten generated days, their features and a first
`retrain_job`, as `bench/serving.py` does), takes the run's XGBoost and baseline versions and
their holdout rows, exports each with `lib/modelling/portable.py` (checked to 1e-5 first), and
times both ways on the same numpy rows (XGBoost's `inplace_predict`, the pipeline's
`predict_proba`; onnxruntime on them as float32): the median of `--calls` calls of one row, and of 50 calls of
10,000 rows (the holdout repeated).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.serving import build_state  # noqa: E402
from mlops_assets.lib.modelling.portable import INPUT, OUTPUT, export_onnx  # noqa: E402
from mlops_assets.lib.modelling.registry import MODEL_NAME, Registry  # noqa: E402


def median_seconds(call, times: int) -> float:
    timings = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def measure(model, holdout: pd.DataFrame, calls: int) -> dict[tuple[str, int], float]:
    """Median seconds per call of each way on one row and on 10,000 rows."""
    import onnxruntime

    export = export_onnx(model, holdout)
    session = onnxruntime.InferenceSession(export.content, providers=["CPUExecutionProvider"])
    many = pd.concat([holdout] * (10_000 // len(holdout) + 1), ignore_index=True).head(10_000)
    found = {}
    # Both from the same numpy rows: the models' own `predict_proba` also picks their columns out
    # of a DataFrame, which is not the predict being compared.
    native = model.booster.inplace_predict if model.kind == "xgboost" else model.pipeline.predict_proba
    for rows, frame, times in ((1, holdout.head(1), calls), (10_000, many, 50)):
        values = frame[list(model.inputs)].to_numpy(np.float64)
        single = values.astype(np.float32)
        found[("native", rows)] = median_seconds(lambda values=values: native(values), times)
        found[("onnxruntime", rows)] = median_seconds(
            lambda single=single: session.run([OUTPUT], {INPUT: single}), times
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls of one row, per way")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as folder:
        settings = build_state(Path(folder) / "mlops")
        registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
        versions = {v.tags["kind"]: v.version for v in registry.versions()}
        _, holdout = registry.load_with_reference(versions["xgboost"])
        results = {
            kind: measure(registry.load(versions[kind]), holdout, args.calls) for kind in ("xgboost", "baseline")
        }
    print("| model | 1 row: native µs | 1 row: onnxruntime µs | speed-up | 10,000 rows: native ms "
          "| 10,000 rows: onnxruntime ms | speed-up |\n|---|---:|---:|---:|---:|---:|---:|")  # fmt: skip
    for kind, found in results.items():
        one, many = (found[("native", n)] / found[("onnxruntime", n)] for n in (1, 10_000))
        print(
            f"| {kind} | {found[('native', 1)] * 1e6:,.0f} | {found[('onnxruntime', 1)] * 1e6:,.0f} | {one:.1f}x "
            f"| {found[('native', 10_000)] * 1e3:,.1f} | {found[('onnxruntime', 10_000)] * 1e3:,.1f} | {many:.1f}x |"
        )


if __name__ == "__main__":
    main()
