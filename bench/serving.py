"""Benchmark: our BentoML service (online features included) against the tutorial pattern and a
lean FastAPI endpoint (`bench/serving_baselines.py`), side by side with `wrk` on loopback.

Run with `uv run python bench/serving.py` (about 6 minutes; `make bench` runs it too; needs Debian's
`wrk`). It builds a state of its own in a temporary folder (ten generated days, their features and
a first `retrain_job`), makes the run's XGBoost model the champion, then starts each service in
turn on a free port and measures, `--seconds` each (ours twice: without a challenger, and with the
run's baseline model as challenger shadow-scoring every request):
- one transaction per request at 16 and 64 connections: requests/s, p50 and p99, failed requests;
- 1,000 transactions per request at 4 connections: rows/s.
Each request picks one of 500 transactions (different customers and merchants) at random.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mlops_assets.lib.modelling.registry import CHALLENGER, MODEL_NAME, Registry  # noqa: E402
from mlops_assets.settings import Settings  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

BIN = Path(sys.executable).parent


def uvicorn(app: str):
    return lambda port: [
        str(BIN / "uvicorn"), f"bench.serving_baselines:{app}", "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def ours(port: int) -> list[str]:
    return [str(BIN / "mlops"), "serve", "--port", str(port)]


OURS = "ours: BentoML, online features, micro-batching, 2 workers"
SHADOWED = "ours, and a challenger shadow-scoring every request"
SERVICES = {
    "tutorial pattern: FastAPI, one-row DataFrame, predict_proba (model only)": uvicorn("tutorial"),
    "lean FastAPI: numpy, inplace_predict (model only)": uvicorn("lean"),
    "lean FastAPI + online features + model_input (no batching)": uvicorn("lean_features"),
    OURS: ours,
    SHADOWED: ours,
}
RUNS = (("one", 16), ("one", 64), ("batch", 4))


def build_state(home: Path) -> Settings:
    """Ten days of history, features and a first champion; the run's XGBoost version is made
    champion, so every service scores with the same 200-tree model."""
    import dagster as dg

    from tests.support.history import first_champion

    os.environ.update({"MLOPS_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")})
    settings = Settings.from_env()
    settings.ensure_dirs()
    with dg.DagsterInstance.get() as instance:
        _, result = first_champion(settings, instance)
        assert result.success
    registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
    registry.promote([v for v in registry.versions() if v.tags.get("kind") == "xgboost"][-1].version)
    return settings


def set_challenger(settings: Settings, shadowed: bool) -> dict[str, str]:
    """The run's baseline model as challenger, and the environment that shadows every request;
    or no challenger (nothing is shadowed)."""
    registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
    if shadowed:
        registry.set_challenger([v for v in registry.versions() if v.tags.get("kind") == "baseline"][-1].version)
        return {**os.environ, "MLOPS_SHADOW_SHARE": "1"}
    if registry.alias(CHALLENGER) is not None:
        registry.client.delete_registered_model_alias(MODEL_NAME, CHALLENGER)
    return dict(os.environ)


def write_scripts(settings: Settings, folder: Path) -> dict[str, Path]:
    """wrk scripts: one random transaction per request, and one fixed 1,000-transaction body."""
    lake = settings.lake_dir / "validated_transactions"
    rows = pd.read_parquet(sorted(lake.glob("*.parquet"))[-1]).drop(columns=["is_fraud"]).head(1000)
    rows["event_timestamp"] = rows["event_timestamp"].map(lambda t: t.isoformat())
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    bodies = [json.dumps({"transactions": [record]}) for record in records[:500]]
    (folder / "batch.json").write_text(json.dumps({"transactions": records}))
    head = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    one = folder / "one.lua"
    table = ",\n".join(f"[==[{body}]==]" for body in bodies)  # Lua long strings: no escaping
    one.write_text(
        head + "bodies = {\n" + table + "\n}\n"
        "request = function() return wrk.format(nil, nil, nil, bodies[math.random(#bodies)]) end\n"
    )
    batch = folder / "batch.lua"
    read_body = f'local file = io.open("{folder / "batch.json"}")\nwrk.body = file:read("*a"); file:close()\n'
    batch.write_text(head + read_body)
    return {"one": one, "batch": batch}


def wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, float]:
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip

    def latency(percentile: str) -> float:
        value, unit = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    failed = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    failed += sum(int(n) for n in errors.groups()) if errors else 0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return {"rps": rps, "p50": latency("50"), "p99": latency("99"), "failed": failed}


def measure(
    name: str, command: list[str], environment: dict[str, str], scripts: dict[str, Path], seconds: int, log: Path
) -> dict:
    port = int(command[command.index("--port") + 1])
    url = f"http://127.0.0.1:{port}"
    with open(log, "a") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_ready(url, process, f"{name} did not start: see {log}")
        wrk(f"{url}/predict", scripts["one"], 16, 3)  # warm-up
        runs = {(kind, c): wrk(f"{url}/predict", scripts[kind], c, seconds) for kind, c in RUNS}
        time.sleep(1)  # the last shadow scores are written
        return {**runs, "shadow": shadow_counts(httpx.get(f"{url}/metrics", timeout=10).text)}
    finally:
        process.terminate()
        process.wait(timeout=60)


def wait_ready(url: str, process: subprocess.Popen, failure: str) -> None:
    """Until `url` answers /readyz with 200 (at most 180 s); `failure` is the error otherwise."""
    deadline = time.monotonic() + 180
    while True:
        assert process.poll() is None and time.monotonic() < deadline, failure
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)


def shadow_counts(metrics: str) -> dict[str, float]:
    """Rows the challenger scored and rows it skipped, from our service's Prometheus text."""

    def total(name: str) -> float:
        return sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(name))

    return {
        "scored": total("fraud_detector_shadow_scored_rows_total"),
        "skipped": total("fraud_detector_shadow_skipped_rows_total"),
    }


