"""The metric table: one definition per metric, shared by autolog, the gate and monitoring.

Every metric is one of scikit-learn's functions called with stated arguments, so a value here
equals scikit-learn's on the same data (tests/test_evaluation.py checks each one).

Tasks
-----
``binary`` (two classes), ``multiclass`` (more), ``regression``. :func:`infer_task` decides
from the model first (a scikit-learn classifier, or anything with ``classes_``, is a
classifier; a regressor is a regressor), then from the target (booleans, strings and objects
are classes; integers are classes when the model has ``predict_proba``; floats are numbers).

The positive class
------------------
For a binary target it is the model's second class, ``classes_[1]`` (``1`` for 0/1 labels,
``True`` for booleans, the later of two strings in sorted order), as scikit-learn's
``predict_proba`` columns are ordered. Without ``classes_`` the classes are the sorted labels
of ``y`` and the predictions.

Averaging
---------
``precision``, ``recall``, ``f1``: the positive class's binary score for a binary target,
``average="macro"`` (the unweighted mean over the classes present in ``y`` or the predictions,
scikit-learn's default) for a multiclass one.
``roc_auc``: of the positive class's probability for binary; one-vs-rest, macro, for
multiclass. ``pr_auc``: average precision (``average_precision_score``) of the positive class;
macro over one-vs-rest for multiclass. ``brier``: the positive class's for binary, the
multiclass Brier score (sum over classes) otherwise. ``calibration_error``: expected
calibration error over 10 equal-width bins of the positive class's probability (binary) or of
the top class's probability (multiclass): ``sum(n_bin / n * |accuracy_bin - confidence_bin|)``.

A metric that is not defined for the data (ROC AUC with one class in ``y``, probability
metrics for a model without ``predict_proba``) is left out, never reported as 0.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from jupyter_mlops.errors import InvalidInput

TASKS = ("binary", "multiclass", "regression")
_PER_TASK = re.compile(
    r"^(?P<pre>.*?: )?(?P<binary>.+?) \(binary\), (?P<multiclass>.+?) \(multiclass\)$"
)
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Labels:
    """What a metric is computed from: truth, predictions, probabilities, classes, weights."""

    y: np.ndarray
    predicted: np.ndarray
    proba: np.ndarray | None = None
    classes: np.ndarray | None = None
    weights: np.ndarray | None = None

    @property
    def positive(self) -> Any:
        """The positive class of a binary target (``classes[1]``)."""
        assert self.classes is not None
        return self.classes[-1]

    def is_positive(self) -> np.ndarray:
        """``y == positive`` as booleans."""
        return np.asarray(self.y == self.positive, dtype=bool)

    def positive_proba(self) -> np.ndarray:
        """The positive class's probability column."""
        assert self.proba is not None
        return self.proba[:, -1]

    def subset(self, mask: np.ndarray) -> Labels:
        """The rows where ``mask`` holds (same classes)."""
        pick = lambda a: None if a is None else a[mask]  # noqa: E731
        return Labels(self.y[mask], self.predicted[mask], pick(self.proba), self.classes,
                      pick(self.weights))  # fmt: skip


@dataclass(frozen=True)
class Metric:
    """One row of the table.

    Attributes
    ----------
    name : str
        Our name (``f1``), the one the gate, reports and thresholds use.
    tasks : tuple of str
        The tasks it is defined for.
    greater_is_better : bool
    averaging : str
        How it is computed, in words (docs and the report show it).
    compute : callable
        ``compute(labels) -> float``.
    needs_proba : bool
        Computed from ``predict_proba``.
    mlflow_name : str
        MLflow's name; autolog logs ``training_<mlflow_name>`` for the metrics with ``autolog``.
    autolog : bool
    aliases : tuple of str
        Other names a check or threshold may use (``f1_score``).
    """

    name: str
    tasks: tuple[str, ...]
    greater_is_better: bool
    averaging: str
    compute: Callable[[Labels], float]
    needs_proba: bool = False
    mlflow_name: str = ""
    autolog: bool = False
    aliases: tuple[str, ...] = ()

    def definition(self, task: str) -> str:
        """``averaging`` for one task: ``"A (binary), B (multiclass)"`` gives A or B."""
        found = _PER_TASK.match(self.averaging)
        if not found or task not in ("binary", "multiclass"):
            return self.averaging
        return (found["pre"] or "") + found["binary" if task == "binary" else "multiclass"]


def sklearn_metric(name: str) -> Callable[..., Any]:
    """A ``sklearn.metrics`` function, unwrapped when autolog has wrapped it."""
    import sklearn.metrics as m

    function = getattr(m, name)
    # autolog wraps the public functions to log users' calls (tracking.autolog._MARK)
    return getattr(function, "__mlops_autolog_original__", function)


