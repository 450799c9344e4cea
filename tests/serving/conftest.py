"""The serving tests' servers: real `mlops serve` processes (which run `bentoml serve`) on loopback
ports, over one home with a trained champion in a real MLflow registry and online features in the
real Feast store.

- `served`: the default settings (no API key), but every request shadowed;
- `guarded`: a second server on the same home with an API key, a 1 MiB body limit and one slot
  for the mounted routes, for the guard's tests.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import httpx
import pandas as pd
import pytest

from mlops_assets.lib.modelling.registry import MODEL_NAME, Registry
from mlops_assets.ops.servers import start_server
from mlops_assets.settings import Settings
from mlops_assets.synth import generator
from tests.conftest import use_home
from tests.support.history import first_champion
from tests.support.processes import MLOPS, free_port

START_SECONDS = 120
API_KEY = "test-key-7f3a9c"  # not a credential: the key the guarded test server is started with
GUARDED_BODY_BYTES = 1024 * 1024


@dataclass
class Served:
    settings: Settings
    defs: dg.Definitions
    url: str
    client: httpx.Client

    @property
    def registry(self) -> Registry:
        return Registry(self.settings.mlflow_tracking_uri, MODEL_NAME)


def new_transactions(served: Served, count: int) -> list[dict]:
    """Transactions of the day after the history (in no feature yet), as a client sends them."""
    folder = served.settings.home / "outside"
    [path] = generator.generate(date(2025, 3, 11), 1, 1500, folder, seed=8).files
    rows = pd.read_parquet(path).drop(columns=["is_fraud"]).head(count)
    rows["event_timestamp"] = rows["event_timestamp"].map(lambda t: t.isoformat())
    return rows.to_dict(orient="records")


def wait_for_model(served: Served | str, agrees: Callable[[dict], bool], what: str, seconds: float = 30) -> None:
    """Until every worker's `GET /model` agrees (of `served`, or of the server at a URL): each
    worker follows the registry on its own, so ten answers in a row on fresh connections (which
    land on either worker) must agree."""
    url = served if isinstance(served, str) else served.url
    deadline, agreeing = time.monotonic() + seconds, 0
    while agreeing < 10:
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        with httpx.Client(base_url=url, timeout=30) as fresh:
            agreeing = agreeing + 1 if agrees(fresh.get("/model").json()) else 0
        time.sleep(0.05)


def wait_ready(client: httpx.Client, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"bentoml serve exited with {process.returncode}"
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the service was not ready within {seconds} s")


@contextlib.contextmanager
def serving(log_path: Path, environment: dict[str, str]) -> Iterator[tuple[str, httpx.Client]]:
    """`mlops serve` on a free port with `environment` added; its URL and a client, until exit."""
    port = free_port()
    with pytest.MonkeyPatch.context() as patch, open(log_path, "w") as log:
        for name, value in environment.items():
            patch.setenv(name, value)
        process = start_server([MLOPS, "serve", "--port", str(port)], log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_ready(client, process, START_SECONDS)
            yield f"http://127.0.0.1:{port}", client
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.fixture(scope="package")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, dg.Definitions]]:
    """Ten baseline days with features and one `retrain_job` (a champion); the environment
    points at it while the package's tests run."""
    folder = tmp_path_factory.mktemp("serving")
    with pytest.MonkeyPatch.context() as patch:
        settings = use_home(patch, folder)
        patch.setenv("MLOPS_SERVING_POLL", "0.5")
        with dg.DagsterInstance.get() as instance:
            defs, first = first_champion(settings, instance)
            assert first.success
        yield settings, defs


@pytest.fixture(scope="package")
def served(home) -> Iterator[Served]:
    """Shadow scoring takes every request (while a challenger differs from the champion) and is
    written out every half second, for `test_shadow`."""
    settings, defs = home
    environment = {"MLOPS_SHADOW_SHARE": "1", "MLOPS_SHADOW_FLUSH_SECONDS": "0.5"}
    with serving(settings.home / "bentoml.log", environment) as (url, client):
        yield Served(settings, defs, url, client)


@pytest.fixture(scope="package")
def guarded(home) -> Iterator[Served]:
    settings, defs = home
    environment = {
        # BentoML keeps its Prometheus files under BENTOML_HOME: two servers need two.
        "BENTOML_HOME": str(settings.home / "bentoml-guarded"),
        "MLOPS_API_KEY": API_KEY,
        "MLOPS_SERVING_MAX_BODY_BYTES": str(GUARDED_BODY_BYTES),
        "MLOPS_SERVING_MOUNTED_CONCURRENCY": "1",
    }
    with serving(settings.home / "bentoml-guarded.log", environment) as (url, client):
        yield Served(settings, defs, url, client)