def report(results: dict[str, dict]) -> None:
    print("| service | 1 txn, c=16: req/s | p50 / p99 ms | 1 txn, c=64: req/s | p50 / p99 ms | failed "
          "| 1,000 txns, c=4: rows/s |\n|---|---:|---:|---:|---:|---:|---:|")  # fmt: skip
    for name, runs in results.items():
        c16, c64, batch = runs[("one", 16)], runs[("one", 64)], runs[("batch", 4)]
        failed = sum(run["failed"] for kind, run in runs.items() if kind != "shadow")
        print(
            f"| {name} | {c16['rps']:,.0f} | {c16['p50']:.0f} / {c16['p99']:.0f} | {c64['rps']:,.0f} "
            f"| {c64['p50']:.0f} / {c64['p99']:.0f} | {failed} | {batch['rps'] * 1000:,.0f} |"
        )
    tutorial, lean, _, plain, shadowed = (results[name] for name in SERVICES)
    c16, c64 = ("one", 16), ("one", 64)
    print(
        f"\nours / tutorial at c=64: {plain[c64]['rps'] / tutorial[c64]['rps']:.1f}x; "
        f"ours / lean at c=64: {plain[c64]['rps'] / lean[c64]['rps']:.0%}; "
        f"shadowed / ours at c=16: {shadowed[c16]['rps'] / plain[c16]['rps']:.0%}, "
        f"at c=64: {shadowed[c64]['rps'] / plain[c64]['rps']:.0%}; "
        f"the challenger scored {shadowed['shadow']['scored']:,.0f} rows, skipped {shadowed['shadow']['skipped']:,.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="length of each wrk run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/serving.py needs wrk (Debian: apt-get install wrk; `make bench` installs it)")
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as folder:
        home = Path(folder)
        settings = build_state(home / "mlops")
        scripts = write_scripts(settings, home)
        results = {
            name: measure(
                name, command(free_port()), set_challenger(settings, name == SHADOWED), scripts, args.seconds,
                home / "servers.log",
            )
            for name, command in SERVICES.items()
        }  # fmt: skip
        report(results)


if __name__ == "__main__":
    main()
