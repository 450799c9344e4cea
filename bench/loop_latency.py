"""Benchmark: from a landed day to its drift verdict through the real local daemon.

In a fresh MLOPS_HOME: `mlops generate` and `mlops backfill` build ten days of history and the
first champion; then `dagster dev` (what `mlops up` and the demo start) runs the sensors, and
days land one at a time. For each day: the time from its landing file's modification to its
`drift_report` record's, beside the baseline, the compute time inside the steps of that day's
runs (ingestion, validation, features, drift report) as the instance's event log records them;
their ratio is what the daemon adds (queueing, run start-up, sensor intervals).

Run with `uv run python bench/loop_latency.py [--days 5] [--rows-per-day 3000]`; prints a
Markdown table for docs/performance.md.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MLOPS = str(Path(sys.executable).with_name("mlops"))
FIRST_DAY = date(2025, 3, 1)
HISTORY_DAYS = 10
DAY_SECONDS = 600  # a bound on each day's wait
VERDICT_STEPS = ("raw_transactions", "validate_transactions", "entity_features", "online_features", "drift_report")


def mlops(*args: str) -> None:
    done = subprocess.run([MLOPS, *args], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"mlops {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def step_seconds(instance, day: str) -> float:
    """The compute inside the steps before the verdict of every run of `day`'s partition."""
    import dagster as dg

    total = 0.0
    for run in instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": day})):
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS):
            if entry.step_key in VERDICT_STEPS:
                total += entry.dagster_event.event_specific_data.duration_ms / 1000
    return total


def run_breakdown(instance, day: str) -> list[tuple[str, float, float, float, float, float]]:
    """Each run of `day`'s partition, oldest first: job, then seconds queued (created until the
    queue launched it), launching (until its worker started the run), starting (until its first
    step), in its steps, and the rest until it ended."""
    import dagster as dg

    rows = []
    for record in reversed(instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/partition": day}))):
        run_id = record.dagster_run.run_id
        starts = [e.timestamp for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)]
        launched = [e.timestamp for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_STARTING)]
        steps = sum(
            e.dagster_event.event_specific_data.duration_ms / 1000
            for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
        )
        created, started, ended = record.create_timestamp.timestamp(), record.start_time, record.end_time
        if started is None or ended is None or not starts or not launched:
            continue
        first_step = min(starts)
        rows.append(
            (
                record.dagster_run.job_name,
                launched[0] - created,
                started - launched[0],
                first_step - started,
                steps,
                ended - first_step - steps,
            )
        )
    return rows


def newest_file(folder: Path) -> Path:
    """The landing file written last (its modification time is when the day landed)."""
    return max((path for path in folder.iterdir() if path.is_file()), key=lambda path: path.stat().st_mtime)


def wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no {path} after {seconds:.0f} s")
        time.sleep(0.25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--rows-per-day", type=int, default=3000)
    parser.add_argument("--port", type=int, default=3093)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loop-latency-") as folder:
        home = Path(folder) / "mlops"
        os.environ.update(MLOPS_HOME=str(home), MLOPS_PARTITIONS_START=FIRST_DAY.isoformat())
        os.environ.update(DAGSTER_HOME=str(home / "dagster"))
        rows = str(args.rows_per_day)
        mlops("generate", "--start", FIRST_DAY.isoformat(), "--days", str(HISTORY_DAYS), "--rows-per-day", rows)
        mlops("backfill", "--days", str(HISTORY_DAYS), "--holdout-days", "3")

        import dagster as dg

        from mlops_assets.ops.servers import start_dagster
        from mlops_assets.settings import Settings

        settings = Settings.from_env()
        results = []
        with open(home / "dagster.log", "w") as log:
            dagster = start_dagster(settings, args.port, log)
            try:
                time.sleep(30)  # the code server and daemon up, their first ticks done
                for offset in range(args.days):
                    day = (FIRST_DAY + timedelta(days=HISTORY_DAYS + offset)).isoformat()
                    mlops("generate", "--start", day, "--days", "1", "--rows-per-day", rows, "--seed", str(offset + 1))
                    landed = newest_file(settings.landing_dir).stat().st_mtime
                    verdict = settings.lake_dir / "drift_report" / f"{day}.json"
                    wait_for(verdict, DAY_SECONDS)
                    results.append((day, verdict.stat().st_mtime - landed))
                time.sleep(15)  # the last runs' events written
                with dg.DagsterInstance.get() as instance:
                    results = [(day, wall, step_seconds(instance, day)) for day, wall in results]
                    breakdown = {day: run_breakdown(instance, day) for day, _, _ in results}
            finally:
                dagster.terminate()
                dagster.wait(timeout=120)

    print(f"Landing to drift verdict through the daemon, {args.rows_per_day:,} rows a day:\n")
    print("| day | landing to verdict (s) | compute in its steps (s) | ratio |\n| --- | ---: | ---: | ---: |")
    for day, wall, compute in results:
        print(f"| {day} | {wall:.1f} | {compute:.1f} | {wall / compute:.1f}x |")
    walls, computes = [r[1] for r in results], [r[2] for r in results]
    median_wall, median_compute = statistics.median(walls), statistics.median(computes)
    print(f"| median | {median_wall:.1f} | {median_compute:.1f} | {median_wall / median_compute:.1f}x |")
    print("\nWhere each day's runs spent their time (s):\n")
    print("| day | run | queued | launching | starting | in steps | rest |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for day, runs in breakdown.items():
        for job, *seconds in runs:
            print(f"| {day} | {job} | " + " | ".join(f"{value:.1f}" for value in seconds) + " |")


if __name__ == "__main__":
    main()