def _weights(labels: Labels) -> dict[str, Any]:
    return {"sample_weight": labels.weights}


def _averaged(fn: str) -> Callable[[Labels], float]:
    def compute(labels: Labels) -> float:
        if labels.classes is not None and len(labels.classes) == 2:
            kw = {"average": "binary", "pos_label": labels.positive}
        else:  # scikit-learn's default labels: the classes present in y or the predictions
            kw = {"average": "macro"}
        return sklearn_metric(fn)(
            labels.y, labels.predicted, zero_division=0, **kw, **_weights(labels)
        )

    return compute


def _plain(fn: str) -> Callable[[Labels], float]:
    def compute(labels: Labels) -> float:
        return sklearn_metric(fn)(labels.y, labels.predicted, **_weights(labels))

    return compute


def _roc_auc(labels: Labels) -> float:
    if _binary(labels):
        return sklearn_metric("roc_auc_score")(
            labels.is_positive(), labels.positive_proba(), **_weights(labels)
        )
    return sklearn_metric("roc_auc_score")(
        labels.y,
        labels.proba,
        multi_class="ovr",
        average="macro",
        labels=labels.classes,
        **_weights(labels),
    )


def _pr_auc(labels: Labels) -> float:
    fn = sklearn_metric("average_precision_score")
    if _binary(labels):
        return fn(labels.is_positive(), labels.positive_proba(), **_weights(labels))
    onehot = _onehot(labels)
    if onehot.sum(axis=0).min() == 0:  # a class absent from y: its AP is undefined
        raise ValueError("a class is absent from y")
    return fn(onehot, labels.proba, average="macro", **_weights(labels))


def _log_loss(labels: Labels) -> float:
    return sklearn_metric("log_loss")(
        labels.y, labels.proba, labels=labels.classes, **_weights(labels)
    )


def _brier(labels: Labels) -> float:
    fn = sklearn_metric("brier_score_loss")
    if _binary(labels):
        return fn(labels.is_positive(), labels.positive_proba(), **_weights(labels))
    return fn(labels.y, labels.proba, labels=labels.classes, **_weights(labels))


def _calibration_error(labels: Labels) -> float:
    confidence, correct = calibration_pairs(labels)
    return expected_calibration_error(confidence, correct, labels.weights)


def calibration_pairs(labels: Labels) -> tuple[np.ndarray, np.ndarray]:
    """``(confidence, outcome)`` pairs the calibration error and curve are built from."""
    assert labels.proba is not None and labels.classes is not None
    if _binary(labels):
        return labels.positive_proba(), labels.is_positive().astype(float)
    top = labels.proba.argmax(axis=1)
    confidence = labels.proba[np.arange(len(top)), top]
    return confidence, (labels.classes[top] == labels.y).astype(float)


