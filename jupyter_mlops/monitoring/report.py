"""The result of :func:`~jupyter_mlops.monitoring.detect_drift`, its JSON form and its storage.

Saved reports are :class:`~jupyter_mlops.entities.monitoring.DriftReportDoc` documents (table
``drift_reports``, keyed by ``report_id``) holding :meth:`DriftReport.to_dict` plus the name
given to ``save``, written with the store's ``save_drift_report``.
"""

from __future__ import annotations

import datetime as _dt
import html
import uuid
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from jupyter_mlops import jsonable
from jupyter_mlops.errors import InvalidInput, NotFound

TABLE = "drift_reports"  # jupyter_mlops.entities.monitoring.REPORTS
COLUMNS = (
    "column", "kind", "method", "statistic", "p_value", "threshold", "drifted", "status",
    "missing_ref", "missing_cur", "missing_share_change", "n_ref", "n_cur",
)  # fmt: skip
_DTYPES = {
    "statistic": "float64", "p_value": "float64", "threshold": "float64", "drifted": "boolean",
    "missing_ref": "float64", "missing_cur": "float64", "missing_share_change": "float64",
    "n_ref": "Int64", "n_cur": "Int64",
}  # fmt: skip
#: Statuses of the columns that count in the drift share.
TESTED = ("ok", "constant")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True, eq=False)
class DriftReport:
    """Drift of every column of a current sample against a reference sample.

    Attributes
    ----------
    columns : pandas.DataFrame
        One row per column: ``column, kind, method, statistic, p_value, threshold, drifted,
        status, missing_ref, missing_cur, missing_share_change, n_ref, n_cur`` (shares of
        missing values, their change current minus reference, and the non-missing values that
        were tested). ``drifted`` is ``<NA>`` for columns that were not tested.
    dataset_drift : bool
        Whether ``drift_share >= drift_share_threshold`` (never with no tested column).
    drift_share : float
        Share of drifted columns among the tested ones (status ``ok`` or ``constant``).
    drift_share_threshold : float
        The ``drift_share`` argument of ``detect_drift``.
    n_tested, n_drifted : int
        Columns tested, columns drifted.
    reference_rows, current_rows : int
        Rows of the two frames.
    distributions : dict
        Chart data per column (see :func:`jupyter_mlops.monitoring.kinds.distribution`).
    report_id, created_at, name : str
        Identity; ``name`` is set by :meth:`save`.
    window_start, window_end : str or None
        The time window of the current sample, for reports computed over windows.
    """

    columns: pd.DataFrame
    dataset_drift: bool
    drift_share: float
    drift_share_threshold: float = 0.5
    n_tested: int = 0
    n_drifted: int = 0
    reference_rows: int = 0
    current_rows: int = 0
    distributions: dict[str, Any] = field(default_factory=dict)
    report_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: str = field(default_factory=_now)
    name: str | None = None
    window_start: str | None = None
    window_end: str | None = None

    @classmethod
    def build(cls, rows: list[dict], charts: dict, threshold: float, n_ref: int, n_cur: int):
        """A report from the per-column rows of ``detect_drift``."""
        frame = _frame(rows)
        tested = frame[frame["status"].isin(TESTED)]
        n_drifted = int(tested["drifted"].fillna(False).sum())
        share = n_drifted / len(tested) if len(tested) else 0.0
        return cls(
            columns=frame,
            dataset_drift=bool(len(tested) and share >= threshold),
            drift_share=share,
            drift_share_threshold=float(threshold),
            n_tested=len(tested),
            n_drifted=n_drifted,
            reference_rows=int(n_ref),
            current_rows=int(n_cur),
            distributions=charts,
        )

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the columns that drifted."""
        return self.columns.loc[self.columns["drifted"].fillna(False), "column"].tolist()

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON types (``None`` where a value is missing, never ``NaN``)."""
        fields = {k: v for k, v in self.__dict__.items() if k not in ("columns", "distributions")}
        plain = jsonable.plain
        rows = [{k: plain(v) for k, v in row.items()} for row in self.columns.to_dict("records")]
        return {**fields, "columns": rows, "distributions": self.distributions}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftReport:
        """The report that :meth:`to_dict` gave ``data``."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "columns": _frame(data.get("columns", []))})

    def plot(self, column: Any = None) -> Any:
        """A matplotlib Figure: the drift scores, or the distributions of one ``column``."""
        from jupyter_mlops.monitoring import charts

        if column is None:
            return charts.drift_scores(self)
        if str(column) not in set(self.columns["column"]):
            raise InvalidInput(f"The report has no column {column!r}.")
        return charts.distribution(self, str(column))

    def save(self, name: str | None = None) -> str:
        """Store the report in the ``drift_reports`` table; returns its ``report_id``.

        Saving the same report again overwrites it (with the new name, if one is given).
        """
        from jupyter_mlops.entities.monitoring import DriftReportDoc
        from jupyter_mlops.store import get_store

        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise InvalidInput(f"A drift report name is a non-empty string, got {name!r}.")
        doc = DriftReportDoc(self.report_id, self.to_dict(), self.name if name is None else name)
        get_store().save_drift_report(doc)
        return self.report_id

    def __repr__(self) -> str:
        """``<DriftReport drift: 3 of 25 columns drifted (12%; ...)>``."""
        return f"<DriftReport {self.summary()}>"

    def summary(self) -> str:
        """One line: the verdict and the share of drifted columns."""
        verdict = "drift" if self.dataset_drift else "no drift"
        return (
            f"{verdict}: {self.n_drifted} of {self.n_tested} columns drifted "
            f"({self.drift_share:.0%}; dataset drift at {self.drift_share_threshold:.0%})"
        )

    def _repr_html_(self) -> str:
        table = self.columns.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}")
        return f"<p><b>Drift report</b> {html.escape(self.summary())}</p>{table}"


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame = frame.astype({k: v for k, v in _DTYPES.items()})
    for name in ("column", "kind", "method", "status"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def list_drift_reports(name: str | None = None) -> list[DriftReport]:
    """The saved drift reports, newest first (only those called ``name`` if given)."""
    from jupyter_mlops.store import get_store

    docs = get_store().list_drift_reports()
    reports = [DriftReport.from_dict(d.to_doc()) for d in docs if name is None or d.name == name]
    return sorted(reports, key=lambda r: r.created_at, reverse=True)


def get_drift_report(report_id: str) -> DriftReport:
    """The saved drift report ``report_id``."""
    from jupyter_mlops.store import get_store

    doc = get_store().get_drift_report(report_id)
    if doc is None:
        raise NotFound(f"No drift report {report_id!r}; list them with list_drift_reports().")
    return DriftReport.from_dict(doc.to_doc())
