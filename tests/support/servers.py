"""Real servers that the tests talk to, started on loopback ports by the test itself and stopped
by their PID: `moto_server` (the S3 API), PostgreSQL (Debian's `postgresql`: `initdb` and
`pg_ctl`), Redis (Debian's `redis-server`) and MLflow's tracking server. `make test` installs the
Debian packages when they are missing."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import free_port

START_SECONDS = 60
# moto accepts any keys; these name the test's fake account, they are not credentials. They are
# distinct enough for the secrets scan to find anywhere.
S3_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "AKIAMOTOTEST4F2C",
    "AWS_SECRET_ACCESS_KEY": "moto-test-secret-9b1e5d",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:<port>

    def bucket(self, name: str) -> str:
        """Creates the bucket; returns its pyarrow URI (`s3://<name>?endpoint_override=...`)."""
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, region_name=S3_ENVIRONMENT["AWS_DEFAULT_REGION"])
        client.create_bucket(Bucket=name)
        host = self.endpoint.removeprefix("http://")
        return f"s3://{name}?endpoint_override={host}&scheme=http&region={S3_ENVIRONMENT['AWS_DEFAULT_REGION']}"


@contextlib.contextmanager
def moto_server(log_path: Path) -> Iterator[S3Server]:
    """A `moto_server` on a free loopback port, with the fake account's keys in the environment."""
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    with pytest.MonkeyPatch.context() as patch, open(log_path, "w") as log:
        for name, value in S3_ENVIRONMENT.items():
            patch.setenv(name, value)
        process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
        try:
            endpoint = f"http://127.0.0.1:{port}"
            _wait_for(f"{endpoint}/moto-api/", process, "moto_server", START_SECONDS)
            yield S3Server(endpoint)
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_for(url: str, process: subprocess.Popen, name: str, seconds: float) -> None:
    """Until `url` answers; fails if the server's process exits first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{name} exited with {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"{name} did not answer within {seconds} s")


@dataclass(frozen=True)
class PostgresServer:
    port: int
    user: str

    def url(self, database: str) -> str:
        """A SQLAlchemy URL of `database` (passwordless: the server trusts loopback)."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        _run([_postgres_binary("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
              "-d", "postgres", "-c", f'CREATE DATABASE "{name}"'])  # fmt: skip
        return self.url(name)

    def query(self, database: str, sql: str) -> list[str]:
        """The rows `sql` returns, one `|`-separated line each."""
        done = _run([_postgres_binary("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                     "-d", database, "-A", "-t", "-c", sql])  # fmt: skip
        return [line for line in done.stdout.splitlines() if line]

    def dump(self, database: str) -> str:
        """Everything `database` holds, as `pg_dump` writes it (schema and rows, as text)."""
        return _run([_postgres_binary("pg_dump"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                     database]).stdout  # fmt: skip


@contextlib.contextmanager
def postgres_server(log_path: Path) -> Iterator[PostgresServer]:
    """A fresh PostgreSQL cluster on a free loopback port, in a folder of its own, removed after.
    As root (CI), the server runs as Debian's `postgres` user: PostgreSQL refuses to run as root."""
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
    if as_user:
        shutil.chown(data, "postgres")
    cluster, user, port = data / "cluster", "mlops", free_port()
    _run([*as_user, _postgres_binary("initdb"), "-D", str(cluster), "-U", user, "--auth=trust", "-E", "UTF8"])
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {data}"
    try:
        _run([*as_user, _postgres_binary("pg_ctl"), "-D", str(cluster), "-o", options, "-l", str(data / "log"),
              "-w", "-t", str(START_SECONDS), "start"])  # fmt: skip
        try:
            yield PostgresServer(port, user)
        finally:
            # pg_ctl stops the server it started, by the PID in the cluster's postmaster.pid.
            _run([*as_user, _postgres_binary("pg_ctl"), "-D", str(cluster), "-m", "fast", "-w", "stop"])
    finally:
        if (data / "log").exists():
            shutil.copy(data / "log", log_path)
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def redis_server(log_path: Path, password: str | None = None) -> Iterator[str]:
    """A `redis-server` on a free loopback port, keeping nothing on disk and asking clients for
    `password` when given; yields `host:port`."""
    port = free_port()
    command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [*command, *(["--requirepass", password] if password else [])], stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + START_SECONDS
            while not _accepts(port):
                assert process.poll() is None, f"redis-server exited with {process.returncode}"
                assert time.monotonic() < deadline, f"redis-server did not listen within {START_SECONDS} s"
                time.sleep(0.1)
            yield f"127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)


@contextlib.contextmanager
def mlflow_server(folder: Path) -> Iterator[str]:
    """MLflow's tracking server on a free loopback port, its store and artifacts in `folder`
    (log in `folder/mlflow.log`); yields its URL."""
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
               "--artifacts-destination", str(folder / "mlartifacts")]  # fmt: skip
    with open(folder / "mlflow.log", "w") as log:
        # No job runner (for MLflow's GenAI scorers, unused here): on SQLite it held the first
        # write for a minute while it started.
        environment = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        process = subprocess.Popen(command, stdout=log, stderr=log, env=environment)
        try:
            url = f"http://127.0.0.1:{port}"
            # It creates its store first: slow on a loaded machine.
            _wait_for(f"{url}/health", process, "mlflow server", 180)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _postgres_binary(name: str) -> str:
    """A PostgreSQL program: on PATH, or where Debian's `postgresql` puts the server's."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    assert found, f"{name} not found: install Debian's postgresql (make test does)"
    return found


def _run(command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=START_SECONDS, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed: {done.stderr.strip() or done.stdout.strip()}"
    return done
