"""Benchmark: the ceiling of the default (pandas) path. A day grows (100 k, 1 M, 3 M, 10 M
transactions by default), each with the 33 days of history the feature windows read
(`bench/scaled_lake.py`), through the steps of a day as the assets run them: ingestion (the
landing file read as raw rows), validation, entity features, the point-in-time join of the day's
transactions, batch scoring (in `CHUNK_ROWS` parts, as `scored_transactions`) and the drift report
(the two-day window's model inputs against the champion's reference, as `drift_report`).

Each step runs in a fresh process, watched every 50 ms: time, peak resident memory (RSS) and the
growth of both from the size before. A step is not started when the growth seen so far says it
would pass the memory budget (90% of the memory available at the start), and is stopped when its
RSS passes it: the size is reported as stopped there, with why, and the larger sizes are not run.

Run with `uv run python bench/ceiling.py` (about an hour at the default sizes; `--sizes` for
others). The homes are kept in `bench/out/scale/<rows>/` for `bench/spark_engine.py`; the table
is printed and written to `bench/out/ceiling.json`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import scaled_lake  # noqa: E402

OUT = ROOT / "bench" / "out"
STEPS = ("ingestion", "validation", "entity_features", "point_in_time", "batch_scoring", "drift_report")
STEP_SECONDS = 3600
GIB = 1024**3


def home_of(rows: int, kind: str = "scale") -> Path:
    return OUT / kind / str(rows)


# -- the steps, each run in a child process ------------------------------------------------------


def _model(home: Path):
    """An XGBoost champion and its reference inputs, fitted once per home on a small generated
    window (the ceiling is about the data's size, not the model's)."""
    from mlops_assets.lib.modelling.models import XGBoostModel, load_model, read_reference, save_model

    folder = home / "model"
    if not folder.exists():
        from mlops_assets.defs.training.training_set import input_columns
        from tests.lib.frames import labelled_inputs, transactions

        training = labelled_inputs(transactions(6, 4000, seed=scaled_lake.SEED), scaled_lake.spec())
        columns = tuple(input_columns(training))
        model = XGBoostModel.fit(
            training[list(columns)],
            training["is_fraud"],
            columns=columns,
            rounds=100,
            max_depth=5,
            learning_rate=0.1,
            subsample=0.8,
            seed=0,
        )
        save_model(model, folder, reference=training[list(columns)].sample(5000, random_state=0))
    return load_model(folder), read_reference(folder)


def _inputs(store, transactions):
    from mlops_assets.keys import FEATURE_SERVICE
    from mlops_assets.lib.featurize import features
    from mlops_assets.lib.featurize.point_in_time import historical_features

    entities = transactions[["transaction_id", "customer_id", "merchant_id", "event_timestamp"]]
    joined = historical_features(store, entities, FEATURE_SERVICE)
    return features.model_input(transactions, joined, scaled_lake.spec())


def run_step(step: str, home: Path) -> None:
    from mlops_assets.keys import RAW_TRANSACTIONS, SCORED_TRANSACTIONS, VALIDATED_TRANSACTIONS
    from mlops_assets.lib.data.lake import Lake

    day = scaled_lake.DAY.isoformat()
    scaled_lake.use_home(home)
    lake = Lake(str(home / "lake"))
    if step == "ingestion":
        from mlops_assets.lib.data.landing import LandingIndex

        lake.write(RAW_TRANSACTIONS, LandingIndex(str(home / "landing"), "2020-01-01").read_day(day), day)
    elif step == "validation":
        from mlops_assets.lib.data.validation import validate_day

        result = validate_day(lake.read(RAW_TRANSACTIONS, day), day)
        lake.write(VALIDATED_TRANSACTIONS, result.valid, day)
        lake.write("quarantined_transactions", result.quarantined, day)
    elif step == "entity_features":
        from mlops_assets.defs.features.assets import _pandas_entity_features

        _pandas_entity_features(lake, [*scaled_lake.history_days(), day], [day])
    elif step == "point_in_time":
        _inputs(scaled_lake.feast_store(home), lake.read(VALIDATED_TRANSACTIONS, day))
    elif step == "batch_scoring":
        from mlops_assets.defs.scoring.assets import CHUNK_ROWS, SCORED_COLUMNS

        model, _ = _model(home)
        store = scaled_lake.feast_store(home)

        def scored(chunk):
            return chunk[SCORED_COLUMNS].assign(fraud_probability=model.predict_proba(_inputs(store, chunk)))

        parts = (scored(chunk) for chunk in lake.read_parts(VALIDATED_TRANSACTIONS, day, CHUNK_ROWS))
        empty = lake.empty(VALIDATED_TRANSACTIONS, day)[SCORED_COLUMNS].assign(fraud_probability=0.0)
        lake.write_parts(SCORED_TRANSACTIONS, day, parts, empty)
    elif step == "drift_report":
        from mlops_assets.lib.featurize import features
        from mlops_assets.lib.quality.drift import DriftPolicy, input_drift, psi

        model, reference = _model(home)
        window = [scaled_lake.history_days()[-1], day]
        transactions = pd.concat([lake.read(VALIDATED_TRANSACTIONS, d) for d in window], ignore_index=True)
        inputs = _inputs(scaled_lake.feast_store(home), transactions)
        monitored = features.drift_monitored(model.inputs)  # as drift_report compares them
        input_drift(reference[monitored], inputs[monitored], DriftPolicy())
        psi(model.predict_proba(reference), model.predict_proba(inputs))
    else:
        raise ValueError(f"unknown step {step}")


# -- the parent: sizes, budget, watchdog ---------------------------------------------------------


def watched(command: list[str], budget: int, seconds: float) -> dict:
    """Runs `command`, sampling the RSS of it and its children every 50 ms; stops it when the RSS
    passes `budget` or `seconds` pass. Its seconds, peak RSS (bytes) and how it ended."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watched_process, peak, ended = psutil.Process(process.pid), 0, None
    while process.poll() is None:
        try:
            rss = sum(p.memory_info().rss for p in [watched_process, *watched_process.children(recursive=True)])
        except psutil.NoSuchProcess:
            break
        peak = max(peak, rss)
        if rss > budget:
            ended = f"stopped: RSS passed the budget of {budget / GIB:.1f} GiB"
        elif time.perf_counter() - started > seconds:
            ended = f"stopped: over {seconds:.0f} s"
        if ended:
            for child in watched_process.children(recursive=True):
                child.kill()
            process.kill()
            break
        time.sleep(0.05)
    process.wait()
    error = process.stderr.read().strip().splitlines()[-1:] if process.returncode else []
    if ended is None and process.returncode:
        ended = f"failed: {error[0] if error else process.returncode}"
    return {"seconds": time.perf_counter() - started, "peak_bytes": peak, "ended": ended or "ok"}


