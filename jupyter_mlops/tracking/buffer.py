"""Metric points buffered in memory and written in batches off the caller's thread.

``log_metric`` in a training loop must cost microseconds, so it only appends a tuple to a list.
A daemon thread flushes the list to the store at least every ``interval`` seconds; runs ending,
cells ending (the magics' hook) and interpreter exit flush it too. A failed flush keeps the points
and warns once; they are retried on the next flush.
"""

from __future__ import annotations

import atexit
import threading
import time
import warnings
import weakref
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jupyter_mlops.store.base import MetricPoint, Store

FLUSH_INTERVAL_S = 0.5
BATCH = 5000


class MetricBuffer:
    """Points waiting to be written to one store."""

    def __init__(self, store: Store, interval: float = FLUSH_INTERVAL_S):
        self.store = store
        self.interval = interval
        self._pending: deque[tuple[str, MetricPoint]] = deque()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._warned = False
        self._thread: threading.Thread | None = None
        _buffers.add(self)

    def add(self, run_id: str, point: MetricPoint) -> None:
        """Queue one point (thread-safe: ``deque.append`` is atomic)."""
        self._pending.append((run_id, point))
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._flush_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="jupyter-mlops-flush", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush(raise_errors=False)

    def flush(self, raise_errors: bool = True) -> None:
        """Write every queued point, grouped by run, in batches."""
        with self._flush_lock:
            by_run: dict[str, list[MetricPoint]] = {}
            pop = self._pending.popleft
            for _ in range(len(self._pending)):
                rid, point = pop()
                by_run.setdefault(rid, []).append(point)
            failed: list[tuple[str, MetricPoint]] = []
            error: Exception | None = None
            for rid, points in by_run.items():
                for start in range(0, len(points), BATCH):
                    chunk = points[start : start + BATCH]
                    try:
                        self.store.log_metric_points(rid, chunk)
                    except Exception as e:  # keep the points; the next flush retries
                        failed.extend((rid, p) for p in chunk)
                        error = e
            if failed:
                self._pending.extendleft(reversed(failed))
        if error is not None:
            if raise_errors:
                raise error
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"jupyter_mlops could not write metric points yet ({error}); they are kept "
                    "in memory and retried.",
                    RuntimeWarning,
                    stacklevel=2,
                )


_buffers: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:
    deadline = time.monotonic() + 10
    for buffer in list(_buffers):
        if time.monotonic() > deadline:
            break
        try:
            buffer.flush(raise_errors=False)
        except Exception:  # noqa: S110 - nothing more can be done at exit
            pass
