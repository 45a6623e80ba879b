"""MLflow 3's logged models: what ``mlflow.<flavor>.log_model`` creates before it uploads files.

A logged model is kept in the store's ``mlflow_logged_models`` table. Its files are the run's:
``mlflow-artifacts:/<exp>/models/<model_id>/artifacts/<path>`` is the artifact ``<name>/<path>``
of its source run, so ``runs:/<run_id>/<name>`` reaches the same bytes, in MLflow's client and in
ours (``%mlops_register``, the registry panel). A model logged outside a run has no run to keep
its files and is refused with a message saying so.
"""

from __future__ import annotations

import uuid
from typing import Any

from jupyter_mlops.mlflow_api.api import (
    ApiError,
    Request,
    as_key_values,
    key_values,
    page,
    route,
)
from jupyter_mlops.mlflow_api.tracking import V2, experiment, get_run_doc, now_ms, store

TABLE = "mlflow_logged_models"
STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")


def model_json(doc: dict[str, Any]) -> dict[str, Any]:
    """MLflow's ``LoggedModel`` of our document."""
    info = {
        "model_id": doc["model_id"],
        "experiment_id": doc["experiment_id"],
        "name": doc["name"],
        "artifact_uri": (
            f"mlflow-artifacts:/{doc['experiment_id']}/models/{doc['model_id']}/artifacts"
        ),
        "creation_timestamp_ms": doc["creation_time"],
        "last_updated_timestamp_ms": doc.get("last_updated", doc["creation_time"]),
        "status": doc.get("status", "LOGGED_MODEL_PENDING"),
        "source_run_id": doc["source_run_id"],
        "tags": as_key_values(doc.get("tags") or {}),
    }
    if doc.get("model_type"):
        info["model_type"] = doc["model_type"]
    if doc.get("status_message"):
        info["status_message"] = doc["status_message"]
    return {
        "info": info,
        "data": {"params": as_key_values(doc.get("params") or {}), "metrics": []},
    }


def get_model_doc(model_id: str) -> dict[str, Any]:
    """The logged model ``model_id``; ``RESOURCE_DOES_NOT_EXIST`` when unknown."""
    doc = store().documents(TABLE).get(model_id)
    if doc is None:
        raise ApiError("RESOURCE_DOES_NOT_EXIST", f"Logged model with ID '{model_id}' not found.")
    return doc


def files_of(model_id: str) -> tuple[str, str]:
    """The run keeping a logged model's files, and the folder they are in."""
    doc = get_model_doc(model_id)
    return doc["source_run_id"], doc["name"]


@route("POST", f"{V2}/logged-models")
def create_logged_model(request: Request) -> dict[str, Any]:
    """``POST logged-models``: a model about to be logged by a run (PENDING)."""
    exp = experiment(request.text("experiment_id"))
    run_id = request.text("source_run_id", required=False)
    if not run_id:
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            "jupyter_mlops keeps a model's files with the run that logged it: log the model "
            "inside a run (with mlflow.start_run(): ...).",
        )
    get_run_doc(run_id)
    name = request.text("name", required=False, limit=250) or "model"
    now = now_ms()
    doc = {
        "model_id": f"m-{uuid.uuid4().hex}",
        "experiment_id": exp["experiment_id"],
        "name": name,
        "source_run_id": run_id,
        "model_type": request.text("model_type", required=False, limit=500),
        "status": "LOGGED_MODEL_PENDING",
        "creation_time": now,
        "last_updated": now,
        "tags": dict(key_values(request.get("tags"), "tags")),
        "params": dict(key_values(request.get("params"), "params")),
    }
    store().transact(lambda txn: txn.put(TABLE, doc["model_id"], doc))
    return {"model": model_json(doc)}


@route("GET", f"{V2}/logged-models/{{model_id}}")
def get_logged_model(request: Request) -> dict[str, Any]:
    """``GET logged-models/<id>``."""
    return {"model": model_json(get_model_doc(request.params["model_id"]))}


@route("PATCH", f"{V2}/logged-models/{{model_id}}")
def finalize_logged_model(request: Request) -> dict[str, Any]:
    """``PATCH logged-models/<id>``: its status once the files are up (READY or failed)."""
    status = request.text("status")
    if status not in STATUSES:
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            f"Invalid logged model status {status!r}: one of {', '.join(STATUSES)}.",
        )
    return {"model": model_json(_update(request.params["model_id"], status=status))}


@route("PATCH", f"{V2}/logged-models/{{model_id}}/tags")
def set_logged_model_tags(request: Request) -> dict[str, Any]:
    """``PATCH logged-models/<id>/tags``: add or overwrite tags."""
    model_id = request.params["model_id"]
    tags = dict(key_values(request.get("tags"), "tags"))
    doc = get_model_doc(model_id)
    _update(model_id, tags={**(doc.get("tags") or {}), **tags})
    return {}


@route("DELETE", f"{V2}/logged-models/{{model_id}}/tags/{{key}}")
def delete_logged_model_tag(request: Request) -> dict[str, Any]:
    """``DELETE logged-models/<id>/tags/<key>``."""
    model_id = request.params["model_id"]
    doc = get_model_doc(model_id)
    tags = {k: v for k, v in (doc.get("tags") or {}).items() if k != request.params["key"]}
    _update(model_id, tags=tags)
    return {}


@route("POST", f"{V2}/logged-models/{{model_id}}/params")
def log_logged_model_params(request: Request) -> dict[str, Any]:
    """``POST logged-models/<id>/params``: add params."""
    model_id = request.params["model_id"]
    params = dict(key_values(request.get("params"), "params"))
    doc = get_model_doc(model_id)
    _update(model_id, params={**(doc.get("params") or {}), **params})
    return {}


@route("POST", f"{V2}/logged-models/search")
def search_logged_models(request: Request) -> dict[str, Any]:
    """``POST logged-models/search``: by experiment and a name/run filter, newest first."""
    from jupyter_mlops.mlflow_api.names import document_filter

    wanted = {str(e) for e in request.get_list("experiment_ids")}
    keep = document_filter(
        request.get("filter"), "logged models", ("name", "source_run_id", "model_id", "status")
    )
    docs = [
        d
        for d in store().documents(TABLE).values()
        if (not wanted or d["experiment_id"] in wanted) and keep(d)
    ]
    docs.sort(key=lambda d: -d["creation_time"])
    return page(docs, request, "models", model_json, default=50, most=1000)


def _update(model_id: str, **fields: Any) -> dict[str, Any]:
    def body(txn: Any) -> dict[str, Any]:
        doc = txn.get(TABLE, model_id)
        if doc is None:
            raise ApiError(
                "RESOURCE_DOES_NOT_EXIST", f"Logged model with ID '{model_id}' not found."
            )
        new = {**doc, **fields, "last_updated": now_ms()}
        txn.put(TABLE, model_id, new)
        return new

    return store().transact(body)
