"""Benchmark: batch scoring of a 1,000,000-row day (`scored_transactions`), beside the online
service's batch throughput on the same home and the same champion.

Run with `uv run python bench/scoring.py` (about 6 minutes; `make bench` runs it too; needs Debian's
`wrk`). It builds a state of its own in a temporary folder (ten generated days, their features and
a first `retrain_job`, whose XGBoost model is made champion, as `bench/serving.py` does), lands,
validates and featurizes one day of `--rows` rows after them, then:
- scores that day through Dagster (`scored_transactions` alone, in process), `--repeats` times
  in a fresh process each, in parts of `CHUNK_ROWS` (what the asset does) and in one part (the
  day whole): seconds, rows/s and the process's peak memory;
- sends the service 1,000 transactions per request at 4 connections with `wrk`: rows/s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.serving import build_state, ours, wait_ready, write_scripts, wrk  # noqa: E402
from mlops_assets.settings import Settings  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

SCORED_DAY = date(2025, 3, 11)  # the day after the ten days `build_state` generates


def score_once(chunk_rows: int) -> dict[str, float]:
    """In this process: the day scored by the champion in parts of `chunk_rows`; its seconds and
    the process's peak resident memory while it scored (MB), sampled every 20 ms (Linux keeps a
    parent's `ru_maxrss` across exec, so the kernel's figure would be the bench's own)."""
    import dagster as dg
    import psutil

    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.scoring import assets
    from mlops_assets.ops.runs import QUIET
    from mlops_assets.resources import build_resources

    assets.CHUNK_ROWS = chunk_rows
    defs = build_definitions(build_resources(Settings.from_env()))
    job = defs.resolve_job_def("scoring_job")
    process, peak, done = psutil.Process(), [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample)
    with dg.DagsterInstance.get() as instance:
        sampler.start()
        started = time.perf_counter()
        result = job.execute_in_process(
            instance=instance,
            partition_key=SCORED_DAY.isoformat(),
            asset_selection=[dg.AssetKey("scored_transactions")],
            run_config=QUIET,
        )
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    assert result.success
    [materialization] = result.asset_materializations_for_node("scored_transactions")
    rows = materialization.metadata["rows"].value
    return {"seconds": seconds, "rows": rows, "peak_mb": peak[0] / 2**20}


def score_in_a_new_process(chunk_rows: int, environment: dict[str, str]) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--child-chunk-rows", str(chunk_rows)],
        env=environment, stdout=subprocess.PIPE, text=True, check=True, timeout=900,
    ).stdout  # fmt: skip
    return json.loads(output.strip().splitlines()[-1])


def use_state(home: Path) -> Settings:
    """The state a run with `--home` built and kept."""
    os.environ.update({"MLOPS_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")})
    return Settings.from_env()


def land_the_day(settings: Settings, rows: int) -> None:
    """`rows` transactions on `SCORED_DAY`, ingested, validated and featurized."""
    import dagster as dg

    from mlops_assets.definitions import build_definitions
    from mlops_assets.ops.features import build_features
    from mlops_assets.ops.ingest import ingest_pending
    from mlops_assets.resources import build_resources
    from mlops_assets.synth import generator

    generator.generate(SCORED_DAY, 1, rows, settings.landing_dir, seed=11)
    defs = build_definitions(build_resources(settings))
    with dg.DagsterInstance.get() as instance:
        assert not ingest_pending(defs, instance).failed_days
        assert not build_features(defs, instance, [SCORED_DAY.isoformat()])


def service_rows_per_second(settings: Settings, folder: Path, seconds: int) -> float:
    """The online service (2 workers) at 1,000 transactions a request and 4 connections."""
    scripts = write_scripts(settings, folder)
    command = ours(free_port())
    url = f"http://127.0.0.1:{command[command.index('--port') + 1]}"
    with open(folder / "server.log", "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(url, process, f"the service did not start: see {folder / 'server.log'}")
        wrk(f"{url}/predict", scripts["batch"], 4, 3)  # warm-up
        run = wrk(f"{url}/predict", scripts["batch"], 4, seconds)
        assert run["failed"] == 0, run
        return run["rps"] * 1000
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="transactions of the scored day")
    parser.add_argument("--repeats", type=int, default=3, help="fresh-process scorings of each way")
    parser.add_argument("--seconds", type=int, default=15, help="length of the service's wrk run")
    parser.add_argument("--home", type=Path, help="build the state here and keep it (reused when it is there)")
    parser.add_argument("--child-chunk-rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_chunk_rows:
        print(json.dumps(score_once(args.child_chunk_rows)))
        return
    if shutil.which("wrk") is None:
        sys.exit("bench/scoring.py needs wrk (Debian: apt-get install wrk; `make bench` installs it)")
    from mlops_assets.defs.scoring.assets import CHUNK_ROWS

    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as folder:
        home = args.home or Path(folder)
        started = time.perf_counter()
        if (home / "mlops" / "lake" / "customer_features" / f"{SCORED_DAY}.parquet").exists():
            settings = use_state(home / "mlops")
        else:
            settings = build_state(home / "mlops")
            land_the_day(settings, args.rows)
        print(f"state ready in {timedelta(seconds=round(time.perf_counter() - started))}", file=sys.stderr)
        ways = {f"in parts of {CHUNK_ROWS:,} rows (the asset)": CHUNK_ROWS, "the day in one part": args.rows}
        results = {
            name: [score_in_a_new_process(chunk, dict(os.environ)) for _ in range(args.repeats)]
            for name, chunk in ways.items()
        }
        service = service_rows_per_second(settings, home, args.seconds)
    rows = results[next(iter(ways))][0]["rows"]
    print(f"Batch scoring of one day of {rows:,} transactions (median of {args.repeats} fresh processes)\n")
    print("| path | seconds | rows/s | peak memory, MB | vs. the service's batch rows/s |\n|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        seconds = statistics.median(run["seconds"] for run in runs)
        peak = statistics.median(run["peak_mb"] for run in runs)
        print(f"| `scored_transactions`, {name} | {seconds:.1f} | {rows / seconds:,.0f} | {peak:,.0f} "
              f"| {rows / seconds / service:.1f}x |")  # fmt: skip
    print(f"| baseline: the online service, 1,000 transactions a request, 4 connections | | {service:,.0f} | | 1.0x |")


if __name__ == "__main__":
    main()
