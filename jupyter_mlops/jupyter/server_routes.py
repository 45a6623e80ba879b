"""What each REST route answers: plain functions from request values to JSON-able dicts.

The handlers in :mod:`jupyter_mlops.jupyter.server` parse a request, call one of these off the
event loop, and write the result. Each function calls the core (tracking, registry, serving,
monitoring, pipelines) and only reshapes its answer into the JSON documented in
``docs/rest-api.md``; the TypeScript interfaces in ``labextension/src/tokens.ts`` use the same
keys. Nothing here imports tornado or jupyter_server, so it is tested like any other core call.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from typing import Any

from jupyter_mlops import jsonable
from jupyter_mlops.errors import InvalidInput, MlopsError, NotFound

DEFAULT_PAGE = 100
MAX_PAGE = 1000
DRIFT_SUMMARY_DROP = ("distributions",)


# -- JSON ------------------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """``value`` as JSON-able values, every non-finite float ``None`` (JSON has no NaN)."""
    return jsonable.plain(value)


# -- request values --------------------------------------------------------------------------
def page_bounds(limit: str | None, offset: str | None) -> tuple[int, int]:
    """``(limit, offset)`` from query strings; ``InvalidInput`` when they are not counts."""
    size = _count(limit, "limit", DEFAULT_PAGE, minimum=1)
    if size > MAX_PAGE:
        raise InvalidInput(f"limit is at most {MAX_PAGE} runs per page, not {size}.")
    return size, _count(offset, "offset", 0, minimum=0)


def _count(text: str | None, what: str, default: int, minimum: int) -> int:
    if text is None or text == "":
        return default
    try:
        number = int(text)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise InvalidInput(f"{what} must be an integer ≥ {minimum}, not {text!r}.")
    return number


def flag(value: Any, what: str) -> bool:
    """A JSON boolean (``None`` is false)."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInput(f"{what} must be true or false, not {value!r}.")
    return value


def text(body: dict[str, Any], key: str, required: bool = True) -> str | None:
    """A string field of a JSON body."""
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"The request body needs {key!r} as a non-empty string.")
    return value


# -- experiments and runs ---------------------------------------------------------------------
def experiments() -> dict[str, Any]:
    """``GET experiments``."""
    from jupyter_mlops.store import get_store

    return {"experiments": get_store().list_experiments()}


def runs_page(
    experiments: list[str],
    filter: str | None,  # noqa: A002 - the search dialect's name
    order_by: list[str],
    limit: int,
    offset: int,
    tree: bool = False,
    parent: str | None = None,
) -> dict[str, Any]:
    """``GET runs``: one page of the matching runs, their total, and the keys they use.

    With ``tree``, nested runs fold under their parents: the page holds the top-level runs
    (those whose parent does not match), or with ``parent`` that run's matching children; each
    row's ``child_count`` says how many matching children it has.
    """
    from jupyter_mlops.tracking import fluent

    matching = fluent.find_runs(experiments or None, filter or None, order_by or None)
    counts = child_counts(matching)
    listed = level(matching, parent) if tree or parent else matching
    page = listed[offset : offset + limit]
    return {
        "runs": [{**run_row(r), "child_count": counts.get(r["run_id"], 0)} for r in page],
        "total": len(listed),
        "offset": offset,
        "limit": limit,
        "metric_keys": _keys(matching, "metrics"),
        "param_keys": _keys(matching, "params"),
    }


def child_counts(runs: Iterable[dict[str, Any]]) -> dict[str, int]:
    """How many of ``runs`` each run id is the parent of."""
    counts: dict[str, int] = {}
    for run in runs:
        parent = run.get("parent_run_id")
        if parent:
            counts[parent] = counts.get(parent, 0) + 1
    return counts


def level(runs: list[dict[str, Any]], parent: str | None) -> list[dict[str, Any]]:
    """The runs directly under ``parent``; ``None``: those whose parent is not in ``runs``."""
    if parent is not None:
        return [r for r in runs if r.get("parent_run_id") == parent]
    ids = {r["run_id"] for r in runs}
    return [r for r in runs if r.get("parent_run_id") not in ids]


def _keys(runs: Iterable[dict[str, Any]], section: str) -> list[str]:
    return sorted(set().union(*(run.get(section) or () for run in runs)))


def run_row(doc: dict[str, Any]) -> dict[str, Any]:
    """A run for the runs table: attributes, params and each metric's last value."""
    start, end = doc.get("start_time"), doc.get("end_time")
    return {
        "run_id": doc["run_id"],
        "run_name": doc.get("run_name", ""),
        "experiment": doc.get("experiment", ""),
        "experiment_id": doc["experiment_id"],
        "status": doc.get("status", "RUNNING"),
        "start_time": start,
        "end_time": end,
        "duration_s": (end - start) / 1000 if start is not None and end is not None else None,
        "parent_run_id": doc.get("parent_run_id"),
        "params": dict(doc.get("params") or {}),
        "metrics": {k: m.get("last") for k, m in (doc.get("metrics") or {}).items()},
    }


