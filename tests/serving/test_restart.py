"""The server killed with SIGKILL under load, as a container is (every process of it at once, its
workers in their own sessions included), and started again on the same port: it comes back
ready, the load resumes with every answer a 200, and what it wrote before the kill is whole."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import psutil
import pytest

from mlops_assets.lib.data.labels import LabelFolder
from mlops_assets.settings import REPO_ROOT
from tests.serving.conftest import START_SECONDS, Served, new_transactions, wait_ready
from tests.support.processes import MLOPS, descendants, free_port, kill_tree

pytestmark = pytest.mark.slow

# The bound of each client's loop: long enough for a restart on a loaded machine (the test stops
# the clients as soon as it has what it needs). Each phase of the test has its own bound.
LOAD_SECONDS = 2 * START_SECONDS + 120
PHASE_SECONDS = 60


class Load:
    """Clients in threads, each posting a transaction and a label in turn until stopped: every
    answer's status, and the label ids each 200 to `/feedback` accepted."""

    def __init__(self, url: str, transaction: dict, clients: int = 4):
        self.url, self.transaction = url, transaction
        self.statuses: list[int | str] = []
        self.accepted: list[str] = []
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _run(self, client_number: int) -> None:
        deadline = time.monotonic() + LOAD_SECONDS
        with httpx.Client(base_url=self.url, timeout=10) as client:
            for n in range(1_000_000):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                label = f"restart-{os.getpid()}-{client_number}-{n}"  # an id no landed transaction has
                try:
                    predicted = client.post("/predict", json={"transactions": [self.transaction]})
                    fed = client.post("/feedback", json={"labels": [{"transaction_id": label, "is_fraud": 0}]})
                except httpx.TransportError as error:  # the server is down: what the client sees
                    self.statuses.append(type(error).__name__)
                    time.sleep(0.05)
                    continue
                self.statuses += [predicted.status_code, fed.status_code]
                if fed.status_code == 200:
                    self.accepted.append(label)


def start(port: int, log: Path, bentoml_home: Path) -> subprocess.Popen:
    """`mlops serve`, its output appended to `log`."""
    environment = {**os.environ, "BENTOML_HOME": str(bentoml_home)}
    with open(log, "a") as output:
        return subprocess.Popen(
            [MLOPS, "serve", "--port", str(port)], cwd=REPO_ROOT, env=environment,
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip


@pytest.mark.timeout(900)  # a hang guard: each wait below is bounded on its own
def test_a_server_killed_under_load_comes_back_and_wrote_nothing_half(served: Served, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"
    transaction = new_transactions(served, 1)[0]
    server = start(port, log, tmp_path / "bentoml")
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            wait_ready(client, server, START_SECONDS)
            with Load(url, transaction) as load:
                deadline = time.monotonic() + PHASE_SECONDS
                while len(load.accepted) < 40:  # mid-load: requests in flight on both workers
                    assert time.monotonic() < deadline, f"the load did not get going: {load.statuses[-10:]}"
                    time.sleep(0.05)
                answered_before_kill = len(load.statuses)
                killed = kill_tree(server.pid)
                server.wait(timeout=30)
                assert len(killed) >= 4  # mlops, BentoML's arbiter and its two workers
                assert not psutil.wait_procs(killed, timeout=30)[1]  # none left alive
                accepted_before = len(load.accepted)
                server = start(port, log, tmp_path / "bentoml")
                wait_ready(client, server, START_SECONDS)
                ready_at = len(load.statuses)
                deadline = time.monotonic() + PHASE_SECONDS
                while len(load.accepted) < accepted_before + 40:
                    assert time.monotonic() < deadline, f"the load did not resume: {load.statuses[-10:]}"
                    time.sleep(0.05)
            # Before the kill and once ready again, every answer was a 200; between, the server
            # was gone (connection errors). Each client may have had one request in flight at
            # either moment, recorded later.
            assert set(load.statuses[:answered_before_kill]) == {200}, load.statuses[:answered_before_kill]
            in_flight = len(load.threads)
            assert set(load.statuses[ready_at + in_flight :]) == {200}, load.statuses[ready_at:]
            assert len(load.statuses) - ready_at >= 80  # 40 pairs after the restart
            info = client.get("/model").json()
            assert info["version"] == served.registry.alias("champion").version and info["degraded"] == {}
    finally:
        started = descendants(server.pid)
        server.terminate()  # `mlops serve` stops BentoML, which stops its workers
        server.wait(timeout=60)
        for process in started:  # and nothing it started may outlive the test
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()

    # Every label a 200 accepted is in a whole, readable file; the kill left no visible partial one.
    labels = LabelFolder.of_landing(served.settings.landing_dir).folder
    written = pd.concat([labels.read_parquet(info.base_name) for info in labels.files((".parquet",))])
    ours = written[written["transaction_id"].str.startswith(f"restart-{os.getpid()}-")]
    assert set(load.accepted) <= set(ours["transaction_id"])
    assert not ours["transaction_id"].duplicated().any()
