"""What a forked sweep worker does around its trials: settle in, share the budget, leave quietly.

A worker is a copy of the kernel: it must not write to the kernel's output channels (a copy of
its sockets), must stop on SIGINT (Jupyter's interrupt reaches the whole process group), and must
leave with ``os._exit`` so none of the kernel's exit hooks run in it. The store and tracking
modules reset their own per-process state at fork (``os.register_at_fork``).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from typing import Any

from jupyter_mlops.tracking import fluent

_CRASH_LOG = "mlops-sweep-worker-{pid}.log"
PR_SET_PDEATHSIG = 1


def settle_after_fork(parent: int) -> None:
    """Make this fresh child safe: its own output, default Ctrl-C, no shared HTTP sessions.

    When the kernel dies the worker gets SIGINT (Linux), so it records its trial as
    interrupted and leaves, instead of sweeping on with nobody watching.
    """
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the worker
    sys.stdout = sys.stderr = devnull
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _interrupt_when_orphaned()
    if os.getppid() != parent:  # the kernel died before the line above
        raise KeyboardInterrupt
    requests_cache = sys.modules.get("mlflow.utils.request_utils")
    cached = getattr(requests_cache, "_cached_get_request_session", None)
    if cached is not None and hasattr(cached, "cache_clear"):
        cached.cache_clear()  # MLflow keeps one HTTP session per process: not the parent's


def _interrupt_when_orphaned() -> None:
    if not sys.platform.startswith("linux"):
        return  # elsewhere take() notices the new parent before the next trial
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGINT))
    except (OSError, AttributeError):
        pass


def take(budget: Any, stop: Any, deadline: float | None, parent: int) -> bool:
    """Claim one trial of the shared budget (``-1``: no count, only the deadline)."""
    if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
        return False
    if os.getppid() != parent:  # the kernel is gone
        return False
    with budget.get_lock():
        if budget.value == -1:
            return True
        if budget.value <= 0:
            return False
        budget.value -= 1
        return True


def report_crash(error: BaseException) -> None:
    """A worker that died outside a trial leaves its traceback in the temp folder."""
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), _CRASH_LOG.format(pid=os.getpid()))
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("".join(traceback.format_exception(error)))
    except OSError:
        pass


def exit(code: int) -> None:  # noqa: A001 - what it does
    """Flush this worker's metric points, then leave without running the kernel's exit hooks."""
    try:
        fluent.flush()
    finally:
        os._exit(code)