def run_detail(run_id: str) -> dict[str, Any]:
    """``GET runs/<id>``: the run with metric summaries, tags, datasets and artifacts."""
    from jupyter_mlops.store import get_store
    from jupyter_mlops.tracking import fluent

    run = fluent.get_run(run_id)
    doc = get_store().get_run(run.id)
    row = run_row({**doc, "experiment": run.experiment})
    artifacts = [{"path": path, **record} for path, record in sorted(run.artifacts.items())]
    return {
        "run": {
            **row,
            "metrics": dict(doc.get("metrics") or {}),
            "tags": run.tags,
            "datasets": run.datasets,
            "artifacts": artifacts,
        }
    }


def run_page(run_id: str) -> dict[str, Any]:
    """``GET runs/<id>/page``: the run page (see :func:`jupyter_mlops.viz.run_page.run_page`)."""
    from jupyter_mlops.tracking import fluent
    from jupyter_mlops.viz.run_page import run_page as build

    return build(fluent.get_run(run_id).id)  # get_run: a helpful NotFound for unknown ids


def metric_history(run_id: str, key: str) -> dict[str, Any]:
    """``GET runs/<id>/metrics/<key>``: every point, in logging order."""
    from jupyter_mlops.store import get_store

    store = get_store()
    known = store.get_run(run_id).get("metrics") or {}
    if key not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise NotFound(f"Run {run_id} has no metric {key!r} (metrics: {listed}).")
    points = store.get_metric_history(run_id, key)
    return {
        "run_id": run_id,
        "key": key,
        "history": [{"step": s, "value": v, "timestamp": t} for _, v, s, t in points],
    }


def artifact_file(run_id: str, path: str) -> str:
    """The local file holding an artifact (the store refuses paths that leave the run)."""
    from jupyter_mlops.store import get_store

    return get_store().artifact_file(run_id, path)


# -- registry --------------------------------------------------------------------------------
def models(filter: str | None) -> dict[str, Any]:  # noqa: A002 - the search dialect's name
    """``GET models``."""
    from jupyter_mlops.registry import registry

    return {"models": [dataclasses.asdict(m) for m in registry.search_models(filter or None)]}


def model_detail(name: str) -> dict[str, Any]:
    """``GET models/<name>``: the model, its versions (with validations) and alias history."""
    from jupyter_mlops.registry import registry

    versions = registry.list_versions(name)  # NotFound for an unknown name
    model = next(m for m in registry.search_models() if m.name == name)
    return {
        "model": dataclasses.asdict(model),
        "versions": [_version(v) for v in versions],
        "aliases": model.aliases,
        "alias_history": registry.alias_history(name),
    }


def _version(version: Any) -> dict[str, Any]:
    data = dataclasses.asdict(version)
    data.pop("input_example", None)  # can be large, and the sidebar never shows it
    data["uri"] = version.uri
    data["evaluation"] = _latest_evaluation(version)
    # what the gate compares without data (the sidebar's promote has none): the version's latest
    # stored evaluation over its run's metrics, the evaluation module's definitions
    data["gate_metrics"] = gate_metrics(version)
    return data


def gate_metrics(version: Any) -> dict[str, float]:
    """The metrics ``promote`` checks for ``version`` when it is given no data."""
    from jupyter_mlops.registry.gate import recorded_metrics

    return recorded_metrics(version)


def _latest_evaluation(version: Any) -> dict[str, Any] | None:
    """The latest stored evaluation's headline: name, task, rows, metrics, passed, time."""
    from jupyter_mlops.evaluation.record import stored_evaluations

    stored = stored_evaluations(version.name, version.version)
    if not stored:
        return None
    keys = ("name", "task", "rows", "metrics", "passed", "time", "run_id", "thresholds")
    return {key: stored[-1].get(key) for key in keys}


