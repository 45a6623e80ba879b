"""MLflow's tracking routes over our store: experiments, runs, params, metrics, tags, search.

Runs are ours (a run created here is the same document a ``%%mlops_track`` cell writes, so it
shows in the panels and the side bar); this module only translates. What MLflow keeps in system
tags we keep as fields: ``mlflow.runName`` is the run's name, ``mlflow.parentRunId`` its parent.
Both are written back as tags in every reply, as MLflow's server does.

Limits are MLflow's (``mlflow.utils.validation``): a log-batch takes at most 1,000 metrics, 100
params, 100 tags and 1,000 of them in all; keys are at most 250 characters of letters, digits
and ``_ - . / : space``; a param value at most 6,000 characters, a tag value 8,000.
"""

from __future__ import annotations

import math
import posixpath
import re
import time
import uuid
from typing import Any

from jupyter_mlops.errors import NotFound
from jupyter_mlops.mlflow_api.api import (
    ApiError,
    Request,
    Response,
    as_key_values,
    key_values,
    page,
    route,
)
from jupyter_mlops.store import get_store
from jupyter_mlops.store.base import Store
from jupyter_mlops.store.mlflow import codec
from jupyter_mlops.tracking.fluent import generate_run_name

V2 = "/api/2.0/mlflow"
DEFAULT_EXPERIMENT = "Default"
MAX_METRICS = 1000
MAX_PARAMS_TAGS = 100
MAX_ENTITIES = 1000
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_RUNS_PAGE = 50_000
_KEY = re.compile(r"^[/\w.\- :]*$")
RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
FIELD_TAGS = ("mlflow.runName", "mlflow.parentRunId")
SYSTEM_TAGS = {**codec.SYSTEM_TAGS, "mlops.source.type": "mlflow.source.type"}
"""System tags kept as run fields (``run_name``, ``parent_run_id``)."""


def store() -> Store:
    """The configured store (the same one every process of this machine uses)."""
    return get_store()


def now_ms() -> int:
    """The time in ms since the epoch, as MLflow's timestamps."""
    return int(time.time() * 1000)


# -- experiments -------------------------------------------------------------------------------
def experiment_json(exp: dict[str, Any]) -> dict[str, Any]:
    """MLflow's ``Experiment`` of ours (artifacts under ``mlflow-artifacts:/<id>``)."""
    created = exp.get("creation_time") or 0
    return {
        "experiment_id": exp["experiment_id"],
        "name": exp["name"],
        "artifact_location": f"mlflow-artifacts:/{exp['experiment_id']}",
        "lifecycle_stage": "active",
        "creation_time": created,
        "last_update_time": created,
        "tags": as_key_values(exp.get("tags") or {}),
    }


def experiment(exp_id: str) -> dict[str, Any]:
    """Our experiment ``exp_id`` (MLflow's default experiment ``0`` is made on first use)."""
    docs = store().documents("experiments")
    if exp_id in docs:
        return docs[exp_id]
    if exp_id == "0" and not docs:
        return store().get_or_create_experiment(DEFAULT_EXPERIMENT)
    raise ApiError("RESOURCE_DOES_NOT_EXIST", f"No experiment with id {exp_id!r}.")


@route("POST", f"{V2}/experiments/create")
def create_experiment(request: Request) -> dict[str, Any]:
    """``POST experiments/create``; ``RESOURCE_ALREADY_EXISTS`` for a known name."""
    name = request.text("name", limit=500)
    if store().find_experiment(name) is not None:
        raise ApiError("RESOURCE_ALREADY_EXISTS", f"Experiment {name!r} already exists.")
    tags = dict(key_values(request.get("tags"), "tags"))
    exp = store().get_or_create_experiment(name)
    if tags:
        _set_experiment_tags(exp["experiment_id"], tags)
    return {"experiment_id": exp["experiment_id"]}


