"""What one autologged scikit-learn fit records in the active run (see :mod:`.autolog`).

For each outermost fit with training data ``X`` (and target ``y``):

- ``get_params(deep=True)`` as params, stringified, MLflow's names (``C``,
  ``logisticregression__C`` for a Pipeline step); values over 6000 characters are skipped.
  When a later fit of the same run would overwrite a param with another value, all of its params
  get its model name as prefix (``model-2.C``) instead of failing on write-once params.
- training metrics named as MLflow names them: ``training_accuracy_score``,
  ``training_precision_score``, ``training_recall_score``, ``training_f1_score``,
  ``training_log_loss`` and ``training_roc_auc`` (from ``predict_proba``) for classifiers;
  ``training_mean_absolute_error``, ``training_mean_squared_error``,
  ``training_root_mean_squared_error``, ``training_r2_score`` for regressors. The values are the
  evaluation module's (:mod:`jupyter_mlops.evaluation.metrics`: precision, recall and F1 of the
  positive class ``classes_[1]`` for binary targets, macro averages for multiclass; ROC AUC
  one-vs-rest macro), the numbers the promotion gate and ``mlops.evaluate`` compute. Metrics
  that are not defined for the data are left out.
- estimators with ``predict`` are logged with ``log_model`` as ``model``, then ``model-2``...;
  their training metrics after the first get the same prefix (``model-2.training_f1_score``).
  Transformers without ``predict`` (scalers, PCA) log params and data only.
- ``X`` as a dataset named after its variable (``X_train``) when found, else ``training_data``.
- grid and randomized searches: ``best_<param>`` params, the ``best_cv_score`` metric, and one
  nested child run for each of the :data:`TOP_CANDIDATES` best candidates with its params and
  mean/std cross-validation scores.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any

from jupyter_mlops.store import get_store
from jupyter_mlops.tracking import fluent

if TYPE_CHECKING:
    from jupyter_mlops.tracking.autolog_session import AutologSession

TOP_CANDIDATES = 5
CV_KEYS = ("mean_test_", "std_test_", "rank_test_", "mean_train_", "std_train_", "mean_fit_time")


def log_fit(
    session: AutologSession, estimator: Any, args: tuple, kwargs: dict, caller: FrameType
) -> None:
    """Log params, training metrics, model, dataset (and search children) of one fit."""
    run = fluent.active_run()
    if run is None:
        return
    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    name = _model_name(session, estimator)
    label = name or _transformer_label(session, estimator)
    prefix = "" if name == "model" else f"{label}."
    session.guard("params", _log_params, run.id, estimator, label)
    if name is not None and y is not None:
        weights = kwargs.get("sample_weight")
        session.guard("training metrics", _log_training_metrics, estimator, X, y, weights, prefix)
    if _is_search(estimator):
        session.guard("search results", _log_search, run, estimator, prefix)
    if name is not None:
        session.guard("the model", _log_model, estimator, name, X)
    if _is_table(X):
        data_name = variable_name(X, caller, session.user_ns) or "training_data"
        session.guard("the training data", _log_dataset, X, data_name)


def _model_name(session: AutologSession, estimator: Any) -> str | None:
    if not hasattr(estimator, "predict"):
        return None
    name = "model" if not session.models else f"model-{len(session.models) + 1}"
    session.models.append(name)
    return name


def _transformer_label(session: AutologSession, estimator: Any) -> str:
    base = type(estimator).__name__.lower()
    label, n = base, 1
    while label in session.labels:
        n += 1
        label = f"{base}-{n}"
    session.labels.add(label)
    return label


# -- params ------------------------------------------------------------------------------------
def estimator_params(estimator: Any) -> dict[str, str]:
    """``get_params(deep=True)`` as strings, skipping values over MLflow's 6000 characters."""
    params = {}
    for key, value in estimator.get_params(deep=True).items():
        text = value if isinstance(value, str) else str(value)
        if len(text) <= fluent.MAX_PARAM_CHARS:
            params[str(key)] = text
    return params


def _log_params(run_id: str, estimator: Any, label: str) -> None:
    params = estimator_params(estimator)
    logged = get_store().get_run(run_id).get("params", {})
    if any(logged.get(key, value) != value for key, value in params.items()):
        params = {f"{label}.{key}": value for key, value in params.items()}
    fluent.log_params(params)
    if label == "model":
        cls = type(estimator)
        fluent.set_tags(
            {
                "estimator_name": cls.__name__,
                "estimator_class": f"{cls.__module__}.{cls.__qualname__}",
            }
        )


# -- training metrics ----------------------------------------------------------------------------
def _log_training_metrics(estimator: Any, X: Any, y: Any, weights: Any, prefix: str) -> None:
    metrics = training_metrics(estimator, X, y, weights)
    fluent.log_metrics({prefix + key: value for key, value in metrics.items()})


