"""The OpenAPI 3 document of the MLflow-compatible API, built from its route table.

Served at ``GET openapi.json`` below the API's root (``http://127.0.0.1:5000/openapi.json`` of
``jupyter mlops server``, ``/jupyter-mlops/mlflow/openapi.json`` in Jupyter) and kept in
``docs/openapi/mlflow-api.json`` with the other documents (``python -m
jupyter_mlops.jupyter.openapi`` rewrites them; a test checks they are current).

Every declared route is in it: :data:`FIELDS` names what each route reads, and a route added
without an entry there fails the document's build, so the two cannot drift apart. Bodies and
replies are MLflow's (its REST API reference has every field); the document states the fields
each route reads and the shape of every answer, which is what schemathesis checks against.
"""

from __future__ import annotations

from typing import Any

from jupyter_mlops.mlflow_api.api import ROUTES, STATUS, Request, Route, route

JSON, BYTES, TEXT = "application/json", "application/octet-stream", "text/plain"
STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
NUM: dict[str, Any] = {"type": "number"}
_KV = {"type": "array", "items": {"type": "object", "properties": {"key": STR, "value": STR}}}
_STRINGS = {"type": "array", "items": STR}
_OBJECTS = {"type": "array", "items": {"type": "object"}}
_POINT = {"key": STR, "value": NUM, "timestamp": INT, "step": INT}
_METRIC = {"type": "object", "properties": _POINT}
_PAGE = {"max_results": INT, "page_token": STR}
_RUN = {"run_id": STR}
_VERSION = {"name": STR, "version": STR}

FIELDS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "experiments/create"): {"name": STR, "artifact_location": STR, "tags": _KV},
    ("GET", "experiments/get"): {"experiment_id": STR},
    ("GET", "experiments/get-by-name"): {"experiment_name": STR},
    ("POST", "experiments/search"): {"filter": STR, "order_by": _STRINGS, **_PAGE},
    ("GET", "experiments/search"): {"filter": STR, **_PAGE},
    ("POST", "experiments/set-experiment-tag"): {"experiment_id": STR, "key": STR, "value": STR},
    ("POST", "runs/create"): {"experiment_id": STR, "user_id": STR, "run_name": STR,
                              "start_time": INT, "tags": _KV},
    ("GET", "runs/get"): _RUN,
    ("POST", "runs/update"): {**_RUN, "status": STR, "end_time": INT, "run_name": STR},
    ("POST", "runs/log-metric"): {**_RUN, **_POINT},
    ("POST", "runs/log-parameter"): {**_RUN, "key": STR, "value": STR},
    ("POST", "runs/set-tag"): {**_RUN, "key": STR, "value": STR},
    ("POST", "runs/delete-tag"): {**_RUN, "key": STR},
    ("POST", "runs/log-batch"): {**_RUN, "metrics": {"type": "array", "items": _METRIC},
                                 "params": _KV, "tags": _KV},
    ("POST", "runs/search"): {"experiment_ids": _STRINGS, "filter": STR, "run_view_type": STR,
                              "order_by": _STRINGS, **_PAGE},
    ("GET", "metrics/get-history"): {**_RUN, "metric_key": STR, **_PAGE},
    ("POST", "runs/log-inputs"): {**_RUN, "datasets": _OBJECTS},
    ("POST", "runs/outputs"): {**_RUN, "models": _OBJECTS},
    ("POST", "registered-models/create"): {"name": STR, "description": STR, "tags": _KV},
    ("GET", "registered-models/get"): {"name": STR},
    ("PATCH", "registered-models/update"): {"name": STR, "description": STR},
    ("POST", "registered-models/set-tag"): {"name": STR, "key": STR, "value": STR},
    ("GET", "registered-models/search"): {"filter": STR, **_PAGE},
    ("POST", "registered-models/search"): {"filter": STR, "order_by": _STRINGS, **_PAGE},
    ("POST", "registered-models/get-latest-versions"): {"name": STR, "stages": _STRINGS},
    ("GET", "registered-models/get-latest-versions"): {"name": STR},
    ("POST", "model-versions/create"): {"name": STR, "source": STR, "run_id": STR, "model_id": STR,
                                        "description": STR, "tags": _KV},
    ("GET", "model-versions/get"): _VERSION,
    ("GET", "model-versions/get-download-uri"): _VERSION,
    ("GET", "model-versions/search"): {"filter": STR, **_PAGE},
    ("POST", "model-versions/search"): {"filter": STR, "order_by": _STRINGS, **_PAGE},
    ("PATCH", "model-versions/update"): {**_VERSION, "description": STR},
    ("POST", "model-versions/set-tag"): {**_VERSION, "key": STR, "value": STR},
    ("POST", "registered-models/alias"): {**_VERSION, "alias": STR},
    ("DELETE", "registered-models/alias"): {"name": STR, "alias": STR},
    ("GET", "registered-models/alias"): {"name": STR, "alias": STR},
    ("GET", "mlflow-artifacts/artifacts"): {"path": STR},
    ("GET", "mlflow-artifacts/artifacts/{path}"): {},
    ("PUT", "mlflow-artifacts/artifacts/{path}"): {},
    ("GET", "artifacts/list"): {**_RUN, "path": STR, "page_token": STR},
    ("POST", "logged-models"): {"experiment_id": STR, "name": STR, "model_type": STR,
                                "source_run_id": STR, "params": _KV, "tags": _KV},
    ("GET", "logged-models/{model_id}"): {},
    ("PATCH", "logged-models/{model_id}"): {"status": STR},
    ("PATCH", "logged-models/{model_id}/tags"): {"tags": _KV},
    ("DELETE", "logged-models/{model_id}/tags/{key}"): {},
    ("POST", "logged-models/{model_id}/params"): {"params": _KV},
    ("POST", "logged-models/search"): {"experiment_ids": _STRINGS, "filter": STR, **_PAGE},
    ("GET", "health"): {},
    ("GET", "version"): {},
    ("GET", "openapi.json"): {},
}  # fmt: skip
"""What each route reads, by method and path (below ``/api/2.0/mlflow/`` or ``/api/2.0/``)."""