@route("GET", f"{V2}/experiments/get")
def get_experiment(request: Request) -> dict[str, Any]:
    """``GET experiments/get?experiment_id=``."""
    return {"experiment": experiment_json(experiment(request.text("experiment_id")))}


@route("GET", f"{V2}/experiments/get-by-name")
def get_experiment_by_name(request: Request) -> dict[str, Any]:
    """``GET experiments/get-by-name?experiment_name=``."""
    name = request.text("experiment_name")
    exp = store().find_experiment(name)
    if exp is None:
        raise ApiError("RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name '{name}'")
    return {"experiment": experiment_json(exp)}


@route("POST", f"{V2}/experiments/search")
@route("GET", f"{V2}/experiments/search")
def search_experiments(request: Request) -> dict[str, Any]:
    """``experiments/search``: by a name/tag filter, newest first."""
    from jupyter_mlops.mlflow_api.names import name_filter

    keep = name_filter(request.get("filter"), "experiments")
    found = [e for e in store().list_experiments() if keep(e["name"], e.get("tags") or {})]
    found.sort(key=lambda e: -(e.get("creation_time") or 0))
    return page(found, request, "experiments", experiment_json, default=1000, most=50_000)


@route("POST", f"{V2}/experiments/set-experiment-tag")
def set_experiment_tag(request: Request) -> dict[str, Any]:
    """``POST experiments/set-experiment-tag``."""
    exp = experiment(request.text("experiment_id"))
    key = check_key(request.text("key"), "tag")
    _set_experiment_tags(exp["experiment_id"], {key: request.text("value", required=False)})
    return {}


def _set_experiment_tags(exp_id: str, tags: dict[str, str]) -> None:
    def body(txn: Any) -> None:
        doc = txn.get("experiments", exp_id)
        if doc is None:
            raise NotFound(f"No experiment with id {exp_id!r}.")
        txn.put("experiments", exp_id, {**doc, "tags": {**(doc.get("tags") or {}), **tags}})

    store().transact(body)


# -- runs --------------------------------------------------------------------------------------
def run_json(run: dict[str, Any]) -> dict[str, Any]:
    """MLflow's ``Run`` of our run document (its system tags made from our fields and tags)."""
    mapped = ("mlops.parentRunId", *SYSTEM_TAGS)  # shown under MLflow's names only
    tags = {k: v for k, v in (run.get("tags") or {}).items() if k not in mapped}
    tags.update(codec.system_tags(run))
    info = run_info(run)
    metrics = [
        {
            "key": key,
            "value": json_double(summary.get("last")),
            "timestamp": summary.get("timestamp") or 0,
            "step": summary.get("step") or 0,
        }
        for key, summary in (run.get("metrics") or {}).items()
    ]
    return {
        "info": info,
        "data": {
            "metrics": metrics,
            "params": as_key_values(run.get("params") or {}),
            "tags": as_key_values(tags),
        },
        "inputs": {"dataset_inputs": [_dataset_input(d) for d in run.get("datasets") or []]},
    }


def run_info(run: dict[str, Any]) -> dict[str, Any]:
    """MLflow's ``RunInfo`` of our run document."""
    tags = run.get("tags") or {}
    info = {
        "run_id": run["run_id"],
        "run_uuid": run["run_id"],
        "run_name": run.get("run_name") or "",
        "experiment_id": run["experiment_id"],
        "user_id": tags.get("mlops.user") or "",
        "status": run.get("status") or "RUNNING",
        "start_time": run.get("start_time") or 0,
        "artifact_uri": f"mlflow-artifacts:/{run['experiment_id']}/{run['run_id']}/artifacts",
        "lifecycle_stage": "active",
    }
    if run.get("end_time") is not None:
        info["end_time"] = run["end_time"]
    return info


