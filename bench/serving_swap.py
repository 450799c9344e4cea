"""Benchmark: a champion swap under steady load. Our service runs 60 s of `wrk` at 16 connections
(one transaction per request) as three 20 s windows: before, during (the `champion` alias moves
5 s into it) and after. Each window's requests/s, p50, p99 and failed requests (non-2xx and socket
errors) are reported, with the during and after windows as ratios of the before window, which is
the baseline run side by side with them.

Run with `uv run python bench/serving_swap.py` (about 4 minutes; `make bench` runs it too; needs
Debian's `wrk`). It builds the same state as `bench/serving.py`. The new champion is a new registry
version of the same files (same model, same tags), so what changes is the swap alone: the new
version is downloaded, checked, loaded and warmed by each worker while it answers, then replaces
the old one.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.serving import build_state, ours, set_challenger, wait_ready, write_scripts, wrk  # noqa: E402
from mlops_assets.lib.modelling.registry import CHAMPION, MODEL_NAME, Registry  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

WINDOWS = ("before", "during", "after")
CONNECTIONS = 16
SWAP_AFTER_SECONDS = 5


def copy_of_champion(registry: Registry) -> str:
    """A new version of the champion's own files and tags; returns its number."""
    champion = registry.alias(CHAMPION)
    source = registry.client.get_model_version(MODEL_NAME, champion.version).source
    created = registry.client.create_model_version(MODEL_NAME, source, champion.run_id, tags=champion.tags)
    return str(created.version)


def swap_seen(url: str, version: str, deadline: float) -> float:
    """Seconds until ten `GET /model` in a row, on fresh connections (either worker), name `version`."""
    started, agreeing = time.monotonic(), 0
    while agreeing < 10 and time.monotonic() < deadline:
        with httpx.Client(base_url=url, timeout=10) as client:
            agreeing = agreeing + 1 if client.get("/model").json()["version"] == version else 0
        time.sleep(0.05)
    return time.monotonic() - started if agreeing >= 10 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="length of each window")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/serving_swap.py needs wrk (Debian: apt-get install wrk; `make bench` installs it)")
    with tempfile.TemporaryDirectory(prefix="bench-swap-") as folder:
        home = Path(folder)
        settings = build_state(home / "mlops")
        scripts = write_scripts(settings, home)
        environment = set_challenger(settings, shadowed=False)
        registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with open(home / "server.log", "w") as log:
            server = subprocess.Popen(ours(port), cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(url, server, f"the server did not start: see {home / 'server.log'}")
            wrk(f"{url}/predict", scripts["one"], CONNECTIONS, 3)  # warm-up
            results, swap = {}, {}

            def move_alias() -> None:
                time.sleep(SWAP_AFTER_SECONDS)
                version = copy_of_champion(registry)
                swap["moved_at"] = time.monotonic()
                registry.promote(version)
                swap["seconds"] = swap_seen(url, version, time.monotonic() + args.seconds)

            for window in WINDOWS:
                mover = threading.Thread(target=move_alias) if window == "during" else None
                if mover:
                    mover.start()
                results[window] = wrk(f"{url}/predict", scripts["one"], CONNECTIONS, args.seconds)
                if mover:
                    mover.join()
        finally:
            server.terminate()
            server.wait(timeout=60)
    report(results, swap["seconds"], args.seconds)


def report(results: dict[str, dict], swap_seconds: float, window_seconds: int) -> None:
    before = results["before"]
    print(f"| window ({window_seconds} s, c={CONNECTIONS}) | req/s | p50 / p99 ms | p99 / before | failed |")
    print("|---|---:|---:|---:|---:|")
    for window, run in results.items():
        print(
            f"| {window} | {run['rps']:,.0f} | {run['p50']:.0f} / {run['p99']:.0f} "
            f"| {run['p99'] / before['p99']:.2f}x | {run['failed']} |"
        )
    print(f"\nevery worker answered with the new version {swap_seconds:.1f} s after the alias moved")


if __name__ == "__main__":
    main()