PLAIN = {"health", "version"}  # text/plain answers
DOWNLOADS = {("GET", "mlflow-artifacts/artifacts/{path}")}  # bytes answers
UPLOADS = {("PUT", "mlflow-artifacts/artifacts/{path}")}  # bytes bodies


def _short(template: str) -> str:
    """The path below ``/api/2.0/mlflow/`` (or ``/api/2.0/`` for the artifact routes)."""
    path = template.replace("{path+}", "{path}")
    for prefix in ("/api/2.0/mlflow/", "/api/2.0/", "/"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def _errors() -> dict[str, Any]:
    error = {"content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}
    words = {400: "Bad input: MLflow's INVALID_PARAMETER_VALUE or BAD_REQUEST, with what to fix.",
             403: "No valid token (the Jupyter mount).",
             404: "No such experiment, run, model, version, artifact or endpoint.",
             413: "A body over its route's limit.",
             503: "The store cannot be read."}  # fmt: skip
    if not set(STATUS.values()) <= set(words):
        raise RuntimeError(f"statuses without their words: {set(STATUS.values()) - set(words)}")
    return {str(status): {"description": text, **error} for status, text in words.items()}


def _operation(found: Route) -> dict[str, Any]:
    short = _short(found.template)
    fields = FIELDS[(found.method, short)]  # a KeyError: a route without its entry
    names = [part[1:-1] for part in short.split("/") if part.startswith("{")]
    parameters = [{"name": name, "in": "path", "required": True, "schema": STR} for name in names]
    operation: dict[str, Any] = {
        "operationId": f"{found.method.lower()}_{short}".replace("/", "_").replace("-", "_"),
        "summary": (found.handler.__doc__ or "").strip().splitlines()[0].replace("``", "`"),
    }
    if found.method in ("GET", "DELETE"):  # MLflow's client sends these fields as a query
        parameters += [
            {"name": k, "in": "query", "required": False, "schema": v}
            for k, v in fields.items()
            if v.get("type") != "array"
        ]
    elif (found.method, short) in UPLOADS:
        operation["requestBody"] = {"required": False, "content": {BYTES: {"schema": STR}}}
    else:
        body = {"type": "object", "properties": fields}
        operation["requestBody"] = {"required": False, "content": {JSON: {"schema": body}}}
    if parameters:
        operation["parameters"] = parameters
    if short in PLAIN:
        ok = {TEXT: {"schema": STR}}
    elif (found.method, short) in DOWNLOADS:
        ok = {BYTES: {"schema": STR}}
    else:
        ok = {JSON: {"schema": {"type": "object"}}}
    operation["responses"] = {"200": {"description": "OK.", "content": ok}, **_errors()}
    return operation


def document() -> dict[str, Any]:
    """The OpenAPI 3.0 document of every route of the API."""
    # every area's routes declared (this module's own is declared below)
    from jupyter_mlops.mlflow_api import artifacts, logged_models, registry, tracking  # noqa: F401
    from jupyter_mlops.serving.openapi import API_VERSION

    paths: dict[str, dict[str, Any]] = {}
    for found in ROUTES:
        path = found.template.replace("{path+}", "{path}")
        paths.setdefault(path, {})[found.method.lower()] = _operation(found)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "jupyter_mlops: MLflow-compatible tracking API",
            "version": API_VERSION,
            "description": "MLflow's REST API over the jupyter_mlops store, for MLflow's own "
            "client: see docs/mlflow-server.md. Standalone (`jupyter mlops server`) it has no "
            "authentication; in Jupyter every route needs Jupyter's token.",
        },
        "servers": [
            {"url": "http://127.0.0.1:5000", "description": "jupyter mlops server"},
            {"url": "/jupyter-mlops/mlflow", "description": "the Jupyter server extension"},
        ],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error_code", "message"],
                    "properties": {
                        "error_code": {"type": "string", "enum": sorted(STATUS)},
                        "message": STR,
                    },
                }  # fmt: skip
            }
        },
    }


@route("GET", "/openapi.json")
def openapi_json(request: Request) -> dict[str, Any]:
    """``GET openapi.json``: this document."""
    return document()