def _dataset_input(dataset: dict[str, Any]) -> dict[str, Any]:
    import json

    return {
        "tags": [{"key": "mlflow.data.context", "value": str(dataset.get("context") or "")}],
        "dataset": {
            "name": str(dataset.get("name") or ""),
            "digest": str(dataset.get("digest") or ""),
            "source_type": str(dataset.get("source_type") or "local"),
            "source": str(dataset.get("source") or "{}"),
            "profile": json.dumps(dataset, default=str),
        },
    }


def get_run_doc(run_id: str) -> dict[str, Any]:
    """Our run ``run_id``; MLflow's ``RESOURCE_DOES_NOT_EXIST`` message when unknown."""
    try:
        return store().get_run(run_id)
    except NotFound:
        raise ApiError("RESOURCE_DOES_NOT_EXIST", f"Run with id={run_id} not found") from None


def _run_id(request: Request) -> str:
    run_id = request.get("run_id") or request.get("run_uuid")
    if not run_id or not isinstance(run_id, str):
        raise ApiError("INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'.")
    return run_id


@route("POST", f"{V2}/runs/create")
def create_run(request: Request) -> dict[str, Any]:
    """``POST runs/create``: a run of ours, owned by no process here (never shown KILLED)."""
    exp_id = request.text("experiment_id", required=False) or "0"
    exp = experiment(exp_id)
    tags = _checked_tags(key_values(request.get("tags"), "tags"))
    name = request.text("run_name", required=False, limit=MAX_TAG_VALUE)
    name = name or tags.get("mlflow.runName") or generate_run_name()
    parent = tags.get("mlflow.parentRunId")
    for key in FIELD_TAGS:
        tags.pop(key, None)
    if parent:
        tags["mlops.parentRunId"] = parent
    doc = {
        "run_id": uuid.uuid4().hex,
        "run_name": name,
        "experiment_id": exp["experiment_id"],
        "experiment": exp["name"],
        "status": "RUNNING",
        "start_time": request.integer("start_time") or now_ms(),
        "end_time": None,
        "parent_run_id": parent,
        "params": {},
        "metrics": {},
        "tags": ours(tags),
        "datasets": [],
        "artifacts": {},
        "pid": None,  # a client's run: no process of this machine owns it (never shown KILLED)
        "host": None,
        "proc_start": None,
    }
    if request.get("user_id"):
        doc["tags"].setdefault("mlops.user", str(request.get("user_id")))
    return {"run": run_json(store().create_run(doc))}


@route("GET", f"{V2}/runs/get")
def get_run(request: Request) -> dict[str, Any]:
    """``GET runs/get?run_id=``."""
    return {"run": run_json(get_run_doc(_run_id(request)))}


@route("POST", f"{V2}/runs/update")
def update_run(request: Request) -> dict[str, Any]:
    """``POST runs/update``: status, end time, name."""
    run_id = _run_id(request)
    get_run_doc(run_id)
    fields: dict[str, Any] = {}
    status = request.get("status")
    if status is not None:
        if status not in RUN_STATUSES:
            raise ApiError(
                "INVALID_PARAMETER_VALUE",
                f"Invalid run status {status!r}: one of {', '.join(RUN_STATUSES)}.",
            )
        fields["status"] = status
    end_time = request.integer("end_time")
    if end_time is not None:
        fields["end_time"] = end_time
    name = request.text("run_name", required=False, limit=MAX_TAG_VALUE)
    if name:
        fields["run_name"] = name
    if fields:
        store().update_run(run_id, **fields)
    return {"run_info": run_info(get_run_doc(run_id))}


@route("POST", f"{V2}/runs/log-metric")
def log_metric(request: Request) -> dict[str, Any]:
    """``POST runs/log-metric``: one point."""
    run_id = _run_id(request)
    point = _metric_point(request.json() if request.body else {})
    _log(run_id, [point], {}, {})
    return {}


@route("POST", f"{V2}/runs/log-parameter")
def log_param(request: Request) -> dict[str, Any]:
    """``POST runs/log-parameter``: write-once, as MLflow's (a new value is refused)."""
    run_id = _run_id(request)
    key = check_key(request.text("key"), "param")
    _log(run_id, [], {key: _param_value(request.get("value"), key)}, {})
    return {}


