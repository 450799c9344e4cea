"""The processes a test starts: the `mlops` command, a free loopback port for a server, waiting
(bounded) until a condition holds or a server answers, and ending a process with everything it
started, as the end of a container or a pod would: servers here start children in sessions of
their own (BentoML's workers), which a signal to the process group does not reach."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

MLOPS = str(Path(sys.executable).with_name("mlops"))


def free_port() -> int:
    """A loopback port free now (the system's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, seconds: float, what: str, log: Path | None = None) -> None:
    """Polls `condition` each second; on time-out the error ends with the tail of `log`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    tail = f"\n--- the end of {log} ---\n{log.read_text()[-3000:]}" if log else ""
    raise AssertionError(f"timed out after {seconds} s waiting for {what}{tail}")


def answers(port: int) -> bool:
    """Whether a Dagster webserver answers on a loopback port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def status(port: int, path: str) -> int | None:
    """The HTTP status of GET `path` on a loopback port; None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def kill_tree(pid: int) -> list[psutil.Process]:
    """SIGKILL to a process and every process under it; returns them. The tree is read before
    anything is killed: an orphan is no longer found under its parent."""
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        return processes
    return []


def descendants(pid: int) -> list[psutil.Process]:
    """Every process under `pid` now (empty when it is gone)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        return psutil.Process(pid).children(recursive=True)
    return []
