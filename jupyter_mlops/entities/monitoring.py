"""Monitoring documents: saved drift reports and the results of monitor windows.

- ``drift_reports`` [``report_id``]: :class:`DriftReportDoc`, the JSON of
  :meth:`jupyter_mlops.monitoring.DriftReport.to_dict` with the name it was saved under;
- ``drift_windows`` [``<deployment>/<window ms>/<window start ms>/<version>``]:
  :class:`MonitorWindowDoc`, the JSON of one ``DriftWindow`` of ``monitor()``. A window is only
  ever replaced by a result that saw at least as many rows (never by a view of part of it).

Their bodies are owned by :mod:`jupyter_mlops.monitoring` (``DriftReport``, ``DriftWindow``);
the store sees them through these records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REPORTS = "drift_reports"
WINDOWS = "drift_windows"


@dataclass(frozen=True)
class DriftReportDoc:
    """A saved drift report: its id, name, creation time and the report's JSON."""

    report_id: str
    body: dict[str, Any] = field(default_factory=dict)
    name: str | None = None

    @property
    def key(self) -> str:
        return self.report_id

    def to_doc(self) -> dict[str, Any]:
        return {**self.body, "report_id": self.report_id, "name": self.name}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> DriftReportDoc:
        return cls(report_id=str(doc.get("report_id", "")), body=dict(doc), name=doc.get("name"))


def version_key(version: Any) -> str:
    """A served version in a window key (``-`` for a ``runs:/`` deployment)."""
    return "-" if version is None else str(version)


@dataclass(frozen=True)
class MonitorWindowDoc:
    """One window of one served version, as ``monitor()`` computed it."""

    deployment: str
    window_ms: int
    window_start_ms: int
    version: int | None
    rows: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return (
            f"{self.deployment}/{self.window_ms}/{self.window_start_ms}/{version_key(self.version)}"
        )

    def to_doc(self) -> dict[str, Any]:
        return {
            **self.body,
            "deployment": self.deployment,
            "window_ms": self.window_ms,
            "window_start_ms": self.window_start_ms,
            "version": self.version,
            "rows": self.rows,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> MonitorWindowDoc:
        return cls(
            deployment=str(doc.get("deployment", "")),
            window_ms=int(doc.get("window_ms") or 0),
            window_start_ms=int(doc.get("window_start_ms") or 0),
            version=doc.get("version"),
            rows=int(doc.get("rows") or 0),
            body=dict(doc),
        )