@route("POST", f"{V2}/runs/set-tag")
def set_tag(request: Request) -> dict[str, Any]:
    """``POST runs/set-tag``."""
    run_id = _run_id(request)
    tags = _checked_tags([(request.text("key"), request.get("value") or "")])
    _log(run_id, [], {}, tags)
    return {}


@route("POST", f"{V2}/runs/delete-tag")
def delete_tag(request: Request) -> dict[str, Any]:
    """``POST runs/delete-tag``."""
    run_id = _run_id(request)
    key = request.text("key")
    get_run_doc(run_id)

    def body(txn: Any) -> None:
        run = txn.get("runs", run_id)
        if key not in (run.get("tags") or {}):
            raise ApiError(
                "RESOURCE_DOES_NOT_EXIST", f"No tag with name: {key} in run with id {run_id}"
            )
        tags = {k: v for k, v in run["tags"].items() if k != key}
        txn.put("runs", run_id, {**run, "tags": tags})

    store().transact(body)
    return {}


@route("POST", f"{V2}/runs/log-batch")
def log_batch(request: Request) -> dict[str, Any]:
    """``POST runs/log-batch``: metrics, params and tags within MLflow's limits."""
    run_id = _run_id(request)
    body = request.json()
    metrics, params, tags = (body.get(k) or [] for k in ("metrics", "params", "tags"))
    for items, what in ((metrics, "metrics"), (params, "params"), (tags, "tags")):
        if not isinstance(items, list):
            raise ApiError("INVALID_PARAMETER_VALUE", f"'{what}' must be a list.")
    _check_batch(len(metrics), len(params), len(tags))
    points = [_metric_point(m) for m in metrics]
    param_pairs = key_values(params, "params")
    checked = {check_key(k, "param"): _param_value(v, k) for k, v in param_pairs}
    if len(checked) < len(param_pairs):
        _same_param_twice(param_pairs)
    _log(run_id, points, checked, _checked_tags(key_values(tags, "tags")))
    return {}


def _check_batch(metrics: int, params: int, tags: int) -> None:
    if metrics > MAX_METRICS:
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            f"A batch logging request can contain at most {MAX_METRICS} metrics. "
            f"Got {metrics} metrics.",
        )
    if params > MAX_PARAMS_TAGS or tags > MAX_PARAMS_TAGS:
        what, count = ("params", params) if params > MAX_PARAMS_TAGS else ("tags", tags)
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            f"A batch logging request can contain at most {MAX_PARAMS_TAGS} {what}. "
            f"Got {count} {what}.",
        )
    if metrics + params + tags > MAX_ENTITIES:
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            f"A batch logging request can contain at most {MAX_ENTITIES} metrics, params and "
            f"tags in total. Got {metrics + params + tags}.",
        )


def _same_param_twice(pairs: list[tuple[str, str]]) -> None:
    seen: dict[str, str] = {}
    for key, value in pairs:
        if key in seen and seen[key] != value:
            raise ApiError(
                "INVALID_PARAMETER_VALUE",
                f"Duplicate parameter keys have been submitted: {key!r} with {seen[key]!r} "
                f"and {value!r}.",
            )
        seen[key] = value


def _log(
    run_id: str,
    points: list[tuple[str, float, int, int]],
    params: dict[str, str],
    tags: dict[str, str],
) -> None:
    """Params, then tags, then metric points of one run (each one atomic write)."""
    target = store()
    run = get_run_doc(run_id)  # MLflow's message for an unknown run
    if params:
        target.log_params(run_id, params)
    if tags:
        fields = {}
        if "mlflow.runName" in tags:
            fields["run_name"] = tags.pop("mlflow.runName")
        if "mlflow.parentRunId" in tags:
            fields["parent_run_id"] = tags.pop("mlflow.parentRunId")
        if fields:
            target.update_run(run_id, **fields)
        if tags:
            target.set_tags(run_id, ours(tags))
    points = _new_points(target, run, points)
    if points:
        target.log_metric_points(run_id, points)


