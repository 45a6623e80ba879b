"""Overfitting and underfitting: training against test metrics, and the run's learning curves.

Training metrics come from ``training=(X_train, y_train)`` when given (computed with the same
metric table), else from the model's run: the ``training_<name>`` metrics autolog logs
(``training_f1_score``...), which the metric table defines the same way as the test metrics.

The rule
--------
The primary metric is ``f1`` for classification and ``rmse`` for regression.

- **Overfitting**: the test value is worse than the training value by more than
  :data:`MAX_GAP` (10 %) of the training value (``|train|``; any gap for a training value of 0).
- **Underfitting**: the model does not learn its own training data. Classification: the
  training accuracy is at most the share of the most frequent class of the test target plus
  :data:`MIN_LIFT` (0.02): no better than always guessing that class. Regression: the training
  ``r2`` is below :data:`MIN_R2` (0.1).
- Otherwise **good fit**; **unknown** when the training metrics are missing.

Learning curves: when the run logged training and validation histories (``train_loss`` /
``val_loss``, ...), the flags of :func:`~jupyter_mlops.viz.fit_diagnosis.diagnose_runs` (the
one overfitting rule for curves, the run page's and the compare panel's) are added.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from jupyter_mlops.evaluation.metrics import METRICS, metrics_for

MAX_GAP = 0.10
MIN_LIFT = 0.02
MIN_R2 = 0.1
PRIMARY = {"binary": "f1", "multiclass": "f1", "regression": "rmse"}


def training_metrics_of_run(
    run: Mapping[str, Any] | None, task: str, path: str = "model"
) -> dict[str, float]:
    """``{metric: value}`` from a run's ``training_<mlflow name>`` metrics (autolog's).

    The model at artifact ``path`` ``model-2`` reads ``model-2.training_<name>``, as autolog
    names the metrics of a run's second model.
    """
    if not run:
        return {}
    logged = run.get("metrics") or {}
    prefix = "" if path == "model" else f"{path}."
    out = {}
    for metric in metrics_for(task):
        entry = logged.get(f"{prefix}training_{metric.mlflow_name}")
        value = entry.get("last") if isinstance(entry, Mapping) else entry
        if isinstance(value, (int, float)) and value == value:
            out[metric.name] = float(value)
    return out


def fit_check(
    task: str,
    train: Mapping[str, float],
    test: Mapping[str, float],
    y_test: np.ndarray,
    run: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``{"verdict", "reason", "primary", "metrics": [{metric, train, test, gap}], "curves"}``."""
    rows = [
        {"metric": name, "train": train[name], "test": test[name], "gap": _gap(name, train, test)}
        for name in test
        if name in train
    ]
    verdict, reason = _verdict(task, train, test, y_test)
    return {
        "verdict": verdict,
        "reason": reason,
        "primary": PRIMARY[task],
        "metrics": rows,
        "curves": _curve_flags(run),
        "learning_curves": learning_curves(run),
    }


def _gap(name: str, train: Mapping[str, float], test: Mapping[str, float]) -> float:
    """How much worse test is than training, in the metric's direction (positive = worse)."""
    better = METRICS[name].greater_is_better
    return (train[name] - test[name]) if better else (test[name] - train[name])


def _verdict(
    task: str, train: Mapping[str, float], test: Mapping[str, float], y_test: np.ndarray
) -> tuple[str, str]:
    primary = PRIMARY[task]
    if primary not in train or primary not in test:
        return "unknown", f"no training {primary} (log it with autolog, or pass training=)"
    low = _underfit(task, train, y_test)
    if low:
        return "underfitting", low
    gap = _gap(primary, train, test)
    limit = MAX_GAP * abs(train[primary])
    if gap > limit:
        return "overfitting", (
            f"test {primary} {test[primary]:.4g} is worse than training {train[primary]:.4g} "
            f"by {gap:.4g}, more than {MAX_GAP:.0%} of the training value"
        )
    return "good fit", f"test {primary} within {MAX_GAP:.0%} of training ({gap:+.4g})"


def _underfit(task: str, train: Mapping[str, float], y_test: np.ndarray) -> str:
    if task == "regression":
        r2 = train.get("r2")
        if r2 is not None and r2 < MIN_R2:
            return f"training r2 {r2:.4g} is below {MIN_R2:g}: the model explains little"
        return ""
    accuracy = train.get("accuracy")
    _, counts = np.unique(y_test, return_counts=True)
    majority = counts.max() / counts.sum()
    if accuracy is not None and accuracy <= majority + MIN_LIFT:
        return (
            f"training accuracy {accuracy:.4g} is no better than always predicting the most "
            f"frequent class ({majority:.4g})"
        )
    return ""


def _curve_flags(run: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not run or not run.get("run_id"):
        return []
    from jupyter_mlops.viz.fit_diagnosis import diagnose_runs, metric_pairs

    if not metric_pairs(list(run.get("metrics") or {})):
        return []
    flags = diagnose_runs([dict(run)])[run["run_id"]]
    return [
        {"kind": f.kind, "train": f.train_metric, "validation": f.val_metric, "step": f.step,
         "message": f.message}
        for f in flags
    ]  # fmt: skip


def learning_curves(run: Mapping[str, Any] | None, limit: int = 4) -> list[dict[str, Any]]:
    """The run's paired training/validation histories (at most ``limit`` pairs), for the plot.

    ``[{"train", "validation", "steps_train", "train_values", "steps_val", "val_values"}]``,
    each history thinned to :data:`~jupyter_mlops.evaluation.curves.MAX_POINTS` points.
    """
    if not run or not run.get("run_id"):
        return []
    from jupyter_mlops.evaluation.curves import thin
    from jupyter_mlops.viz.compare import load_histories
    from jupyter_mlops.viz.fit_diagnosis import metric_pairs

    pairs = metric_pairs(list(run.get("metrics") or {}))[:limit]
    if not pairs:
        return []
    histories = load_histories([dict(run)], sorted({k for pair in pairs for k in pair}))
    found = histories[run["run_id"]]
    out = []
    for train_key, val_key in pairs:
        (train_steps, train_values), (val_steps, val_values) = found[train_key], found[val_key]
        ts, tv = thin(train_steps, train_values)
        vs, vv = thin(val_steps, val_values)
        out.append({"train": train_key, "validation": val_key, "steps_train": ts,
                    "train_values": tv, "steps_val": vs, "val_values": vv})  # fmt: skip
    return out