def expected_calibration_error(
    confidence: np.ndarray, outcome: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """``sum(w_bin / w * |mean outcome - mean confidence|)`` over 10 equal-width bins."""
    w = np.ones(len(confidence)) if weights is None else np.asarray(weights, dtype=float)
    bins = np.clip((confidence * CALIBRATION_BINS).astype(int), 0, CALIBRATION_BINS - 1)
    total = np.bincount(bins, w, CALIBRATION_BINS)
    hits = np.bincount(bins, w * outcome, CALIBRATION_BINS)
    conf = np.bincount(bins, w * confidence, CALIBRATION_BINS)
    full = total > 0
    return float(np.sum(np.abs(hits[full] - conf[full])) / total.sum())


def _onehot(labels: Labels) -> np.ndarray:
    assert labels.classes is not None
    return (labels.y[:, None] == labels.classes[None, :]).astype(int)


def _binary(labels: Labels) -> bool:
    return labels.classes is not None and len(labels.classes) == 2


def _rmse(labels: Labels) -> float:
    return _plain("root_mean_squared_error")(labels)


def _max_error(labels: Labels) -> float:
    if labels.weights is not None:
        raise ValueError("max_error takes no sample weights")
    return sklearn_metric("max_error")(labels.y, labels.predicted)


CLASSES = ("binary", "multiclass")
REG = ("regression",)
_EACH_CLASS = "positive class (binary), macro over classes (multiclass)"
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", CLASSES, True, "share of correct predictions", _plain("accuracy_score"),
               mlflow_name="accuracy_score", autolog=True, aliases=("acc", "accuracy_score")),
        Metric("balanced_accuracy", CLASSES, True, "mean recall over classes",
               _plain("balanced_accuracy_score"), mlflow_name="balanced_accuracy_score",
               aliases=("balanced_accuracy_score",)),
        Metric("precision", CLASSES, True, _EACH_CLASS, _averaged("precision_score"),
               mlflow_name="precision_score", autolog=True, aliases=("precision_score",)),
        Metric("recall", CLASSES, True, _EACH_CLASS, _averaged("recall_score"),
               mlflow_name="recall_score", autolog=True, aliases=("recall_score",)),
        Metric("f1", CLASSES, True, _EACH_CLASS, _averaged("f1_score"),
               mlflow_name="f1_score", autolog=True, aliases=("f1_score",)),
        Metric("roc_auc", CLASSES, True, "positive class (binary), one-vs-rest macro (multiclass)",
               _roc_auc, True, "roc_auc", True, ("auc", "roc_auc_score")),
        Metric("pr_auc", CLASSES, True, "average precision: positive class (binary), "
               "one-vs-rest macro (multiclass)", _pr_auc, True, "precision_recall_auc", False,
               ("precision_recall_auc", "average_precision", "average_precision_score")),
        Metric("log_loss", CLASSES, False, "over the model's classes", _log_loss, True,
               "log_loss", True),
        Metric("brier", CLASSES, False, "positive class (binary), summed over classes "
               "(multiclass)", _brier, True, "brier_score_loss", False,
               ("brier_score", "brier_score_loss")),
        Metric("calibration_error", CLASSES, False, "expected calibration error, 10 equal-width "
               "bins: positive class (binary), top class (multiclass)", _calibration_error, True,
               "calibration_error", False, ("ece",)),
        Metric("mae", REG, False, "mean absolute error", _plain("mean_absolute_error"),
               mlflow_name="mean_absolute_error", autolog=True, aliases=("mean_absolute_error",)),
        Metric("mse", REG, False, "mean squared error", _plain("mean_squared_error"),
               mlflow_name="mean_squared_error", autolog=True, aliases=("mean_squared_error",)),
        Metric("rmse", REG, False, "square root of the mean squared error", _rmse,
               mlflow_name="root_mean_squared_error", autolog=True,
               aliases=("root_mean_squared_error",)),
        Metric("r2", REG, True, "coefficient of determination", _plain("r2_score"),
               mlflow_name="r2_score", autolog=True, aliases=("r2_score",)),
        Metric("mape", REG, False, "mean absolute percentage error (a share, not %)",
               _plain("mean_absolute_percentage_error"),
               mlflow_name="mean_absolute_percentage_error",
               aliases=("mean_absolute_percentage_error",)),
        Metric("max_error", REG, False, "largest absolute error", _max_error,
               mlflow_name="max_error"),
    )
}  # fmt: skip
ALIASES = {alias: m.name for m in METRICS.values() for alias in (m.name, *m.aliases)}


def canonical(name: str) -> str:
    """Our name for ``name`` (``f1_score`` -> ``f1``); unknown names come back unchanged."""
    return ALIASES.get(str(name).lower(), str(name))


def greater_is_better(name: str) -> bool | None:
    """Whether higher is better for a metric of the table (``None`` when unknown)."""
    metric = METRICS.get(canonical(name))
    return metric.greater_is_better if metric else None


def metrics_for(task: str) -> list[Metric]:
    """The table's metrics for ``task``, in table order."""
    check_task(task)
    return [m for m in METRICS.values() if task in m.tasks]


def check_task(task: Any) -> str:
    """``task`` when it is one of :data:`TASKS`; otherwise one clear ``InvalidInput``."""
    if task not in TASKS:
        raise InvalidInput(f"Unknown task {task!r}: use one of {', '.join(TASKS)} (or None).")
    return str(task)


def compute(
    task: str, labels: Labels, names: tuple[str, ...] | None = None
) -> tuple[dict[str, float], dict[str, str]]:
    """The metrics of ``task`` (or only ``names``) on ``labels``: ``(values, notes)``.

    ``notes`` says why a metric of the task was left out (not defined for this data).
    """
    values: dict[str, float] = {}
    notes: dict[str, str] = {}
    for metric in metrics_for(task):
        if names is not None and metric.name not in names:
            continue
        if metric.needs_proba and labels.proba is None:
            continue
        value, note = _value(metric, labels)
        if value is None:
            notes[metric.name] = note
        else:
            values[metric.name] = value
    return values, notes


def _value(metric: Metric, labels: Labels) -> tuple[float | None, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # undefined metrics are reported as notes instead
            value = float(metric.compute(labels))
    except (ValueError, ZeroDivisionError) as e:
        return None, f"not defined for this data ({e})"
    if not math.isfinite(value):
        return None, "not defined for this data"
    return value, ""
