"""Drift monitoring: compare a current sample with a reference sample, column by column.

``detect_drift(reference, current)`` returns a :class:`DriftReport`; ``report.save(name)``
stores it and :func:`list_drift_reports` lists the stored ones. The statistics live in
:mod:`.methods` (one small class per method), the column kinds in :mod:`.kinds`, the charts in
:mod:`.charts`. See ``docs/drift.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "detect_drift": "jupyter_mlops.monitoring.drift",
    "DriftReport": "jupyter_mlops.monitoring.report",
    "list_drift_reports": "jupyter_mlops.monitoring.report",
    "get_drift_report": "jupyter_mlops.monitoring.report",
    "DriftMethod": "jupyter_mlops.monitoring.methods",
    "register_method": "jupyter_mlops.monitoring.methods",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_mlops.monitoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