class Results(list):
    """The rows of the table, each written to `bench/out/ceiling.json` and printed as it comes:
    a run stopped part way keeps what it measured."""

    def __init__(self, budget: int):
        super().__init__()
        self.budget = budget

    def append(self, result: dict) -> None:
        super().append(result)
        print(json.dumps(result), flush=True)
        OUT.mkdir(exist_ok=True)
        (OUT / "ceiling.json").write_text(json.dumps({"budget_bytes": self.budget, "results": self}, indent=2))


def predicted_peak(measured: list[dict], rows: int) -> float:
    """A step's peak RSS at `rows`, on the line through its last two measurements (through the
    origin from one): what grows with the rows, above what the process takes anyway."""
    if len(measured) == 1:
        return measured[0]["peak_bytes"] * rows / measured[0]["rows"]
    a, b = measured[-2], measured[-1]
    slope = (b["peak_bytes"] - a["peak_bytes"]) / (b["rows"] - a["rows"])
    return b["peak_bytes"] + max(slope, 0) * (rows - b["rows"])


def child(*arguments: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *arguments]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 20,000 first: with it, a step's memory is predicted from a line, not a proportion.
    parser.add_argument("--sizes", default="20000,100000,1000000,3000000,10000000")
    parser.add_argument("--table", action="store_true", help="print the table of bench/out/ceiling.json and stop")
    parser.add_argument("--step", help=argparse.SUPPRESS)  # a child's work
    parser.add_argument("--build", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.table:
        saved = json.loads((OUT / "ceiling.json").read_text())
        print(table(saved["results"], saved["budget_bytes"]))
        return
    if args.step:
        run_step(args.step, Path(args.home))
        return
    if args.build:
        scaled_lake.build(Path(args.home), int(args.build))
        return
    budget = int(psutil.virtual_memory().available * 0.9)
    results = Results(budget)
    previous: dict[str, dict] = {}  # each step's last measurement
    measured_steps: dict[str, list[dict]] = {}  # each step's measurements that ended well
    homes: list[tuple[int, int]] = []  # (rows a day, bytes on disk) of the homes built
    for rows in (int(size) for size in args.sizes.split(",")):
        home = home_of(rows)
        if homes and not (home / ".built").exists():
            disk = homes[-1][1] * rows / homes[-1][0]
            free = shutil.disk_usage(OUT).free
            if disk > 0.8 * free:
                ended = f"not built: {disk / GIB:.0f} GiB of disk predicted, {free / GIB:.0f} GiB free"
                results.append({"rows": rows, "step": "building the home", "ended": ended})
                break
        home.mkdir(parents=True, exist_ok=True)
        built = watched(child("--build", str(rows), "--home", str(home)), budget, 4 * STEP_SECONDS)
        if built["ended"] != "ok":
            results.append({"rows": rows, "step": "building the home", **built})
            break
        homes.append((rows, sum(path.stat().st_size for path in home.rglob("*") if path.is_file())))
        for step in STEPS:
            before = previous.get(step)
            if before and before["ended"] != "ok":  # stopped at a smaller day: larger ones are not run
                results.append({"rows": rows, "step": step, "ended": f"not run: stopped at {before['rows']:,}"})
                continue
            if before:
                predicted = predicted_peak(measured_steps[step], rows)
                if predicted > budget:
                    ended = f"not started: {predicted / GIB:.1f} GiB predicted (linear growth)"
                    previous[step] = {"rows": rows, "step": step, "ended": ended}
                    results.append(previous[step])
                    continue
            measured = watched(child("--step", step, "--home", str(home)), budget, STEP_SECONDS)
            measured = {"rows": rows, "step": step, **measured}
            if before and measured["ended"] == "ok":
                measured["time_growth"] = measured["seconds"] / before["seconds"]
                measured["memory_growth"] = measured["peak_bytes"] / before["peak_bytes"]
                measured["rows_growth"] = rows / before["rows"]
            results.append(measured)
            previous[step] = measured
            measured_steps.setdefault(step, []).append(measured)
    print(table(results, budget))


def table(results: list[dict], budget: int) -> str:
    lines = [
        f"Memory budget: {budget / GIB:.1f} GiB (90% of the memory available at the start).",
        "",
        "| rows a day | step | seconds | peak RSS (GiB) | time × | memory × | rows × | ended |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        growth = [f"{r[key]:.2f}" if key in r else "" for key in ("time_growth", "memory_growth", "rows_growth")]
        seconds = f"{r['seconds']:.1f}" if "seconds" in r else ""
        peak = f"{r['peak_bytes'] / GIB:.2f}" if "peak_bytes" in r else ""
        lines.append(f"| {r['rows']:,} | {r['step']} | {seconds} | {peak} | {' | '.join(growth)} | {r['ended']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
