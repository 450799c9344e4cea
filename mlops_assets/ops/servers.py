"""The server processes the commands start: `dagster dev` (the UI, the daemon and its sensors),
`bentoml serve` of the service and the pipeline's metrics exporter, from the repository root."""

import signal
import subprocess
import sys
from pathlib import Path

from mlops_assets.settings import REPO_ROOT, Settings


def start_server(command: list[str], output=None) -> subprocess.Popen:
    """A server process (`dagster dev`, `bentoml serve`, `mlops exporter`) from the repository
    root, on this state (`main` exported it). A child inherits a signal its parent ignores: a
    non-interactive shell ignores SIGINT (and dagster maps SIGTERM onto SIGINT), a test worker may
    ignore SIGTERM. Both are reset, or a server without handlers of its own could not be stopped."""
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
        preexec_fn=_default_stop_signals,
    )


def _default_stop_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


def start_dagster(settings: Settings, port: int, output=None) -> subprocess.Popen:
    """`dagster dev` on 127.0.0.1 with the local instance: the UI, the daemon, its sensors."""
    settings.ensure_dirs()
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", str(REPO_ROOT / "workspace.yaml")]
    return start_server(command, output)


def serve_command(port: int) -> list[str]:
    """`bentoml serve` of the service on 127.0.0.1:`port`."""
    bentoml = Path(sys.executable).with_name("bentoml")
    return [str(bentoml), "serve", "serving.service:FraudDetector", "--host", "127.0.0.1", "--port", str(port)]


def exporter_command(port: int) -> list[str]:
    """`mlops exporter` (the pipeline's metrics) on 127.0.0.1:`port`."""
    return [str(Path(sys.executable).with_name("mlops")), "exporter", "--port", str(port)]
