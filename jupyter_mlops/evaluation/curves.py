"""What the evaluation plots draw, as small JSON-able data (stored with the report).

Curves are thinned to at most :data:`MAX_POINTS` points (evenly spaced along the curve, first
and last kept), scatter plots to :data:`MAX_SCATTER` rows (an even stride): a report on a
million rows stays a few kilobytes, and a report read back from the store plots as it did.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from jupyter_mlops.evaluation import metrics as _m
from jupyter_mlops.evaluation.slices import groups

MAX_POINTS = 200
MAX_SCATTER = 1000
MAX_CLASSES = 10
MAX_FEATURES = 4


def plot_data(
    task: str, labels: _m.Labels, X: Any, fit: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``{plot name: data}`` for the task: the keys :mod:`.plots` knows how to draw."""
    out: dict[str, Any] = {}
    if fit and fit.get("learning_curves"):
        out["learning_curves"] = fit.pop("learning_curves")
    if task == "regression":
        out["residuals"] = _scatter(labels)
    else:
        out["confusion_matrix"] = _confusion(labels)
        if labels.proba is not None:
            out["roc"] = _curves(labels, "roc")
            out["pr"] = _curves(labels, "pr")
            out["calibration"] = _calibration(labels)
    errors = _error_by_feature(task, labels, X)
    if errors:
        out["error_by_feature"] = errors
    return out


def thin(*arrays: np.ndarray) -> list[list[float]]:
    """Arrays of one curve at no more than :data:`MAX_POINTS` evenly spaced indexes."""
    n = len(arrays[0])
    index = np.unique(np.linspace(0, n - 1, min(n, MAX_POINTS)).round().astype(int))
    return [np.round(a[index].astype(float), 5).tolist() for a in arrays]


def _confusion(labels: _m.Labels) -> dict[str, Any]:
    assert labels.classes is not None
    classes = labels.classes[: MAX_CLASSES * 3]
    fn = _m.sklearn_metric("confusion_matrix")
    matrix = fn(labels.y, labels.predicted, labels=classes, sample_weight=labels.weights)
    return {"classes": [str(c) for c in classes], "matrix": matrix.tolist()}


def _curves(labels: _m.Labels, kind: str) -> dict[str, Any]:
    assert labels.classes is not None and labels.proba is not None
    if len(labels.classes) == 2:
        pairs = [(str(labels.positive), labels.is_positive(), labels.positive_proba())]
    else:
        pairs = [
            (str(c), labels.y == c, labels.proba[:, i])
            for i, c in enumerate(labels.classes[:MAX_CLASSES])
        ]
    out = []
    for name, truth, score in pairs:
        if truth.all() or not truth.any():
            continue  # one class only: no curve
        if kind == "roc":
            x, y, _ = _m.sklearn_metric("roc_curve")(truth, score, sample_weight=labels.weights)
        else:
            y, x, _ = _m.sklearn_metric("precision_recall_curve")(
                truth, score, sample_weight=labels.weights
            )
        xs, ys = thin(x, y)
        out.append({"label": name, "x": xs, "y": ys, "prevalence": float(truth.mean())})
    return {"curves": out}


def _calibration(labels: _m.Labels) -> dict[str, Any]:
    confidence, outcome = _m.calibration_pairs(labels)
    bins = np.clip((confidence * _m.CALIBRATION_BINS).astype(int), 0, _m.CALIBRATION_BINS - 1)
    count = np.bincount(bins, minlength=_m.CALIBRATION_BINS)
    full = count > 0
    mean_conf = np.bincount(bins, confidence, _m.CALIBRATION_BINS)[full] / count[full]
    mean_out = np.bincount(bins, outcome, _m.CALIBRATION_BINS)[full] / count[full]
    binary = labels.classes is not None and len(labels.classes) == 2
    return {
        "confidence": np.round(mean_conf, 5).tolist(),
        "observed": np.round(mean_out, 5).tolist(),
        "rows": count[full].tolist(),
        "of": f"P({labels.positive})" if binary else "top class probability",
    }


def _scatter(labels: _m.Labels) -> dict[str, Any]:
    stride = max(1, len(labels.y) // MAX_SCATTER)
    actual = labels.y[::stride].astype(float)
    predicted = labels.predicted[::stride].astype(float)
    return {
        "actual": np.round(actual, 6).tolist(),
        "predicted": np.round(predicted, 6).tolist(),
        "rows": int(len(labels.y)),
    }


def _error_by_feature(task: str, labels: _m.Labels, X: Any) -> list[dict[str, Any]]:
    if not isinstance(X, pd.DataFrame) or X.shape[1] == 0:
        return []
    if task == "regression":
        error = np.abs(labels.y.astype(float) - labels.predicted.astype(float))
        what = "mean absolute error"
    else:
        error = (labels.y != labels.predicted).astype(float)
        what = "error rate"
    out = []
    for column in list(X.columns)[:MAX_FEATURES]:
        parts = groups(X[column])
        out.append(
            {
                "column": str(column),
                "what": what,
                "slices": [label for label, _ in parts],
                "error": [round(float(error[mask].mean()), 6) for _, mask in parts],
                "rows": [int(mask.sum()) for _, mask in parts],
            }
        )
    return out
