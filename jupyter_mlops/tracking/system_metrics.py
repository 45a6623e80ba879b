"""System metrics of a run, sampled in the background (opt-in, as MLflow's).

``start_run(system_metrics=True)`` or ``%%mlops_track --system-metrics`` starts a daemon thread
that samples the machine every :data:`SAMPLE_INTERVAL_S` seconds (and once more when the run
ends, so even a short cell gets a point) and logs, under MLflow's names:

- ``system/cpu_utilization_percentage``
- ``system/system_memory_usage_megabytes``, ``system/system_memory_usage_percentage``
- ``system/disk_usage_megabytes``, ``system/disk_usage_percentage``,
  ``system/disk_available_megabytes`` (the file system of the working folder)
- ``system/disk_read_megabytes``, ``system/disk_write_megabytes`` (since the run started)
- ``system/network_receive_megabytes``, ``system/network_transmit_megabytes`` (since the run
  started)
- per GPU ``i``, when NVML is there (``nvidia-ml-py``): ``system/gpu_<i>_utilization_percentage``,
  ``system/gpu_<i>_memory_usage_megabytes``, ``system/gpu_<i>_memory_usage_percentage``

Readings come from ``psutil`` (the ``[system-metrics]`` extra). A sample takes about a
millisecond, so at one sample every few seconds the cost is far below 1% of a training loop
(measured in ``benchmarks/bench_tensorboard.py``). Points go straight to the store for the run
they belong to, whichever run is active in the meantime.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from typing import Any

from jupyter_mlops.errors import InvalidInput

SAMPLE_INTERVAL_S = 5.0
PREFIX = "system/"
_MB = 1024 * 1024
_monitors: dict[str, SystemMetricsMonitor] = {}
_lock = threading.Lock()


def require_psutil() -> Any:
    """The ``psutil`` module, or a clear error saying how to install it."""
    try:
        import psutil
    except ImportError:
        raise InvalidInput(
            "System metrics need psutil: pip install 'jupyter-mlops[system-metrics]' "
            "(or pip install psutil), or leave system metrics off."
        ) from None
    return psutil


class Gpus:
    """NVML handles, or none when there is no NVIDIA driver or no ``nvidia-ml-py``."""

    def __init__(self) -> None:
        self.nvml: Any = None
        self.handles: list[Any] = []
        try:
            import pynvml

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self.nvml = pynvml
        except Exception:  # no module, no driver, no device: no GPU metrics
            self.handles = []

    def sample(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for i, handle in enumerate(self.handles):
            rates = self.nvml.nvmlDeviceGetUtilizationRates(handle)
            memory = self.nvml.nvmlDeviceGetMemoryInfo(handle)
            out[f"{PREFIX}gpu_{i}_utilization_percentage"] = float(rates.gpu)
            out[f"{PREFIX}gpu_{i}_memory_usage_megabytes"] = memory.used / _MB
            out[f"{PREFIX}gpu_{i}_memory_usage_percentage"] = 100.0 * memory.used / memory.total
        return out


class SystemMetricsMonitor:
    """Samples the machine for one run until :meth:`stop`."""

    def __init__(self, run_id: str, interval: float = SAMPLE_INTERVAL_S, store: Any = None):
        from jupyter_mlops.store import get_store

        self.psutil = require_psutil()
        self.run_id = run_id
        self.interval = float(interval)
        self.store = store or get_store()
        self.samples = 0
        self._warned = False
        self._stop = threading.Event()
        self._gpus = Gpus()
        self._disk_path = os.getcwd()
        self._disk0 = self._disk_io()
        self._net0 = self._net_io()
        self.psutil.cpu_percent(interval=None)  # primes the counter: the next call is a delta
        self._thread = threading.Thread(target=self._loop, name="mlops-system-metrics", daemon=True)

    def start(self) -> SystemMetricsMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling after one last sample (waits for the thread a moment at most)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._log_sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._log_sample()

    def _log_sample(self) -> None:
        try:
            values = self.sample()
            now = int(time.time() * 1000)
            points = [(k, v, self.samples, now) for k, v in values.items()]
            self.store.log_metric_points(self.run_id, points)
            self.samples += 1
        except Exception as e:  # the run's own work must never notice; one warning per run
            if not self._warned:
                self._warned = True
                warnings.warn(f"jupyter_mlops: a system metrics sample failed: {e}", stacklevel=1)

    def sample(self) -> dict[str, float]:
        """One reading of every metric, in MLflow's names."""
        ps = self.psutil
        memory = ps.virtual_memory()
        disk = ps.disk_usage(self._disk_path)
        values = {
            f"{PREFIX}cpu_utilization_percentage": float(ps.cpu_percent(interval=None)),
            f"{PREFIX}system_memory_usage_megabytes": (memory.total - memory.available) / _MB,
            f"{PREFIX}system_memory_usage_percentage": float(memory.percent),
            f"{PREFIX}disk_usage_megabytes": disk.used / _MB,
            f"{PREFIX}disk_usage_percentage": float(disk.percent),
            f"{PREFIX}disk_available_megabytes": disk.free / _MB,
        }
        read, write = self._disk_io()
        values[f"{PREFIX}disk_read_megabytes"] = max(0.0, read - self._disk0[0]) / _MB
        values[f"{PREFIX}disk_write_megabytes"] = max(0.0, write - self._disk0[1]) / _MB
        received, sent = self._net_io()
        values[f"{PREFIX}network_receive_megabytes"] = max(0.0, received - self._net0[0]) / _MB
        values[f"{PREFIX}network_transmit_megabytes"] = max(0.0, sent - self._net0[1]) / _MB
        values.update(self._gpus.sample())
        return values

    def _disk_io(self) -> tuple[float, float]:
        counters = self.psutil.disk_io_counters()
        return (counters.read_bytes, counters.write_bytes) if counters else (0.0, 0.0)

    def _net_io(self) -> tuple[float, float]:
        counters = self.psutil.net_io_counters()
        return (counters.bytes_recv, counters.bytes_sent) if counters else (0.0, 0.0)


def start(run_id: str, interval: float = SAMPLE_INTERVAL_S) -> SystemMetricsMonitor:
    """Start sampling for ``run_id`` (a second call for the same run returns the first monitor)."""
    with _lock:
        monitor = _monitors.get(run_id)
        if monitor is None:
            monitor = _monitors[run_id] = SystemMetricsMonitor(run_id, interval).start()
        return monitor


def stop(run_ids: list[str]) -> None:
    """Stop the monitors of these runs (those that have one)."""
    with _lock:
        monitors = [_monitors.pop(r) for r in run_ids if r in _monitors]
    for monitor in monitors:
        monitor.stop()


def active_monitors() -> list[str]:
    """Run ids being sampled now."""
    with _lock:
        return list(_monitors)


def is_system_metric(key: str) -> bool:
    """Whether a metric key is one of the system metrics (``system/...``)."""
    return key.startswith(PREFIX)
