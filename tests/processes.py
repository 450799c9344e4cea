"""Ending a process with everything it started, as the end of a container or a pod would: servers
here start children in sessions of their own (BentoML's workers), which a signal to the process
group does not reach."""

from __future__ import annotations

import contextlib
import signal

import psutil


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
