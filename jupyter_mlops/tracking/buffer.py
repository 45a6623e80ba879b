"""Metric points buffered in memory and written in batches off the caller's thread.

``log_metric`` in a training loop must cost microseconds, so it only appends a tuple to a list.
A daemon thread flushes the list to the store at least every ``interval`` seconds; runs ending,
cells ending (the magics' hook) and interpreter exit flush it too. A failed flush keeps the points
and warns once; they are retried on the next flush, and the user hears when they got through.
Each batch is one store transaction (``log_metric_points``), which either commits whole or
leaves nothing behind, so a retry never writes a point twice.

A store behind a network (``Store.remote``, e.g. an MLflow server) may be slow or down, and a
user's cell must not wait on it: for such stores writes that can wait (points, a run's final
status) are queued as *tasks* after the points, and callers hand the flush to the thread and
wait a bounded time (:meth:`MetricBuffer.flush` with ``wait``).
"""

from __future__ import annotations

import atexit
import threading
import time
import warnings
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from jupyter_mlops.errors import PartialWrite

if TYPE_CHECKING:
    from jupyter_mlops.store.base import MetricPoint, Store

FLUSH_INTERVAL_S = 0.5


class MetricBuffer:
    """Points waiting to be written to one store."""

    def __init__(self, store: Store, interval: float = FLUSH_INTERVAL_S):
        self.store = store
        self.interval = interval
        self._pending: deque[tuple[str, MetricPoint]] = deque()
        self._tasks: deque[Callable[[], None]] = deque()
        self._waiters: list[threading.Event] = []
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._warned = False
        self._failing = False
        self._thread: threading.Thread | None = None
        _buffers.add(self)

    def defer(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the flush thread after the points queued before it (retried)."""
        self._tasks.append(task)
        if self._thread is None:
            self._start()

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
            waiters, self._waiters = self._waiters, []
            try:
                self._flush_now(raise_errors=False)
            except Exception:  # noqa: S110 - e.g. a warning turned into an error: keep flushing
                pass
            finally:
                for waiter in waiters:
                    waiter.set()

    def flush(self, raise_errors: bool = True, wait: float | None = None) -> bool:
        """Write every queued point (grouped by run, in batches), then every deferred task.

        With ``wait``, the flush thread does the work and the caller waits at most ``wait``
        seconds for it (errors are then never raised); returns whether it finished in time.
        """
        if wait is None:
            self._flush_now(raise_errors)
            return True
        if self._thread is None:
            if not self._pending and not self._tasks:
                return True
            self._start()
        done = threading.Event()
        self._waiters.append(done)
        self._wake.set()
        return done.wait(wait)

    def _flush_now(self, raise_errors: bool) -> None:
        with self._flush_lock:
            by_run: dict[str, list[MetricPoint]] = {}
            pop = self._pending.popleft
            for _ in range(len(self._pending)):
                rid, point = pop()
                by_run.setdefault(rid, []).append(point)
            failed: list[tuple[str, MetricPoint]] = []
            error: Exception | None = None
            batch = self.store.metric_batch
            for rid, points in by_run.items():
                for start in range(0, len(points), batch):
                    chunk = points[start : start + batch]
                    try:
                        self.store.log_metric_points(rid, chunk)
                    except PartialWrite as e:  # keep what did not get through
                        failed.extend((rid, p) for p in e.unsent)
                        error = e
                    except Exception as e:  # keep the points; the next flush retries
                        failed.extend((rid, p) for p in chunk)
                        error = e
            if failed:
                self._pending.extendleft(reversed(failed))
            while error is None and self._tasks:
                try:
                    self._tasks[0]()
                except Exception as e:  # keep it (and what follows) for the next flush
                    error = e
                else:
                    self._tasks.popleft()
        if error is not None:
            self._failing = True
            if raise_errors:
                raise error
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"jupyter_mlops could not write to the store yet: {error} "
                    f"{len(self._pending)} metric points are kept in memory and written as "
                    "soon as the store takes them (you hear when it does).",
                    RuntimeWarning,
                    stacklevel=2,
                )
        elif self._failing:
            self._failing, self._warned = False, False
            print(f"jupyter_mlops: the store {self.store.uri} answers again; kept points sent.")


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
