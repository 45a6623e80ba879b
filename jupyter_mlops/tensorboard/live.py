"""Live export: event files that follow runs while they log.

:func:`live_export` starts one daemon thread per log folder. Every ``interval`` seconds it looks
for RUNNING runs (of the given experiments, logged by any process sharing the store) and appends
their new points to their event files (:func:`jupyter_mlops.tensorboard.export.export_run`); a
run seen running gets one last export after it ends, with its hparams. A TensorBoard watching the
folder (``--reload_interval`` of a few seconds, as ``%mlops_tensorboard`` starts it) shows the
curves growing. Costs one store search per interval, and reading the histories of running runs.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from typing import Any

from jupyter_mlops.errors import NotFound
from jupyter_mlops.tensorboard.export import check_logdir, export_run

LIVE_INTERVAL_S = 2.0
_exporters: dict[tuple[str, tuple[str, ...] | None], LiveExporter] = {}
_lock = threading.Lock()


class LiveExporter:
    """Keeps the event files under ``logdir`` up to date with running runs."""

    def __init__(
        self,
        logdir: str,
        experiments: Sequence[str] | None = None,
        interval: float = LIVE_INTERVAL_S,
    ):
        self.logdir = check_logdir(logdir)
        self.experiments = tuple(experiments) if experiments else None
        self.interval = float(interval)
        self.running: dict[str, dict[str, Any]] = {}
        self.syncs = 0
        self._warned = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mlops-tb-live", daemon=True)

    def start(self) -> LiveExporter:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following (after one last pass)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 5)
        self.sync()

    @property
    def alive(self) -> bool:
        """Whether the thread is following runs."""
        return self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync()
            except Exception as e:  # keep following; say it once
                if not self._warned:
                    self._warned = True
                    warnings.warn(f"jupyter_mlops: live TensorBoard export: {e}", stacklevel=1)

    def sync(self) -> int:
        """One pass: export running runs and those that ended since the last pass."""
        from jupyter_mlops.store import get_store
        from jupyter_mlops.tracking import fluent

        try:
            now = fluent.find_runs(self.experiments, filter="attributes.status = 'RUNNING'")
        except NotFound:  # the experiment does not exist yet
            now = []
        store = get_store()
        current = {run["run_id"]: run for run in now}
        ended = [store.get_run(run_id) for run_id in self.running if run_id not in current]
        added = 0
        for run in [*now, *ended]:
            added += export_run(self.logdir, {**self.running.get(run["run_id"], {}), **run}).added
        self.running = current
        self.syncs += 1
        return added


def live_export(
    logdir: str, experiments: Sequence[str] | str | None = None, interval: float = LIVE_INTERVAL_S
) -> LiveExporter:
    """Follow running runs into ``logdir`` (one exporter per folder and experiments)."""
    if isinstance(experiments, str):
        experiments = [experiments]
    probe = LiveExporter(logdir, experiments, interval)
    key = (probe.logdir, probe.experiments)
    with _lock:
        exporter = _exporters.get(key)
        if exporter is None or not exporter.alive:
            exporter = _exporters[key] = probe.start()
        return exporter


def stop_live_exports() -> None:
    """Stop every live exporter of this process."""
    with _lock:
        exporters = list(_exporters.values())
        _exporters.clear()
    for exporter in exporters:
        exporter.stop()
