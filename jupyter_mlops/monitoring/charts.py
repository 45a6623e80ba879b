"""Drift charts as matplotlib ``Figure`` objects.

Figures are built with ``matplotlib.figure.Figure`` directly, never through ``pyplot``: no global
figure state, nothing left open, and they render anywhere (``fig.savefig(...)`` uses Agg).
They draw from a :class:`~jupyter_mlops.monitoring.report.DriftReport` (or its ``to_dict()``)
alone, so a report loaded from the store plots the same as a fresh one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

REFERENCE_COLOR = "#4c72b0"
CURRENT_COLOR = "#dd8452"
DRIFT_COLOR = "#c44e52"
STABLE_COLOR = "#8c8c8c"


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _message(text: str) -> Any:
    fig = _figure(6, 1.5)
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


def severity(row: dict) -> float | None:
    """How far a tested column is past its drift threshold: 1 is the threshold, more is drift.

    Distances count as ``statistic / threshold``; p-values (smaller is more drift) as
    ``log(p) / log(threshold)``. One encoding for every method, so longer always means more
    drift (the side bar draws the same numbers).
    """
    threshold = row.get("threshold")
    if threshold is None or threshold <= 0:
        return None
    if row.get("p_value") is not None:
        if threshold >= 1:
            return None
        # abs: p = 1 gives log(p) = 0.0, and 0.0 / log(threshold) is -0.0, shown as "-0×"
        return abs(math.log(max(row["p_value"], 1e-300)) / math.log(threshold))
    statistic = row.get("statistic")
    return None if statistic is None else statistic / threshold


SEVERITY_CAP = 4.0  # bars longer than 4x the threshold are drawn at 4x (and say so)


def drift_scores(report: Any) -> Any:
    """One bar per tested column: how far past its threshold it is (the line at 1x).

    Longer means more drift, for tests (p-values) and distances alike; drifted columns are red.
    """
    rows = [r for r in _rows(report) if r["status"] == "ok" and severity(r) is not None]
    if not rows:
        return _message("No column could be tested: see the statuses in report.columns.")
    rows.sort(key=lambda r: -(severity(r) or 0))
    fig = _figure(7.5, 1.1 + 0.3 * len(rows))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    scores = [min(severity(r) or 0, SEVERITY_CAP) for r in rows]
    ax.barh(y, scores, color=[DRIFT_COLOR if r["drifted"] else STABLE_COLOR for r in rows],
            height=0.6)  # fmt: skip
    ax.axvline(1, color="black", linestyle="--", linewidth=1.2)
    ax.set_yticks(y, [f"{r['column']} ({r['method']})" for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, max(2.0, max(scores) * 1.05))
    ax.set_xlabel("× threshold (1 = the threshold; longer = more drift)")
    skipped = len(_rows(report)) - len(rows)
    note = f"; {skipped} column(s) not tested" if skipped else ""
    fig.suptitle(f"Drift per column: {_get(report, 'n_drifted')} drifted{note}")
    return fig


def distribution(report: Any, column: str) -> Any:
    """Reference and current distributions of ``column``, as shares of each side's values.

    Numeric and datetime columns: step histograms on the shared bins stored in the report.
    Categorical and boolean columns: side-by-side bars of the most frequent values.
    """
    data = _get(report, "distributions").get(column)
    row = next((r for r in _rows(report) if r["column"] == column), None)
    if data is None or row is None:
        status = row["status"] if row else "not in the report"
        return _message(f"No distribution for column {column!r} ({status}).")
    fig = _figure(6.5, 3.5)
    ax = fig.add_subplot()
    if data["type"] == "histogram":
        _histogram(ax, data)
    else:
        _bars(ax, data)
    ax.set_ylabel("share of values")
    ax.legend(loc="best")
    ax.set_title(_title(row))
    return fig


def _shares(counts: list[int]) -> np.ndarray:
    total = sum(counts)
    return np.asarray(counts, dtype=float) / total if total else np.zeros(len(counts))


def _histogram(ax: Any, data: dict) -> None:
    edges = np.asarray(data["edges"], dtype=float)
    ax.stairs(_shares(data["reference"]), edges, fill=True, alpha=0.45, color=REFERENCE_COLOR,
              label="reference")  # fmt: skip
    ax.stairs(_shares(data["current"]), edges, linewidth=2, color=CURRENT_COLOR, label="current")


def _bars(ax: Any, data: dict) -> None:
    x = np.arange(len(data["categories"]))
    ax.bar(x - 0.2, _shares(data["reference"]), 0.4, color=REFERENCE_COLOR, label="reference")
    ax.bar(x + 0.2, _shares(data["current"]), 0.4, color=CURRENT_COLOR, label="current")
    labels = [c if len(c) <= 18 else c[:17] + "…" for c in data["categories"]]
    crowded = len(x) > 5
    ax.set_xticks(x, labels, rotation=45 if crowded else 0, ha="right" if crowded else "center")


def _title(row: dict) -> str:
    if row["status"] != "ok":
        return f"{row['column']}: {row['status']}"
    p = row["p_value"]
    score = f"p = {p:.3g}" if p is not None else f"{row['method']} = {row['statistic']:.3g}"
    method = f"{row['method']}, " if p is not None else ""
    verdict = "DRIFT" if row["drifted"] else "no drift"
    return f"{row['column']}: {verdict} ({method}{score}, threshold {row['threshold']:.3g})"


def drift_over_time(windows: list[Any], columns: list[str] | None = None) -> Any:
    """Share of drifted columns per window, with the dataset-drift threshold and alerts.

    Parameters
    ----------
    windows : list of DriftReport or dict
        Window results in time order; ``window_start`` gives the x axis (their order if unset).
    columns : list of str, optional
        Also draw these columns' drift scores (p-value or distance) in a second panel.
    """
    if not windows:
        return _message("No window to show yet.")
    x = _window_axis(windows)
    shares = [_get(w, "drift_share") for w in windows]
    alerts = [bool(_get(w, "dataset_drift")) for w in windows]
    fig = _figure(7, 3.2 + (2.4 if columns else 0))
    axes = fig.subplots(2 if columns else 1, 1, sharex=True, squeeze=False)[:, 0]
    ax = axes[0]
    ax.plot(x, shares, marker="o", color=REFERENCE_COLOR, label="share of drifted columns")
    hits = [(a, s) for a, s, hit in zip(x, shares, alerts, strict=True) if hit]
    ax.scatter([a for a, _ in hits], [s for _, s in hits], color=DRIFT_COLOR, zorder=3, s=60,
               label="dataset drift")  # fmt: skip
    ax.axhline(_get(windows[-1], "drift_share_threshold"), color="black", linestyle="--",
               linewidth=1, label="threshold")  # fmt: skip
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("drifted share")
    ax.legend(loc="best", fontsize="small")
    if columns:
        _column_lines(axes[1], x, windows, columns)
    if not isinstance(x[0], (int, np.integer)):
        fig.autofmt_xdate()
    return fig


def _window_axis(windows: list[Any]) -> list[Any]:
    starts = [_get(w, "window_start") for w in windows]
    if any(s is None for s in starts):
        return list(range(len(windows)))
    import pandas as pd

    return list(pd.to_datetime(starts, utc=True).tz_localize(None))


def _column_lines(ax: Any, x: list[Any], windows: list[Any], columns: list[str]) -> None:
    for column in columns:
        values = []
        for window in windows:
            row = next((r for r in _rows(window) if r["column"] == column), None)
            if row is None or row["status"] != "ok":
                values.append(math.nan)
            else:
                values.append(row["statistic"] if row["p_value"] is None else row["p_value"])
        ax.plot(x, values, marker=".", label=column)
    ax.set_ylabel("drift score")
    ax.legend(loc="best", fontsize="small")


def _rows(report: Any) -> list[dict]:
    if isinstance(report, dict):
        return report.get("columns", [])
    return report.to_dict()["columns"]


def _get(report: Any, key: str) -> Any:
    return report.get(key) if isinstance(report, dict) else getattr(report, key)
