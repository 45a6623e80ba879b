"""The tracking session: this process' active runs, default experiment and metric buffers.

One :class:`TrackingSession` per process, :func:`session`. The fluent API
(:mod:`~jupyter_mlops.tracking.fluent`) drives it; other modules read it here (the run stack,
the run hooks of context capture, the start hooks of SummaryWriter capture, metric listeners)
instead of reaching into the fluent module's private state. The store is always
:func:`jupyter_mlops.store.get_store`: the session keeps one metric buffer per store.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jupyter_mlops.store import get_store
from jupyter_mlops.tracking.buffer import MetricBuffer

if TYPE_CHECKING:
    from jupyter_mlops.tracking.fluent import ActiveRun

REMOTE_WAIT_S = 2.0
"""How long a read (or ``flush()``) waits for a remote store to take buffered writes; a run's
end and a cell's end do not wait."""
MetricListener = Callable[[str, str, float, int], None]
"""``listener(run_id, key, value, step)``, called for every logged metric point."""


class TrackingSession:
    """Per-process tracking state: active runs, default experiment, buffers, step counters."""

    def __init__(self) -> None:
        self.stack: list[ActiveRun] = []
        self.experiment: str | None = None
        self.buffers: dict[int, MetricBuffer] = {}
        self.steps: dict[tuple[str, str], int] = {}
        self.run_hooks: list[Callable[[ActiveRun], dict[str, str]]] = []
        """Called with each new run; the tags they return are set on it (context capture)."""
        self.start_hooks: list[Callable[[], Any]] = []
        """Called when a run starts (SummaryWriter capture installs itself)."""
        self.metric_listeners: list[MetricListener] = []

    def buffer(self) -> MetricBuffer:
        """The metric buffer of the current store."""
        store = get_store()
        buf = self.buffers.get(id(store))
        if buf is None:
            buf = self.buffers[id(store)] = MetricBuffer(store)
        return buf

    def flush(self, remote_wait: float = REMOTE_WAIT_S) -> None:
        """Write buffered points; never raises.

        A remote store's points are handed to the flush thread and the caller waits
        ``remote_wait`` seconds at most (0: not at all).
        """
        for buf in list(self.buffers.values()):
            buf.flush(raise_errors=False, wait=remote_wait if buf.store.remote else None)

    def current(self, run_id: str | None = None) -> ActiveRun | None:
        """The innermost active run (or the active run ``run_id``), or ``None``."""
        if run_id is None:
            return self.stack[-1] if self.stack else None
        return next((r for r in self.stack if r.id == run_id), None)


_session = TrackingSession()


def session() -> TrackingSession:
    """The tracking session of this process."""
    return _session


def _forget_buffers_in_child() -> None:
    # A forked child (a sweep worker, a fork-based pool) must not share the parent's buffers:
    # their flush thread and locks do not exist there. The run stack is kept.
    _session.buffers = {}


os.register_at_fork(after_in_child=_forget_buffers_in_child)