def training_metrics(estimator: Any, X: Any, y: Any, sample_weight: Any = None) -> dict[str, float]:
    """MLflow's training metric names, the evaluation module's values (``{}`` otherwise).

    ``training_f1_score`` is the metric table's ``f1`` (:mod:`jupyter_mlops.evaluation.metrics`),
    so ``promote(..., checks=["f1>=0.9"], data=(X_train, y_train))`` measures the same number.
    """
    from sklearn.base import is_classifier, is_regressor

    from jupyter_mlops.evaluation.measure import measure
    from jupyter_mlops.evaluation.metrics import METRICS

    if is_classifier(estimator):
        task = None
    elif is_regressor(estimator):
        task = "regression"
    else:
        return {}
    measured = _call(measure, estimator, X, y, task, sample_weight)
    if measured is None:
        return {}
    return {
        f"training_{METRICS[key].mlflow_name}": value
        for key, value in measured.metrics.items()
        if METRICS[key].autolog
    }


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(...)``, or ``None`` when it is not defined for this data."""
    try:
        return fn(*args, **kwargs)
    except Exception:
        return None


def as_number(value: Any) -> float | None:
    """A float for Python/numpy scalars and 0-d arrays, else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if (
        getattr(value, "ndim", None) == 0
        and getattr(getattr(value, "dtype", None), "kind", "") in "iuf"
    ):
        return float(value)
    return None


# -- grid searches -------------------------------------------------------------------------------
def _is_search(estimator: Any) -> bool:
    results = getattr(estimator, "cv_results_", None)
    return isinstance(results, Mapping) and "params" in results


def _log_search(run: fluent.ActiveRun, search: Any, prefix: str) -> None:
    best = getattr(search, "best_params_", None)
    if isinstance(best, Mapping):
        fluent.log_params({f"{prefix}best_{key}": _text(value) for key, value in best.items()})
    score = as_number(getattr(search, "best_score_", None))
    if score is not None:
        fluent.log_metric(f"{prefix}best_cv_score", score)
    results = search.cv_results_
    rank_key = _rank_key(results, search)
    for n, index in enumerate(top_candidates(results, search), start=1):
        rank = int(results[rank_key][index]) if rank_key else n
        with fluent.start_run(
            name=f"{run.name}-cv{n}", nested=True, tags={"mlops.autolog.cv_rank": rank}
        ):
            fluent.log_params(
                {key: _text(value) for key, value in results["params"][index].items()}
            )
            fluent.log_metrics(_candidate_metrics(results, index))


def top_candidates(results: Mapping[str, Any], search: Any = None) -> list[int]:
    """Indexes of the best candidates of ``cv_results_``, best first."""
    count = len(results["params"])
    key = _rank_key(results, search)
    if key is None:
        return list(range(min(count, TOP_CANDIDATES)))
    ranks = results[key]
    return sorted(range(count), key=lambda i: (ranks[i], i))[:TOP_CANDIDATES]


def _rank_key(results: Mapping[str, Any], search: Any) -> str | None:
    if "rank_test_score" in results:
        return "rank_test_score"
    refit = getattr(search, "refit", None)
    if isinstance(refit, str) and f"rank_test_{refit}" in results:
        return f"rank_test_{refit}"
    return next((k for k in results if k.startswith("rank_test_")), None)


def _candidate_metrics(results: Mapping[str, Any], index: int) -> dict[str, float]:
    out = {}
    for key, values in results.items():
        if key.startswith(CV_KEYS):
            number = as_number(values[index])
            if number is not None:
                out[key] = number
    return out


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text[: fluent.MAX_PARAM_CHARS]


# -- model, data, metric calls --------------------------------------------------------------------
def _log_model(estimator: Any, name: str, X: Any) -> None:
    from jupyter_mlops.tracking.models import log_model

    # the training features double as the reference sample drift monitoring compares with
    log_model(estimator, name=name, input_example=head(X), reference_data=X)


def head(X: Any, rows: int = 5) -> Any:
    """The first rows of ``X`` as an input example (``None`` for sparse or unknown data)."""
    if X is None or _is_sparse(X):
        return None
    if hasattr(X, "iloc"):
        return X.iloc[:rows]
    if isinstance(X, list | tuple):
        return list(X[:rows])
    if hasattr(X, "shape") and hasattr(X, "__getitem__"):
        return X[:rows]
    return None


def _is_sparse(X: Any) -> bool:
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def _is_table(X: Any) -> bool:
    return X is not None and not _is_sparse(X) and (hasattr(X, "shape") or isinstance(X, list))


def _log_dataset(X: Any, name: str) -> None:
    from jupyter_mlops.tracking.datasets import log_dataset

    log_dataset(X, name=name, context="training")


def variable_name(
    obj: Any, frame: FrameType | None, user_ns: Mapping[str, Any] | None = None, depth: int = 3
) -> str | None:
    """A name bound to ``obj`` in ``frame`` or the frames above it (then ``user_ns``)."""
    for _ in range(depth):
        if frame is None:
            break
        name = _name_in(obj, frame.f_locals)
        if name:
            return name
        frame = frame.f_back
    return _name_in(obj, user_ns) if user_ns is not None else None


def _name_in(obj: Any, namespace: Mapping[str, Any]) -> str | None:
    for key, value in list(namespace.items()):
        if value is obj and isinstance(key, str) and not key.startswith("_"):
            return key
    return None


def log_metric_call(name: str, args: tuple, kwargs: dict, result: Any, caller: FrameType) -> None:
    """Log a ``sklearn.metrics`` call's scalar result as ``<fn>_<y_true variable>``."""
    value = as_number(result)
    if value is None or fluent.active_run() is None:
        return
    target = args[0] if args else kwargs.get("y_true", kwargs.get("labels_true", kwargs.get("X")))
    variable = variable_name(target, caller, depth=1) if target is not None else None
    key = f"{name}_{variable}" if variable else name
    from jupyter_mlops.tracking.autolog_session import active_session

    session = active_session()
    if session is not None:  # logged when the cell ends, unless the user logs it (-m) too
        session.defer_metric(key, value, result)
    else:
        fluent.log_metric(key, value)
