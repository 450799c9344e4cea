"""Real servers that the production environment's tests talk to, started on loopback ports by the
test itself and stopped by their PID: `moto_server` (the S3 API)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ingestion.test_daemon import free_port

START_SECONDS = 60
# moto accepts any key; these name the test's fake account, they are not credentials.
S3_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
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
            _wait_for(endpoint, process)
            yield S3Server(endpoint)
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_for(endpoint: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, f"moto_server exited with {process.returncode}"
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"moto_server did not answer within {START_SECONDS} s")
