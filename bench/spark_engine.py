"""Benchmark: the heavy steps with the pandas engine and with Spark in local mode, side by side on
the same homes (`bench/scaled_lake.py`: a day and its 33 days of history), at 1 M and 10 M
transactions a day by default: the entity features of the day and its batch scoring (the
point-in-time join, the model inputs and the model). Each step runs in a fresh process, watched as
`bench/ceiling.py` watches its steps (a pandas step that would pass the memory budget is not
started, and says so); then the growth of each from the smaller day to the larger against the
growth of the rows (linear: the same factor).

Run with `uv run python bench/spark_engine.py` after `bench/ceiling.py` (which builds the homes
in `bench/out/scale/`; this builds those it lacks). Spark: `local[*]`, `MLOPS_SPARK_*` as set.
The table is printed and written to `bench/out/spark_engine.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import ceiling, scaled_lake  # noqa: E402

STEPS = ("entity_features", "batch_scoring")
# `--history day`: windows of at most a day, labels known at once, so a day's features read one
# day before it. A 10 M-row day with the default 33 days of history is a 340 M-row lake of about
# 50 GB here, more than this machine's disk and hours on two cores; with a day of history the
# engines' growth from 1 M to 10 M rows is measured on what fits.
ONE_DAY_OF_HISTORY = {
    "MLOPS_CUSTOMER_WINDOWS": "1h,24h",
    "MLOPS_HABIT_WINDOWS": "24h",
    "MLOPS_MERCHANT_WINDOWS": "24h",
    "MLOPS_RISK_WINDOWS": "24h",
    "MLOPS_LABEL_DELAY": "0",
}
ENGINES = ("pandas", "spark")


def spark_step(step: str, home: Path) -> None:
    """One step on Spark, as the assets call the engine with `MLOPS_ENGINE=spark`."""
    import pandas as pd

    from mlops_assets.defs.scoring.assets import SCORED_COLUMNS
    from mlops_assets.keys import FEATURE_SERVICE, VALIDATED_TRANSACTIONS
    from mlops_assets.lib.data.lake import Lake
    from mlops_assets.lib.featurize.point_in_time import view_joins
    from mlops_assets.lib.spark import engine
    from mlops_assets.lib.spark.point_in_time import Scoring
    from mlops_assets.resources.spark import SparkResource
    from mlops_assets.settings import Settings

    scaled_lake.use_home(home)
    settings = Settings.from_env({**os.environ, "MLOPS_ENGINE": "spark"})
    resource = SparkResource.of(settings)
    lake = Lake(str(home / "lake"))
    day = scaled_lake.DAY.isoformat()
    if step == "entity_features":
        days = [*scaled_lake.history_days(), day]
        rows = sum(lake.row_count(VALIDATED_TRANSACTIONS, d) for d in days)
        engine.write_entity_features(resource, lake, days, [day], rows, scaled_lake.spec())
    elif step == "batch_scoring":
        model, _ = ceiling._model(home)
        store = scaled_lake.feast_store(home)
        views = view_joins(store, store.get_feature_service(FEATURE_SERVICE))
        scoring = Scoring(model, "1", 0.5, pd.Timestamp.now(tz="UTC"), SCORED_COLUMNS, "scored_by_spark")
        empty = lake.empty(VALIDATED_TRANSACTIONS, day)[SCORED_COLUMNS]
        engine.score_day(resource, lake, views, day, scaled_lake.spec(), scoring, empty)
    else:
        raise ValueError(f"unknown step {step}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--history", choices=("day", "default"), default="day", help="the feature spec's history")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        spark_step(args.step, Path(args.home))
        return
    if args.history == "day":
        os.environ.update(ONE_DAY_OF_HISTORY)  # the children's spec too
    kind = "scale-1d" if args.history == "day" else "scale"
    budget = int(psutil.virtual_memory().available * 0.9)
    sizes = [int(size) for size in args.sizes.split(",")]
    results: dict[tuple[str, str, int], dict] = {}
    for rows in sizes:
        home = ceiling.home_of(rows, kind)
        home.mkdir(parents=True, exist_ok=True)
        built = ceiling.watched(ceiling.child("--build", str(rows), "--home", str(home)), budget, 4 * 3600)
        assert built["ended"] == "ok", f"building {rows:,} rows a day: {built['ended']}"
        for step in STEPS:
            for engine in ENGINES:
                smaller = [results[(step, engine, r)] for r in sizes if r < rows and (step, engine, r) in results]
                if smaller and smaller[-1]["ended"] == "ok":
                    predicted = smaller[-1]["peak_bytes"] * rows / smaller[-1]["rows"]
                    if engine == "pandas" and predicted > budget:
                        results[(step, engine, rows)] = {
                            "rows": rows,
                            "ended": f"not started: {predicted / ceiling.GIB:.1f} GiB predicted (linear growth)",
                        }
                        continue
                if engine == "pandas":
                    command = ceiling.child("--step", step, "--home", str(home))
                else:
                    command = [sys.executable, str(Path(__file__).resolve()), "--step", step, "--home", str(home)]
                measured = {"rows": rows, **ceiling.watched(command, budget, ceiling.STEP_SECONDS)}
                results[(step, engine, rows)] = measured
                print(json.dumps({"step": step, "engine": engine, **measured}), flush=True)
    rows_out = [{"step": s, "engine": e, **r} for (s, e, _), r in results.items()]
    ceiling.OUT.mkdir(exist_ok=True)
    (ceiling.OUT / "spark_engine.json").write_text(json.dumps({"budget_bytes": budget, "results": rows_out}, indent=2))
    print(table(results, sizes))


def table(results: dict, sizes: list[int]) -> str:
    small, large = sizes[0], sizes[-1]
    header = (
        f"| step | engine | {small:,} a day: s | GiB | {large:,} a day: s | GiB | time × ({large // small}× rows) |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---:|"]
    for step in STEPS:
        for engine in ENGINES:
            cells = []
            for rows in (small, large):
                r = results.get((step, engine, rows), {})
                ok = r.get("ended") == "ok"
                cells += [
                    f"{r['seconds']:.1f}" if ok else r.get("ended", ""),
                    f"{r['peak_bytes'] / ceiling.GIB:.2f}" if ok else "",
                ]
            a, b = results.get((step, engine, small), {}), results.get((step, engine, large), {})
            growth = f"{b['seconds'] / a['seconds']:.2f}" if a.get("ended") == b.get("ended") == "ok" else ""
            lines.append(f"| {step} | {engine} | {' | '.join(cells)} | {growth} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
