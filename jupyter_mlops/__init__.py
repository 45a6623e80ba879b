"""jupyter_mlops: the whole model lifecycle from inside the notebook.

This module only holds hooks (IPython, Jupyter server, JupyterLab) and the lazy public API, so
``import jupyter_mlops`` and ``%load_ext jupyter_mlops`` stay fast: heavy modules load on first use.
"""

from __future__ import annotations

from typing import Any

from jupyter_mlops._lazy import lazy_api
from jupyter_mlops.version import __version__ as __version__

_API = {
    "jupyter_mlops.store": ["set_tracking_uri", "get_tracking_uri", "get_store"],
    "jupyter_mlops.tracking.fluent": [
        "ActiveRun",
        "Run",
        "active_run",
        "end_run",
        "flush",
        "get_metric_history",
        "get_run",
        "log_metric",
        "log_metrics",
        "log_param",
        "log_params",
        "search_runs",
        "set_experiment",
        "set_tag",
        "set_tags",
        "start_run",
    ],
    "jupyter_mlops.tracking.artifacts": ["log_artifact", "log_dict", "log_figure", "log_text"],
    "jupyter_mlops.tracking.datasets": ["log_dataset"],
    "jupyter_mlops.tracking.models": ["load_model", "load_reference", "log_model"],
    "jupyter_mlops.registry.registry": [
        "ModelVersion",
        "RegisteredModel",
        "alias_history",
        "alias_holder",
        "archive_model_version",
        "delete_alias",
        "get_model_version",
        "list_versions",
        "register_model",
        "search_models",
        "set_alias",
        "update_model_version",
    ],
    "jupyter_mlops.registry.gate": ["GateFailed", "ValidationReport", "promote"],
    "jupyter_mlops.evaluation.core": ["evaluate"],
    "jupyter_mlops.evaluation.report": ["EvaluationReport"],
    "jupyter_mlops.evaluation.thresholds": ["MetricThreshold"],
    "jupyter_mlops.evaluation.production": ["ProductionComparison", "compare_to_production"],
    "jupyter_mlops.serving.deploy": [
        "Deployment",
        "deploy",
        "get_deployment",
        "list_deployments",
        "undeploy",
        "stop_deployment",
    ],
    "jupyter_mlops.monitoring.drift": ["detect_drift"],
    "jupyter_mlops.monitoring.report": ["DriftReport", "list_drift_reports"],
    "jupyter_mlops.monitoring.windows": [
        "DriftWindow",
        "MonitorResult",
        "list_drift_windows",
        "monitor",
    ],
    "jupyter_mlops.monitoring.labels": ["log_labels", "prediction_log"],
    "jupyter_mlops.contracts.model": ["ColumnContract", "DataContract"],
    "jupyter_mlops.contracts.profile": ["profile"],
    "jupyter_mlops.contracts.validate": ["validate"],
    "jupyter_mlops.contracts.report": ["DataValidationReport"],
    "jupyter_mlops.contracts.diff": ["diff_contracts"],
    "jupyter_mlops.contracts.resolve": ["load_contract"],
    "jupyter_mlops.pipelines.export": ["export_notebook"],
    "jupyter_mlops.sweeps.runner": ["SweepResult", "sweep"],
    "jupyter_mlops.sweeps.views": ["SweepView", "best_trial", "list_sweeps", "load_sweep"],
    "jupyter_mlops.pipelines.runner": ["run_pipeline"],
    "jupyter_mlops.errors": [
        "Conflict",
        "ContractViolation",
        "FilterError",
        "IntegrityError",
        "InvalidInput",
        "MissingDependency",
        "MlopsError",
        "NotFound",
        "StoreError",
        "StoreDamaged",
        "ReadOnlyStore",
        "DiskFull",
    ],
    "jupyter_mlops.store.tinydb_view": ["tinydb"],
}
__getattr__, __dir__, __all__ = lazy_api(
    __name__, {name: module for module, names in _API.items() for name in names}
)


# -- IPython ----------------------------------------------------------------------------------
def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_mlops``: register the magics and the cell hooks."""
    from jupyter_mlops.jupyter.magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext jupyter_mlops``: remove the cell hooks."""
    from jupyter_mlops.jupyter.magics import unload

    unload(ipython)


# -- Jupyter server and JupyterLab ------------------------------------------------------------
def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-mlops"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "jupyter_mlops"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    from jupyter_mlops.jupyter.server import load

    load(server_app)