def _new_points(
    target: Store, run: dict[str, Any], points: list[tuple[str, float, int, int]]
) -> list[tuple[str, float, int, int]]:
    """``points`` without those logged already (MLflow drops a repeated point).

    MLflow's client logs a run's metrics again when it logs a model; a point is the same when
    its key, value, step and timestamp are.

    Only a point no newer than its key's latest needs the history read.
    """
    summaries = run.get("metrics") or {}
    kept, seen, histories = [], set(), {}
    for point in points:
        key, _, _, timestamp = point
        if point in seen:
            continue
        seen.add(point)
        latest = (summaries.get(key) or {}).get("timestamp")
        if latest is not None and timestamp <= latest:
            if key not in histories:
                histories[key] = set(target.get_metric_history(run["run_id"], key))
            if point in histories[key]:
                continue
        kept.append(point)
    return kept


def ours(tags: dict[str, str]) -> dict[str, str]:
    """Tags as we keep them: MLflow's system tags for source and user under our names.

    ``mlflow.source.name`` is kept as ``mlops.source.name`` (and so on), so the panels read
    them; replies write them back under MLflow's names (:func:`run_json`).
    """
    theirs = {mlflow_key: mine for mine, mlflow_key in SYSTEM_TAGS.items()}
    return {theirs.get(k, k): v for k, v in tags.items()}


def check_key(key: Any, what: str) -> str:
    """A metric, param or tag key as MLflow takes it; ``INVALID_PARAMETER_VALUE`` otherwise."""
    if not isinstance(key, str) or not key:
        raise ApiError(
            "INVALID_PARAMETER_VALUE", f"Missing value for required parameter 'key' of a {what}."
        )
    if len(key) > MAX_KEY:
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            f"{what.capitalize()} key '{key[:40]}...' is {len(key)} characters; at most {MAX_KEY}.",
        )
    norm = posixpath.normpath(key)
    if not _KEY.match(key) or norm != key or norm == "." or norm.startswith(("..", "/")):
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            f"Invalid {what} name: {key!r}. Names may only contain alphanumerics, underscores "
            "(_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/), and must not "
            "resolve to other names when treated as a path.",
        )
    return key


def _param_value(value: Any, key: str) -> str:
    text = "" if value is None else str(value)
    if len(text) > MAX_PARAM_VALUE:
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            f"Param value for {key!r} is {len(text):,} characters; at most {MAX_PARAM_VALUE:,}.",
        )
    return text


def _checked_tags(pairs: list[tuple[str, str]]) -> dict[str, str]:
    tags = {}
    for key, value in pairs:
        check_key(key, "tag")
        text = "" if value is None else str(value)
        if len(text) > MAX_TAG_VALUE:
            raise ApiError(
                "INVALID_PARAMETER_VALUE",
                f"Tag value for {key!r} is {len(text):,} characters; at most {MAX_TAG_VALUE:,}.",
            )
        tags[key] = text
    return tags


def _metric_point(metric: Any) -> tuple[str, float, int, int]:
    if not isinstance(metric, dict):
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            "Each metric must be an object {key, value, timestamp, step}.",
        )
    key = check_key(metric.get("key"), "metric")
    value = _double(metric.get("value"), key)
    timestamp = _whole(metric.get("timestamp"), "timestamp", key, now_ms())
    step = _whole(metric.get("step"), "step", key, 0)
    return key, value, step, timestamp


def _double(value: Any, key: str) -> float:
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            f"Got invalid value {value!r} for metric '{key}': it must be a number.",
        )
    try:
        return float(value)
    except OverflowError:
        raise ApiError(
            "INVALID_PARAMETER_VALUE", f"Metric '{key}' is out of a double's range."
        ) from None


