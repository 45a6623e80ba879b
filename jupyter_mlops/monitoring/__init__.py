"""Drift monitoring: compare a current sample with a reference sample, column by column.

``detect_drift(reference, current)`` returns a :class:`DriftReport`; ``report.save(name)``
stores it and :func:`list_drift_reports` lists the stored ones. ``monitor(deployment, window)``
does the same for each time window of a deployment's prediction log (:mod:`.windows`), and
``log_labels`` adds ground truth for per-window metrics (:mod:`.labels`). The statistics live in
:mod:`.methods` (one small class per method), the column kinds in :mod:`.kinds`, the charts in
:mod:`.charts`. See ``docs/drift.md``.
"""

from __future__ import annotations

from jupyter_mlops._lazy import lazy_api

_API = {
    "detect_drift": "jupyter_mlops.monitoring.drift",
    "DriftReport": "jupyter_mlops.monitoring.report",
    "list_drift_reports": "jupyter_mlops.monitoring.report",
    "get_drift_report": "jupyter_mlops.monitoring.report",
    "DriftMethod": "jupyter_mlops.monitoring.methods",
    "register_method": "jupyter_mlops.monitoring.methods",
    "monitor": "jupyter_mlops.monitoring.windows",
    "MonitorResult": "jupyter_mlops.monitoring.windows",
    "DriftWindow": "jupyter_mlops.monitoring.windows",
    "list_drift_windows": "jupyter_mlops.monitoring.windows",
    "log_labels": "jupyter_mlops.monitoring.labels",
    "prediction_log": "jupyter_mlops.monitoring.labels",
}
__getattr__, __dir__, __all__ = lazy_api(__name__, _API)
