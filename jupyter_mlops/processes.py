"""Process identity: whether a pid still runs and is the process a record names.

A pid alone can be reused after its process died, so every record that names a process keeps
its start time too (:func:`process_start_time`, from ``/proc`` on Linux), and
:func:`process_alive` checks both. Used by the stores (a RUNNING run whose process is gone is
shown KILLED), deployments and sweeps.
"""

from __future__ import annotations

import os
from typing import Any


def process_alive(pid: Any, proc_start: Any) -> bool:
    """Whether process ``pid`` runs and is the same one (start time) that created the run."""
    if not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state, started = _proc_stat(pid)
    if state == "Z":  # killed, not yet reaped by its parent
        return False
    return proc_start is None or started is None or proc_start == started


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (guards against a reused pid); None off Linux."""
    return _proc_stat(pid)[1]


def _proc_stat(pid: int) -> tuple[str | None, int | None]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None, None