def _whole(value: Any, name: str, key: str, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,19}", value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63:
        return value
    raise ApiError(
        "INVALID_PARAMETER_VALUE",
        f"The {name} of metric '{key}' must be an integer, not {value!r}.",
    )


def json_double(value: Any) -> Any:
    """A double as protobuf's JSON writes it: NaN and infinities as strings."""
    if value is None:
        return "NaN"
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


# -- search and history -------------------------------------------------------------------------
@route("POST", f"{V2}/runs/search")
def search_runs(request: Request) -> dict[str, Any]:
    """``POST runs/search``: the search dialect (a superset of MLflow's), order, pages."""
    from jupyter_mlops.tracking.search import search

    exp_ids = [str(e) for e in request.get_list("experiment_ids")]
    view = request.get("run_view_type") or "ACTIVE_ONLY"
    if view not in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL"):
        raise ApiError("INVALID_PARAMETER_VALUE", f"Invalid run_view_type {view!r}.")
    order_by = [str(o) for o in request.get_list("order_by") if str(o).strip()]
    target = store()
    names = {e["experiment_id"]: e["name"] for e in target.list_experiments()}
    runs = [] if view == "DELETED_ONLY" else target.list_runs(exp_ids or None)
    runs = [
        r if "experiment" in r else {**r, "experiment": names.get(r["experiment_id"])} for r in runs
    ]
    ordered = search(
        runs, request.get("filter") or None, order_by or ["attributes.start_time DESC"]
    )
    return page(ordered, request, "runs", run_json, default=1000, most=MAX_RUNS_PAGE)


@route("GET", f"{V2}/metrics/get-history")
def metric_history(request: Request) -> dict[str, Any]:
    """``GET metrics/get-history``: every point of a metric, in logging order."""
    run_id = _run_id(request)
    key = request.text("metric_key")
    get_run_doc(run_id)
    points = store().get_metric_history(run_id, key)
    return page(points, request, "metrics", _metric_json, default=25_000, most=25_000)


def _metric_json(point: tuple[str, float, int, int]) -> dict[str, Any]:
    key, value, step, timestamp = point
    return {"key": key, "value": json_double(value), "timestamp": timestamp, "step": step}


@route("POST", f"{V2}/runs/log-inputs")
def log_inputs(request: Request) -> dict[str, Any]:
    """``POST runs/log-inputs``: datasets, kept with the run's datasets."""
    run_id = _run_id(request)
    get_run_doc(run_id)
    for entry in request.get_list("datasets"):
        if not isinstance(entry, dict) or not isinstance(entry.get("dataset"), dict):
            raise ApiError(
                "INVALID_PARAMETER_VALUE", "Each of 'datasets' needs a 'dataset' object."
            )
        dataset = entry["dataset"]
        context = dict(key_values(entry.get("tags"), "tags")).get("mlflow.data.context")
        store().add_dataset(
            run_id,
            {
                "name": str(dataset.get("name") or ""),
                "digest": str(dataset.get("digest") or ""),
                "source_type": str(dataset.get("source_type") or ""),
                "source": str(dataset.get("source") or ""),
                "context": context,
            },
        )
    return {}


@route("POST", f"{V2}/runs/outputs")
def log_outputs(request: Request) -> dict[str, Any]:
    """``POST runs/outputs``: a run's logged models (kept by the logged models themselves)."""
    run_id = _run_id(request)
    get_run_doc(run_id)
    return {}


# -- the server ----------------------------------------------------------------------------------
@route("GET", "/health")
def health(request: Request) -> Response:
    """``OK``, as ``mlflow server`` answers (load balancers and test harnesses poll it)."""
    return Response(body=b"OK", content_type="text/plain")


@route("GET", "/version")
def version(request: Request) -> Response:
    """``GET /version``: this package's version."""
    from jupyter_mlops._version import __version__

    return Response(body=f"jupyter-mlops {__version__}".encode(), content_type="text/plain")
