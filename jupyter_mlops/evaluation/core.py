"""``evaluate``: a model on test data, as one report that is logged and stored with the version.

The metrics are the metric table's (:mod:`~jupyter_mlops.evaluation.metrics`), computed once
per model by :func:`~jupyter_mlops.evaluation.measure.measure` (the gate, autolog and monitoring
call the same function). The report adds, when asked: slices (:mod:`.slices`), a baseline
model on the same data and :class:`~.thresholds.MetricThreshold` bounds (:mod:`.thresholds`),
the fit check (:mod:`.fit`), the test set against production (:mod:`.production`), and the
plot data (:mod:`.curves`). It is logged (:func:`~.record.log_report`) and, for a registered
version, stored with it (:func:`~.record.store_with_version`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.evaluation import fit as _fit
from jupyter_mlops.evaluation import record
from jupyter_mlops.evaluation.curves import plot_data
from jupyter_mlops.evaluation.measure import Measured, measure
from jupyter_mlops.evaluation.report import EvaluationReport
from jupyter_mlops.evaluation.slices import slice_table
from jupyter_mlops.evaluation.thresholds import MetricThreshold, check_thresholds

STORED_SLICES = 10


@dataclass(frozen=True)
class Source:
    """A model to evaluate and where it came from."""

    model: Any
    label: str
    run_id: str | None = None
    name: str | None = None  # registered model name and version, when it is one
    version: int | None = None
    path: str = "model"  # the model's artifact path in its run (autolog: model, model-2, ...)


def evaluate(
    model_or_uri: Any,
    X: Any,
    y: Any,
    task: str | None = None,
    baseline: Any = None,
    thresholds: Mapping[str, MetricThreshold] | None = None,
    slices: Iterable[Any] | str | None = None,
    name: str | None = None,
    *,
    training: tuple[Any, Any] | None = None,
    deployment: str | None = None,
    window: str = "7d",
    log: bool = True,
) -> EvaluationReport:
    """Evaluate a model on ``(X, y)``: metrics, slices, baseline, thresholds, fit, plots.

    Parameters
    ----------
    model_or_uri : object or str
        A fitted model, or ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
        ``runs:/<run_id>/<path>``.
    X, y : array-like
        Test features and target.
    task : {"binary", "multiclass", "regression"}, optional
        Inferred when omitted.
    baseline : object or str, optional
        Another model (or URI) evaluated on the same data; change thresholds compare with it.
    thresholds : dict, optional
        ``{metric: MetricThreshold(...)}``; ``report.passed`` says whether all held.
    slices : list, optional
        Columns of ``X`` to slice by (:mod:`~jupyter_mlops.evaluation.slices`).
    name : str, optional
        The data set's name (default ``test``), the logged metrics' prefix.
    training : tuple (X_train, y_train), optional
        Training data for the fit check (default: the model run's ``training_*`` metrics).
    deployment : str, optional
        Add the test set against this deployment's traffic over ``window``.
    log : bool
        Log the report to a run and store it with the model version (default ``True``).

    Returns
    -------
    EvaluationReport
    """
    name = _check_name(name)
    source = resolve(model_or_uri, "model_or_uri")
    measured = measure(source.model, X, y, task)
    base = _baseline(baseline, X, y, measured.task)
    fit = _fit_section(source, measured, training)
    report = EvaluationReport(
        name=name,
        task=measured.task,
        metrics=measured.metrics,
        notes=measured.notes,
        model=source.label,
        rows=len(measured.labels.y),
        baseline=base,
        thresholds=check_thresholds(thresholds, measured.metrics, base and base["metrics"]),
        plot_data=plot_data(measured.task, measured.labels, X, fit),  # takes the curves
        fit=fit,
    )
    if slices is not None:
        report.slices = slice_table(X, slices, measured.task, measured.labels, measured.metrics)
    if deployment is not None:
        from jupyter_mlops.evaluation.production import compare_to_production

        report.production = compare_to_production(X, deployment, window).to_dict()
    if log:
        _record(report, source)
    return report


def _check_name(name: Any) -> str:
    if name is None:
        return "test"
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise InvalidInput(f"name= is a short label such as 'test' or 'holdout', not {name!r}.")
    return name.strip()


def resolve(model_or_uri: Any, what: str) -> Source:
    """The model behind a URI or object, with its run and registered version when known."""
    if isinstance(model_or_uri, str):
        return _from_uri(model_or_uri)
    if model_or_uri is None or not hasattr(model_or_uri, "predict"):
        raise InvalidInput(
            f"{what} must be a fitted model (with predict) or a models:/ or runs:/ URI, "
            f"not {type(model_or_uri).__name__}."
        )
    from jupyter_mlops.tracking.models import logged_uri_of, parse_runs_uri

    uri = logged_uri_of(model_or_uri)
    if uri is None:
        return Source(model_or_uri, type(model_or_uri).__name__)
    run_id, path = parse_runs_uri(uri)
    return Source(model_or_uri, uri, run_id, path=path)


def _from_uri(uri: str) -> Source:
    from jupyter_mlops.store import get_store, refs
    from jupyter_mlops.tracking.models import load_model

    if not refs.is_model_uri(uri):
        raise InvalidInput(
            f"Cannot evaluate {uri!r}: give a model object or a URI models:/<name>/<version>, "
            "models:/<name>@<alias> or runs:/<run_id>/<path>."
        )
    ref = refs.resolve(get_store(), uri, folders=False)  # the one resolver (store/refs.py)
    model = load_model(ref.canonical)
    return Source(model, uri, ref.run_id, ref.name, ref.version, ref.path or "model")


def _baseline(baseline: Any, X: Any, y: Any, task: str) -> dict[str, Any] | None:
    if baseline is None:
        return None
    source = resolve(baseline, "baseline")
    return {"model": source.label, "metrics": measure(source.model, X, y, task).metrics}


def _fit_section(
    source: Source, measured: Measured, training: tuple[Any, Any] | None
) -> dict[str, Any]:
    run = _run_doc(source.run_id)
    if training is not None:
        if not isinstance(training, (tuple, list)) or len(training) != 2:
            raise InvalidInput("training= is a pair (X_train, y_train).")
        train = measure(source.model, training[0], training[1], measured.task).metrics
    else:
        train = _fit.training_metrics_of_run(run, measured.task, source.path)
    return _fit.fit_check(measured.task, train, measured.metrics, measured.labels.y, run)


def _run_doc(run_id: str | None) -> dict[str, Any] | None:
    if run_id is None:
        return None
    from jupyter_mlops.store import get_store

    try:
        return get_store().get_run(run_id)
    except Exception:  # noqa: BLE001 - a model whose run is gone still evaluates
        return None


def _record(report: EvaluationReport, source: Source) -> None:
    report.run_id = record.log_report(report, source.run_id)
    if source.name is not None and source.version is not None:
        record.store_with_version(source.name, source.version, stored_form(report))


def stored_form(report: EvaluationReport) -> dict[str, Any]:
    """The report as kept with a model version: without plot data, the worst slices only."""
    data = report.to_dict()
    data.pop("plot_data", None)
    data["slices"] = data["slices"][:STORED_SLICES]
    if data.get("production"):
        data["production"] = {k: v for k, v in data["production"].items() if k != "drift"}
    return data
