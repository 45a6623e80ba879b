"""A model's predictions on ``(X, y)`` and the metric table's values: what every caller shares.

:func:`measure` is the one entry point of the gate, autolog's training metrics, monitoring's
window metrics and :func:`~jupyter_mlops.evaluation.core.evaluate`. Bad input is one
:class:`~jupyter_mlops.errors.InvalidInput`: mismatched lengths, no rows, an unknown task, a
task the model or target cannot have, labels the model never saw, a model that cannot predict.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.evaluation import metrics as _m

MAX_LISTED = 5


@dataclass(frozen=True)
class Measured:
    """The task, what the metrics were computed from, their values and notes on missing ones."""

    task: str
    labels: _m.Labels
    metrics: dict[str, float]
    notes: dict[str, str] = field(default_factory=dict)


def measure(
    model: Any, X: Any, y: Any, task: str | None = None, sample_weight: Any = None
) -> Measured:
    """Predict ``X`` with ``model`` and compute the table's metrics for the task.

    Parameters
    ----------
    model : object
        Anything with ``predict`` (and ``predict_proba`` for the probability metrics).
    X, y : array-like
        Features and truth, the same number of rows.
    task : {"binary", "multiclass", "regression"}, optional
        Inferred when omitted (:func:`infer_task`).
    sample_weight : array-like, optional

    Returns
    -------
    Measured
    """
    y_arr = check_rows(X, y)
    task = infer_task(model, y_arr) if task is None else _m.check_task(task)
    labels = labels_of(model, X, y_arr, task, sample_weight)
    values, notes = _m.compute(task, labels)
    return Measured(task, labels, values, notes)


def check_rows(X: Any, y: Any) -> np.ndarray:
    """``y`` as an array, after checking that ``X`` and ``y`` have the same, non-zero, length."""
    if X is None or y is None:
        raise InvalidInput("Evaluation needs features X and a target y, e.g. (X_test, y_test).")
    y_arr = np.asarray(y)
    if y_arr.ndim != 1:
        y_arr = y_arr.ravel() if y_arr.ndim == 2 and 1 in y_arr.shape else y_arr
    if y_arr.ndim != 1:
        raise InvalidInput(f"y must be one column of values, not an array of shape {y_arr.shape}.")
    rows = X.shape[0] if hasattr(X, "shape") else len(X)
    if rows != len(y_arr):
        raise InvalidInput(f"X has {rows} rows but y has {len(y_arr)} values; give one per row.")
    if rows == 0:
        raise InvalidInput("The evaluation data is empty (0 rows).")
    return y_arr


def infer_task(model: Any, y: np.ndarray) -> str:
    """``binary``, ``multiclass`` or ``regression`` (rule in :mod:`.metrics`)."""
    if _is_classifier(model, y):
        classes = _classes(model, y, None)
        return "binary" if len(classes) <= 2 else "multiclass"
    return "regression"


def _is_classifier(model: Any, y: np.ndarray) -> bool:
    if hasattr(model, "classes_"):
        return True
    kind = _sklearn_kind(model)
    if kind is not None:
        return kind == "classifier"
    kind = y.dtype.kind
    return kind in "bOUS" or (hasattr(model, "predict_proba") and kind in "iu")


def _sklearn_kind(model: Any) -> str | None:
    """``classifier``/``regressor`` for scikit-learn estimators, else ``None``."""
    from sklearn.base import is_classifier, is_regressor

    try:  # scikit-learn >= 1.6 raises on objects that are not estimators
        return (
            "classifier" if is_classifier(model) else "regressor" if is_regressor(model) else None
        )
    except (AttributeError, TypeError):
        return None


def labels_of(model: Any, X: Any, y: np.ndarray, task: str, sample_weight: Any = None) -> _m.Labels:
    """Predictions (and probabilities) of ``model`` on ``X``, checked against ``y``."""
    predicted = np.asarray(_predict(model.predict, X)).ravel()
    if len(predicted) != len(y):
        raise InvalidInput(f"The model gave {len(predicted)} predictions for {len(y)} rows.")
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if weights is not None and len(weights) != len(y):
        raise InvalidInput(f"sample_weight has {len(weights)} values for {len(y)} rows.")
    if task == "regression":
        return _m.Labels(_numbers(y, "y"), _numbers(predicted, "the predictions"), weights=weights)
    classes = _classes(model, y, predicted)
    _check_seen(y, classes)
    if task == "binary" and len(classes) > 2:
        raise InvalidInput(
            f"task='binary' but there are {len(classes)} classes; use task='multiclass'."
        )
    proba = _proba(model, X, classes)
    return _m.Labels(y, predicted, proba, classes, weights)


def _predict(fn: Any, X: Any) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "X has feature names": the model's concern
            return fn(X)
    except Exception as e:
        raise InvalidInput(f"The model could not predict on the evaluation data: {e}") from e


def _numbers(values: np.ndarray, what: str) -> np.ndarray:
    try:
        return values.astype(float)
    except (TypeError, ValueError) as e:
        raise InvalidInput(
            f"{what} must be numbers for task='regression' ({e}); for labels use "
            "task='binary' or 'multiclass'."
        ) from e


def _classes(model: Any, y: np.ndarray, predicted: np.ndarray | None) -> np.ndarray:
    known = getattr(model, "classes_", None)
    if known is not None:
        return np.asarray(known)
    seen = y if predicted is None else np.concatenate([y, predicted.astype(y.dtype, copy=False)])
    return np.unique(seen)


def _check_seen(y: np.ndarray, classes: np.ndarray) -> None:
    unseen = _unseen(y, classes)
    if len(unseen):
        shown = ", ".join(repr(_plain(v)) for v in unseen[:MAX_LISTED])
        more = f" and {len(unseen) - MAX_LISTED} more" if len(unseen) > MAX_LISTED else ""
        known = ", ".join(repr(_plain(v)) for v in classes[:10])
        raise InvalidInput(
            f"y holds labels the model never saw: {shown}{more} (its classes: {known}). "
            "Check that y is the target the model was trained on."
        )


def _unseen(y: np.ndarray, classes: np.ndarray) -> list[Any]:
    if y.dtype.kind in "biuf" and classes.dtype.kind in "biuf":
        return np.setdiff1d(np.unique(y), classes).tolist()
    known = set(classes.tolist())
    return sorted({v for v in y.tolist() if v not in known}, key=repr)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _proba(model: Any, X: Any, classes: np.ndarray) -> np.ndarray | None:
    if not hasattr(model, "predict_proba"):
        return None
    try:
        proba = np.asarray(_predict(model.predict_proba, X), dtype=float)
    except InvalidInput:
        return None  # e.g. SVC(probability=False): probability metrics are left out
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        return None
    return proba
