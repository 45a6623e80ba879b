"""Drift over time: each window of a deployment's prediction log against its reference sample.

:func:`monitor` reads the log (:mod:`~jupyter_mlops.monitoring.labels`), cuts it into windows
aligned on multiples of the window length since the Unix epoch (as ``pandas`` resampling does,
so the same traffic always falls in the same windows), and for each window and served version:

- tests the window's inputs against the reference sample stored with that model version
  (``register_model(..., reference_data=X)``) with :func:`~jupyter_mlops.monitoring.detect_drift`;
- tests the window's predictions against the version's predictions on the reference sample
  (prediction drift);
- computes model metrics on the rows that have labels (``log_labels``), with the evaluation
  module's :func:`~jupyter_mlops.evaluation.measure.measure` (the gate's metrics);
- raises an alert when the dataset or the predictions drifted.

Each window's result is stored in the table ``drift_windows`` under
``<deployment>/<window ms>/<window start ms>/<version>``: running ``monitor`` again replaces the
windows it computes, never duplicates them, unless the stored result saw more rows (the server
trims its log to the newest rows, and ``since`` can cut a window short): a window is never
replaced by a view of part of it. :func:`list_drift_windows` reads them back.

(This module is not called ``monitor``: importing a submodule binds its name on the package, so
a ``monitoring/monitor.py`` would hide the function ``jupyter_mlops.monitoring.monitor``.)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from jupyter_mlops.entities.monitoring import MonitorWindowDoc
from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.jsonable import plain as _plain
from jupyter_mlops.monitoring.drift import detect_drift
from jupyter_mlops.monitoring.labels import (
    LogFrames,
    Reference,
    ServedVersions,
    align_inputs,
    deployment_doc,
    no_traffic_message,
    parse_duration,
    parse_time,
    read_labels,
    read_log,
    window_metrics,
)
from jupyter_mlops.monitoring.methods import get_method
from jupyter_mlops.monitoring.report import DriftReport, _now
from jupyter_mlops.store import get_store

__all__ = ["MIN_ROWS", "DriftWindow", "MonitorResult", "list_drift_windows", "monitor"]

MIN_ROWS = 30
TABLE = "drift_windows"  # jupyter_mlops.entities.monitoring.WINDOWS


@dataclass(frozen=True)
class DriftWindow:
    """One window of one served version: its drift, prediction drift, metrics and alert.

    Attributes
    ----------
    window_start, window_end : pandas.Timestamp
        The window, UTC, start included and end excluded.
    version : int or None
        The model version that served these rows (``None`` for a ``runs:/`` deployment).
    rows, labelled : int
        Predictions in the window; those with a label.
    status : str
        ``ok`` (tested) or ``too few rows (12 < 30)``.
    complete : bool
        Whether the window had ended when it was computed (an open window can still change).
    report : DriftReport or None
        The inputs against the reference sample (``None`` when not tested).
    prediction : dict
        Prediction drift: ``status, drifted, method, statistic, p_value, threshold``.
    metrics : dict
        Model metrics on the labelled rows (accuracy, f1... or mae, rmse, r2...).
    alert, alert_reason
        Whether the dataset or the predictions drifted, and how, in words.
    contract : dict
        Data-contract violations of the window's requests: ``checked``, ``violating``,
        ``share`` and ``by_rule`` (``{}`` when the version has no contract).
    """

    deployment: str
    window: str
    window_ms: int
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    version: int | None
    rows: int
    complete: bool = True
    drift_share_threshold: float = 0.5
    status: str = "ok"
    report: DriftReport | None = None
    prediction: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    labelled: int = 0
    notes: tuple[str, ...] = ()
    alert: bool = False
    alert_reason: str = ""
    contract: dict[str, Any] = field(default_factory=dict)

    @property
    def violation_share(self) -> float:
        """Share of the window's rows that broke the data contract (NaN without one)."""
        return float(self.contract["share"]) if self.contract else math.nan

    @property
    def dataset_drift(self) -> bool | None:
        """Whether the inputs drifted (``None`` when the window was not tested)."""
        return None if self.report is None else self.report.dataset_drift

    @property
    def drift_share(self) -> float:
        """Share of drifted columns (NaN when the window was not tested)."""
        return math.nan if self.report is None else self.report.drift_share

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the drifted columns."""
        return [] if self.report is None else self.report.drifted_columns

    def row(self) -> dict[str, Any]:
        """The window as one row of :attr:`MonitorResult.windows`."""
        pred = self.prediction
        score = pred.get("p_value") if pred.get("p_value") is not None else pred.get("statistic")
        report = self.report
        return {
            "window_start": self.window_start, "window_end": self.window_end,
            "version": self.version, "rows": self.rows, "status": self.status,
            "dataset_drift": self.dataset_drift, "drift_share": self.drift_share,
            "n_drifted": None if report is None else report.n_drifted,
            "n_tested": None if report is None else report.n_tested,
            "drifted_columns": self.drifted_columns,
            "prediction_drift": pred.get("drifted"), "prediction_method": pred.get("method"),
            "prediction_score": score, "labelled": self.labelled,
            **{f"metrics.{k}": v for k, v in sorted(self.metrics.items())},
            "alert": self.alert, "alert_reason": self.alert_reason, "complete": self.complete,
            "violation_share": self.violation_share,
        }  # fmt: skip

    def chart_point(self) -> dict[str, Any]:
        """What :func:`~jupyter_mlops.monitoring.charts.drift_over_time` draws of it."""
        return {
            "window_start": self.window_start.isoformat(),
            "drift_share": self.drift_share,
            "dataset_drift": bool(self.dataset_drift),
            "drift_share_threshold": self.drift_share_threshold,
            "columns": [] if self.report is None else self.report.to_dict()["columns"],
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (the report without its chart data), as stored."""
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data.update(
            window_start=self.window_start.isoformat(),
            window_end=self.window_end.isoformat(),
            window_start_ms=self.window_start.value // 1_000_000,
            notes=list(self.notes),
            prediction={k: _plain(v) for k, v in self.prediction.items()},
            report=None if self.report is None else {**self.report.to_dict(), "distributions": {}},
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftWindow:
        """The window that :meth:`to_dict` gave ``data``."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known.update(
            window_start=pd.Timestamp(known["window_start"]),
            window_end=pd.Timestamp(known["window_end"]),
            notes=tuple(known.get("notes") or ()),
            report=known.get("report") and DriftReport.from_dict(known["report"]),
        )
        return cls(**known)


def window_key(window: DriftWindow) -> str:
    """The window's document id in the ``drift_windows`` table."""
    start = window.window_start.value // 1_000_000
    return MonitorWindowDoc(window.deployment, window.window_ms, start, window.version, 0).key


COLUMNS = (
    "window_start", "window_end", "version", "rows", "status", "dataset_drift", "drift_share",
    "violation_share",
    "n_drifted", "n_tested", "drifted_columns", "prediction_drift", "prediction_method",
    "prediction_score", "labelled", "alert", "alert_reason", "complete",
)  # fmt: skip


def _windows_frame(results: list[DriftWindow]) -> pd.DataFrame:
    rows = [r.row() for r in results]
    metrics = sorted({k for row in rows for k in row if k.startswith("metrics.")})
    cut = COLUMNS.index("labelled") + 1
    frame = pd.DataFrame(rows, columns=[*COLUMNS[:cut], *metrics, *COLUMNS[cut:]])
    return frame.astype(_DTYPES)


_DTYPES = {
    "version": "Int64", "n_drifted": "Int64", "n_tested": "Int64", "dataset_drift": "boolean",
    "prediction_drift": "boolean", "alert": "boolean", "complete": "boolean",
    "drift_share": "float64", "prediction_score": "float64", "violation_share": "float64",
}  # fmt: skip


@dataclass(frozen=True)
class MonitorResult:
    """The windows :func:`monitor` computed over a deployment's traffic.

    Attributes
    ----------
    deployment, window : str
        What was monitored, and the window length (``"1h"``).
    windows : pandas.DataFrame
        One row per window and served version, in time order: ``window_start, window_end,
        version, rows, status, dataset_drift, drift_share, n_drifted, n_tested,
        drifted_columns, prediction_drift, prediction_method, prediction_score, labelled``,
        ``metrics.<name>`` for each metric computed, ``alert, alert_reason, complete``.
    results : tuple of DriftWindow
        The same windows with their full drift reports (chart data included).
    message : str
        Why the result is empty, when it is.
    """

    deployment: str
    window: str
    windows: pd.DataFrame
    results: tuple[DriftWindow, ...] = ()
    message: str = ""

    @classmethod
    def build(cls, deployment: str, window: str, results: list[DriftWindow]) -> MonitorResult:
        """A result from its windows."""
        return cls(deployment, window, _windows_frame(results), tuple(results))

    @classmethod
    def empty(cls, deployment: str, window: str, message: str) -> MonitorResult:
        """A result without windows, saying why."""
        return cls(deployment, window, _windows_frame([]), (), message)

    @property
    def alerts(self) -> list[DriftWindow]:
        """The windows whose inputs or predictions drifted."""
        return [r for r in self.results if r.alert]

    def plot(self, columns: list[str] | None = None) -> Any:
        """Drift over time (matplotlib Figure); ``columns`` adds those columns' scores."""
        from jupyter_mlops.monitoring import charts

        return charts.drift_over_time([r.chart_point() for r in self.results], columns)

    def summary(self) -> str:
        """One line: windows, alerts and the latest alert."""
        if not self.results:
            return self.message or f"{self.deployment}: no windows"
        tested = sum(r.status == "ok" for r in self.results)
        text = (
            f"{self.deployment}, {self.window} windows: {len(self.results)} window(s), "
            f"{tested} tested, {len(self.alerts)} alert(s)"
        )
        if self.alerts:
            last = self.alerts[-1]
            text += f"; latest {last.window_start:%Y-%m-%d %H:%M:%S} UTC: {last.alert_reason}"
        return text

    def __repr__(self) -> str:
        return f"<MonitorResult {self.summary()}>"

    def _repr_html_(self) -> str:
        import html

        table = self.windows.drop(columns=["drifted_columns"]).to_html(index=False, na_rep="")
        return f"<p><b>Drift over time</b> {html.escape(self.summary())}</p>{table}"


def list_drift_windows(deployment: str | None = None, window: str | None = None) -> pd.DataFrame:
    """Stored window results (of one deployment and window length, if given), oldest first.

    Returns
    -------
    pandas.DataFrame
        ``deployment``, ``window``, then the columns of :attr:`MonitorResult.windows`.
    """
    docs = [
        d.to_doc()
        for d in get_store().list_monitor_windows()
        if (deployment is None or d.deployment == deployment)
        and (window is None or d.body.get("window") == window)
    ]
    results = sorted((DriftWindow.from_dict(d) for d in docs), key=lambda r: r.window_start)
    frame = _windows_frame(results)
    frame.insert(0, "window", [r.window for r in results])
    frame.insert(0, "deployment", [r.deployment for r in results])
    return frame


def monitor(
    deployment: str,
    window: Any = "1h",
    reference: Any = None,
    columns: Any = None,
    method: Any = None,
    threshold: Any = None,
    on_alert: Callable[[DriftWindow], Any] | None = None,
    since: Any = None,
    *,
    min_rows: int = MIN_ROWS,
    drift_share: float = 0.5,
    save: bool = True,
) -> MonitorResult:
    """Drift of each time window of a deployment's traffic against its reference sample.

    Parameters
    ----------
    deployment : str
        The deployment's name.
    window : str or timedelta
        Window length: a number and a unit, ``"15m"``, ``"1h"``, ``"1d"`` (s, m, h, d, w).
    reference : DataFrame or str, optional
        Compare every window with this sample, or with the reference stored with this model
        URI, instead of the one stored with the version that served the window.
    columns, method, threshold
        As in :func:`~jupyter_mlops.monitoring.detect_drift`.
    on_alert : callable, optional
        Called with each alerting :class:`DriftWindow`, once per window: a window already
        stored as alerting is not announced again. Called before the windows are stored, so
        if it raises, nothing is stored and the next run announces again.
    since : optional
        Only traffic from this time on: ISO text, a datetime, epoch ms or ``"2h"`` (ago).
    min_rows : int
        Windows with fewer rows are not tested (status ``too few rows``).
    drift_share : float
        Share of drifted columns at which a window's dataset drifts.
    save : bool
        Store the window results in the ``drift_windows`` table.

    Returns
    -------
    MonitorResult
        ``.windows`` (one row per window and version), ``.alerts``, ``.results``; empty, with
        a ``.message``, when nothing was logged yet.

    Raises
    ------
    NotFound
        An unknown deployment, or a served version stored without a reference sample.
    InvalidInput
        A bad window, time, reference, method, column or threshold.
    """
    doc = deployment_doc(deployment)
    opts = _Options.check(window, reference, columns, method, threshold, drift_share, min_rows)
    if on_alert is not None and not callable(on_alert):
        raise InvalidInput(f"on_alert must be a function of one window, not {on_alert!r}.")
    log = read_log(deployment, parse_time(since))
    if not len(log):
        return MonitorResult.empty(deployment, opts.label, no_traffic_message(doc, since))
    labels = read_labels(deployment)
    versions = ServedVersions(doc, opts.reference)
    results = [
        _window(deployment, opts, versions, log, rows, labels)
        for rows in _split(log.meta, opts.window_ms)
    ]
    _announce(results, on_alert)
    if save:
        _save(results)
    return MonitorResult.build(deployment, opts.label, results)


@dataclass(frozen=True)
class _Options:
    """The caller's choices, checked before any data is read."""

    label: str
    window_ms: int
    reference: Any
    detect: dict[str, Any]
    min_rows: int

    @classmethod
    def check(cls, window, reference, columns, method, threshold, drift_share, min_rows):
        """Options from :func:`monitor`'s arguments; ``InvalidInput`` on a bad one."""
        window_ms = parse_duration(window)
        label = window if isinstance(window, str) else f"{window_ms // 1000}s"
        if reference is not None and not isinstance(reference, (pd.DataFrame, str)):
            raise InvalidInput(
                "reference must be a DataFrame or a model URI (models:/NAME/VERSION), "
                f"not {type(reference).__name__}."
            )
        if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
            raise InvalidInput(f"min_rows must be a positive whole number, got {min_rows!r}.")
        for spec in method.values() if isinstance(method, Mapping) else [method]:
            if spec is not None:
                get_method(spec)  # an unknown method is a mistake even without traffic
        detect = dict(columns=columns, method=method, threshold=threshold, drift_share=drift_share)
        return cls(label.strip(), window_ms, reference, detect, min_rows)


# -- windows -----------------------------------------------------------------------------------
def _split(meta: pd.DataFrame, window_ms: int) -> list[pd.DataFrame]:
    """The log's rows grouped by window start, then served version, in time order."""
    starts = (meta["ts"] // window_ms) * window_ms
    keyed = meta.assign(window_start=starts, vkey=meta["version"].map(_version_key))
    groups = keyed.groupby(["window_start", "vkey"], sort=True, dropna=False)
    return [rows for _, rows in groups]


def _version_key(version: Any) -> str:
    return "-" if version is None else str(version)


def _window(
    deployment: str,
    opts: _Options,
    versions: ServedVersions,
    log: LogFrames,
    rows: pd.DataFrame,
    labels: pd.DataFrame,
) -> DriftWindow:
    """One window of one version: metrics always, drift when it has ``min_rows`` rows."""
    start = int(rows["window_start"].iloc[0])
    version = rows["version"].iloc[0]
    base = DriftWindow(
        deployment=deployment,
        window=opts.label,
        window_ms=opts.window_ms,
        window_start=_stamp(start),
        window_end=_stamp(start + opts.window_ms),
        version=None if version is None else int(version),
        rows=len(rows),
        complete=start + opts.window_ms <= pd.Timestamp.now("UTC").value // 1_000_000,
        drift_share_threshold=float(opts.detect["drift_share"]),
    )
    inputs = log.inputs.loc[rows.index]
    metrics, labelled, notes = window_metrics(versions, base.version, rows, inputs, labels)
    base = dataclasses.replace(
        base, metrics=metrics, labelled=labelled, notes=notes, contract=_violations(rows)
    )
    if len(rows) < opts.min_rows:
        return dataclasses.replace(base, status=f"too few rows ({len(rows)} < {opts.min_rows})")
    return _tested(base, opts, versions.get(base.version), rows, inputs)


def _violations(rows: pd.DataFrame) -> dict[str, Any]:
    from jupyter_mlops.contracts.monitoring import violation_summary

    return violation_summary(rows["violations"]) if "violations" in rows else {}


def _stamp(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC")


def _tested(base: DriftWindow, opts: _Options, ref: Reference, rows, inputs) -> DriftWindow:
    """``base`` with its drift report, prediction drift and alert."""
    current = align_inputs(inputs, ref.frame)
    report = detect_drift(ref.frame, current, progress=False, **opts.detect)
    report = dataclasses.replace(
        report, window_start=base.window_start.isoformat(), window_end=base.window_end.isoformat()
    )
    prediction = ref.prediction_drift(rows["prediction"])
    reasons = _alert_reasons(report, prediction)
    return dataclasses.replace(
        base,
        status="ok",
        report=report,
        prediction=prediction,
        alert=bool(reasons),
        alert_reason="; ".join(reasons),
    )


def _alert_reasons(report: DriftReport, prediction: dict[str, Any]) -> list[str]:
    reasons = []
    if report.dataset_drift:
        names = ", ".join(report.drifted_columns[:5])
        more = " ..." if report.n_drifted > 5 else ""
        reasons.append(
            f"dataset drift: {report.n_drifted} of {report.n_tested} columns "
            f"({report.drift_share:.0%}): {names}{more}"
        )
    if prediction.get("drifted"):
        score = prediction["p_value"]
        shown = f"p = {score:.3g}" if score is not None else f"{prediction['statistic']:.3g}"
        reasons.append(f"prediction drift ({prediction['method']}, {shown})")
    return reasons


# -- alerts and storage ------------------------------------------------------------------------
def _announce(results: list[DriftWindow], on_alert: Callable[[DriftWindow], Any] | None) -> None:
    if on_alert is None:
        return
    stored = {d.key: d.body for d in get_store().list_monitor_windows()}
    for result in results:
        if result.alert and not (stored.get(window_key(result)) or {}).get("alert"):
            on_alert(result)


def _save(results: list[DriftWindow]) -> None:
    """Store the windows (one ``save_monitor_windows``: never over a window that saw more)."""
    now = _now()
    docs = [MonitorWindowDoc.from_doc({**r.to_dict(), "computed_at": now}) for r in results]
    get_store().save_monitor_windows(docs)
