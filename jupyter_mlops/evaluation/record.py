"""Where a report goes: an evaluation run linked to the model's run, and the model version.

The only two places evaluation touches the store (kept here so the registry's typed
operations can replace them in one spot):

- :func:`log_report`: the metrics as ``<name>_<metric>`` (``test_f1``) and the report as the
  artifact ``evaluation/<name>.json``, in the active run if there is one, else in a new run
  ``evaluate-<name>`` of the model run's experiment tagged ``mlops.evaluation.model_run_id``
  (the link) and ``mlops.evaluation.model`` (the URI or class).
- :func:`store_with_version`: the report appended to the version's ``evaluations`` (newest
  last, the last :data:`KEEP` kept) with the store's ``add_version_report``, read back by
  :func:`stored_evaluations`.
"""

from __future__ import annotations

from typing import Any

KEEP = 5  # a version's extra fields are one MLflow tag (at most 100,000 characters)
MODEL_RUN_TAG = "mlops.evaluation.model_run_id"
MODEL_TAG = "mlops.evaluation.model"


def log_report(report: Any, model_run_id: str | None) -> str:
    """Log ``report``'s metrics and JSON; returns the run id it went to."""
    from jupyter_mlops.tracking import artifacts, fluent

    metrics = {f"{report.name}_{key}": value for key, value in report.metrics.items()}
    active = fluent.active_run()
    if active is not None:
        report.run_id = active.id
        fluent.log_metrics(metrics)
        artifacts.log_dict(report.to_dict(), f"evaluation/{report.name}.json")
        return active.id
    tags = {MODEL_TAG: report.model, **({MODEL_RUN_TAG: model_run_id} if model_run_id else {})}
    with fluent.start_run(
        name=f"evaluate-{report.name}", experiment=_experiment_of(model_run_id), tags=tags
    ) as run:
        fluent.log_metrics(metrics)
        report.run_id = run.id
        artifacts.log_dict(report.to_dict(), f"evaluation/{report.name}.json")
    return run.id


def _experiment_of(run_id: str | None) -> str | None:
    if run_id is None:
        return None
    from jupyter_mlops.tracking import fluent

    try:
        return fluent.get_run(run_id).experiment or None
    except Exception:  # noqa: BLE001 - a deleted model run: the default experiment then
        return None


def store_with_version(name: str, version: int, report: dict[str, Any]) -> None:
    """Append ``report`` (a ``to_dict()``) to model version ``name``/``version``."""
    from jupyter_mlops.store import get_store

    get_store().add_version_report(name, version, report, "evaluations", KEEP)


def stored_evaluations(name: str, version: int) -> list[dict[str, Any]]:
    """The reports stored with a version, oldest first (``[]`` when none)."""
    from jupyter_mlops.store import get_store

    found = get_store().get_model_version(name, version)
    return [] if found is None else list(found.evaluations)