def promote(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """``POST models/<name>/aliases``: the gate decides; a refusal raises ``GateFailed`` (409).

    The body: ``version``, ``alias``, optional ``checks`` (``["f1>=0.9"]``), ``thresholds``
    (``["f1 >= baseline + 0.01"]`` or ``{"f1": {"threshold": 0.9}}``), ``force``, ``reason``.
    Without data the gate compares each version's latest stored evaluation (the metrics of
    ``mlops.evaluate``), over its run's metrics.
    """
    from jupyter_mlops.registry import gate

    version = body.get("version")
    if isinstance(version, bool) or not isinstance(version, (int, str)) or version == "":
        raise InvalidInput("The request body needs 'version', e.g. {\"version\": 2}.")
    checks = body.get("checks") or []
    if isinstance(checks, str):
        checks = [c for c in (part.strip() for part in checks.split(",")) if c]
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        raise InvalidInput("'checks' is a list of strings such as [\"accuracy >= 0.9\"].")
    from jupyter_mlops.evaluation.thresholds import thresholds_from_json

    report = gate.promote(
        name,
        version,
        text(body, "alias"),  # type: ignore[arg-type]
        checks,
        force=flag(body.get("force"), "force"),
        reason=text(body, "reason", required=False),
        thresholds=thresholds_from_json(body.get("thresholds")),
    )
    return {"report": report.to_dict()}


# -- deployments -------------------------------------------------------------------------------
def deployments() -> dict[str, Any]:
    """``GET deployments``: each with its live status (the core scrapes ``/metrics``)."""
    from jupyter_mlops.serving import deploy

    return {"deployments": [dataclasses.asdict(d) for d in deploy.list_deployments()]}


def stop_deployment(name: str) -> dict[str, Any]:
    """``POST deployments/<name>/stop``."""
    from jupyter_mlops.serving import deploy

    return {"deployment": dataclasses.asdict(deploy.stop_deployment(name))}


# -- drift -------------------------------------------------------------------------------------
def drift(name: str | None) -> dict[str, Any]:
    """``GET drift``: saved reports (newest first) and, per name, the windows over time."""
    from jupyter_mlops import monitoring

    reports = [_drift_summary(r.to_dict()) for r in monitoring.list_drift_reports(name or None)]
    series: dict[str, list[dict[str, Any]]] = {}
    for report in reports:
        if report.get("window_start"):
            series.setdefault(report.get("name") or "", []).append(report)
    windows: list[dict[str, Any]] = [
        {"name": key, "windows": sorted(items, key=lambda r: str(r["window_start"]))}
        for key, items in sorted(series.items())
    ]
    return {"reports": reports, "windows": windows + _monitor_series(name)}


def _monitor_series(name: str | None) -> list[dict[str, Any]]:
    """Windows that ``monitor()`` stored, one series per deployment and window length."""
    from jupyter_mlops import monitoring

    frame = monitoring.list_drift_windows(name or None)
    series: dict[str, list[dict[str, Any]]] = {}
    for row in frame.to_dict(orient="records"):
        key = f"{row['deployment']} ({row['window']})"
        series.setdefault(key, []).append(_window_summary(key, row))
    return [{"name": key, "windows": items} for key, items in sorted(series.items())]


def _window_summary(key: str, row: dict[str, Any]) -> dict[str, Any]:
    """A monitoring window in the shape of a report summary (what the sidebar draws)."""
    import pandas as pd

    def when(value: Any) -> str | None:
        return None if value is None or value != value else pd.Timestamp(value).isoformat()

    drifted = row.get("drifted_columns") or []
    return {
        "report_id": f"{key}/{when(row['window_start'])}/{row.get('version')}",
        "name": key,
        "created_at": when(row.get("window_end")),
        "dataset_drift": bool(row.get("dataset_drift")),
        "drift_share": _number(row.get("drift_share")),
        "drift_share_threshold": 0.5,
        "n_tested": int(row.get("n_tested") or 0),
        "n_drifted": int(row.get("n_drifted") or 0),
        "reference_rows": None,
        "current_rows": int(row.get("rows") or 0),
        "window_start": when(row["window_start"]),
        "window_end": when(row.get("window_end")),
        "status": row.get("status"),
        "alert": bool(row.get("alert")),
        "version": row.get("version"),
        "drifted_columns": list(drifted) if not isinstance(drifted, str) else [drifted],
        "columns": [],
    }


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None


def _drift_summary(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in DRIFT_SUMMARY_DROP}


# -- export ------------------------------------------------------------------------------------
def export(root_dir: str, body: dict[str, Any]) -> dict[str, Any]:
    """``POST export``: a notebook below ``root_dir`` → the pipeline files written beside it."""
    from jupyter_mlops.pipelines.export import describe_export, export_notebook

    notebook = notebook_path(root_dir, text(body, "path"))  # type: ignore[arg-type]
    target = text(body, "target", required=False) or "python"
    single_step = flag(body.get("single_step"), "single_step")
    files = export_notebook(notebook, target, single_step=single_step)  # checks the target
    relative = [_below(root_dir, f) for f in files]
    return {
        "path": _below(root_dir, notebook),
        "target": target,
        "files": relative,
        "folder": os.path.dirname(relative[0]) if relative else "",
        "message": describe_export(notebook, target, files),
    }


class OutsideRoot(MlopsError, PermissionError):
    """A path that leaves the server's root folder (answered with 403)."""


def notebook_path(root_dir: str, path: str) -> str:
    """The absolute path of ``path`` (relative to the contents root), which must stay inside it."""
    if os.path.isabs(path) or path.startswith(("/", "\\")) or "\x00" in path:
        raise InvalidInput(
            f"Give the notebook path relative to the server's root folder, not {path!r}."
        )
    root = os.path.realpath(root_dir)
    full = os.path.realpath(os.path.join(root, path))
    if os.path.commonpath([root, full]) != root:
        raise OutsideRoot(f"The notebook {path!r} is outside the server's root folder.")
    if not full.endswith(".ipynb"):
        raise InvalidInput(f"Only notebooks (.ipynb) can be exported, not {path!r}.")
    return full


def _below(root_dir: str, path: str) -> str:
    """``path`` relative to ``root_dir`` with '/' separators (absolute if it is outside)."""
    root = os.path.realpath(root_dir)
    full = os.path.realpath(path)
    if os.path.commonpath([root, full]) != root:
        return full
    return os.path.relpath(full, root).replace(os.sep, "/")
