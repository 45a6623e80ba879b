"""The OpenAPI 3 document of the server extension's routes (``/jupyter-mlops/api/...``).

Served at ``GET /jupyter-mlops/api/openapi.json`` (authenticated like every route) and kept in
``docs/openapi/jupyter-server.json`` with the model server's and the MLflow-compatible API's
documents: after changing a route run ``python -m jupyter_mlops.jupyter.openapi`` to rewrite them
(a test checks they are current).
Every route takes Jupyter's token (``Authorization: token <token>``).
"""

from __future__ import annotations

import json
import os
from typing import Any

from jupyter_mlops.serving.openapi import API_VERSION

JSON = "application/json"
ERRORS = {
    400: "Bad input (a filter that does not parse, a bad count, a malformed body...).",
    403: "No valid token (every route), or a path outside the server's root.",
    404: "No such run, metric, artifact, model, deployment or sweep.",
    409: "The validation gate refused the promotion (the body has its report).",
    413: "A body over 1 MiB.",
    503: "The store cannot be read.",
}


def _ok(schema: dict[str, Any], description: str = "OK.") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}
    return {str(s): _ok(error, ERRORS[s]) for s in sorted({*statuses, 403, 503})}


def _object(*required: str, **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": properties}


_LIST = {"type": "array", "items": {"type": "object"}}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_SEGMENT = {"type": "string", "pattern": "^[^/.][^/]*$"}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _SEGMENT}


def _query(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema or {"type": "string"}}


def _get(op: str, summary: str, ok: dict[str, Any], *errors: int, **extra: Any) -> dict[str, Any]:
    return {"get": {"operationId": op, "summary": summary, **extra,
                    "responses": {"200": ok, **_errors(*errors)}}}  # fmt: skip


def _post(op: str, summary: str, body: dict[str, Any], ok: dict[str, Any], *errors: int):
    request = {"required": False, "content": {JSON: {"schema": body}}}
    return {"post": {"operationId": op, "summary": summary, "requestBody": request,
                     "responses": {"200": ok, **_errors(*errors)}}}  # fmt: skip


def _paths() -> dict[str, Any]:
    runs = _object(
        "runs",
        "total",
        "offset",
        "limit",
        "metric_keys",
        "param_keys",
        runs=_LIST,
        total={"type": "integer"},
        offset={"type": "integer"},
        limit={"type": "integer"},
        metric_keys=_STRINGS,
        param_keys=_STRINGS,
    )
    runs_query = [
        _query("experiment", {"type": "array", "items": {"type": "string"}}),
        _query("filter"),
        _query("order_by", {"type": "array", "items": {"type": "string"}}),
        _query("limit"),
        _query("offset"),
        _query("tree"),
        _query("parent"),
    ]
    run, name = [_path("run_id")], [_path("name")]
    history = _object(
        "run_id", "key", "history", run_id={"type": "string"}, key={"type": "string"}, history=_LIST
    )
    artifact = {"description": "The artifact's bytes.", "content": {"*/*": {"schema": {}}}}
    promote = _object(
        "alias",
        "version",
        alias={"type": "string"},
        version={},
        checks={},
        thresholds={},
        force={},
        reason={},
    )
    export = _object("path", path={"type": "string"}, target={"type": "string"}, single_step={})
    exported = _object(
        "path",
        "target",
        "files",
        "folder",
        "message",
        path={"type": "string"},
        target={"type": "string"},
        files=_STRINGS,
        folder={"type": "string"},
        message={"type": "string"},
    )
    return {
        "/experiments": _get("experiments", "Every experiment with its run count",
                             _ok(_object("experiments", experiments=_LIST))),
        "/runs": _get("runs", "A page of runs matching a filter", _ok(runs), 400,
                      parameters=runs_query),
        "/runs/{run_id}": _get("run", "One run", _ok(_object("run", run={"type": "object"})),
                               404, parameters=run),
        "/runs/{run_id}/page": _get("runPage", "Everything the run page shows",
                                    _ok({"type": "object"}), 404, parameters=run),
        "/runs/{run_id}/metrics/{key}": _get("metricHistory", "A metric's every point",
                                             _ok(history), 404,
                                             parameters=[*run, _path("key")]),
        "/runs/{run_id}/artifacts/{path}": _get("artifact", "An artifact's bytes", artifact,
                                                403, 404, parameters=[*run, _path("path")]),
        "/models": _get("models", "Registered models", _ok(_object("models", models=_LIST)),
                        400, parameters=[_query("filter")]),
        "/models/{name}": _get("model", "A model: versions, aliases, alias history",
                               _ok(_object("model", "versions", "aliases", "alias_history",
                                           model={"type": "object"}, versions=_LIST,
                                           aliases={"type": "object"}, alias_history=_LIST)),
                               404, parameters=name),
        "/models/{name}/aliases": {"parameters": name, **_post(
            "promote", "Promote a version through the validation gate", promote,
            _ok(_object("report", report={"type": "object"})), 400, 404, 409, 413)},
        "/deployments": _get("deployments", "Every deployment with its status",
                             _ok(_object("deployments", deployments=_LIST))),
        "/deployments/{name}/stop": {"parameters": name, **_post(
            "stopDeployment", "Stop a deployment", {"type": "object"},
            _ok(_object("deployment", deployment={"type": "object"})), 400, 404, 413)},
        "/drift": _get("drift", "Drift reports and monitoring windows",
                       _ok(_object("reports", "windows", reports=_LIST, windows=_LIST)),
                       parameters=[_query("name")]),
        "/export": _post("export", "A notebook below the root as pipeline files", export,
                         _ok(exported), 400, 403, 404, 413),
        "/sweeps": _get("sweeps", "Every sweep", _ok(_object("sweeps", sweeps=_LIST)), 400,
                        parameters=[_query("experiment")]),
        "/sweeps/{name}": _get("sweep", "One sweep: trials, history, importances",
                               _ok({"type": "object"}), 400, 404,
                               parameters=[*name, _query("experiment")]),
        "/openapi.json": _get("openapi", "This document", _ok({"type": "object"})),
    }  # fmt: skip


def document(base_url: str = "/") -> dict[str, Any]:
    """The OpenAPI 3.0 document of the routes below ``<base_url>jupyter-mlops/api``."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "jupyter_mlops server extension",
            "version": API_VERSION,
            "description": "The REST routes the JupyterLab side bar, panels and run page use. "
            "Every route needs Jupyter's token. See docs/rest-api.md.",
        },
        "servers": [{"url": f"{base_url.rstrip('/')}/jupyter-mlops/api"}],
        "security": [{"token": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization",
                          "description": "token <Jupyter's token>"},
            },
            "schemas": {"Error": _object("message", message={"type": "string"},
                                         report={"type": "object"})},
        },
    }  # fmt: skip


DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "docs", "openapi")


def documents() -> dict[str, dict[str, Any]]:
    """Every document by its file name in ``docs/openapi/``."""
    from jupyter_mlops.mlflow_api import openapi as mlflow_api
    from jupyter_mlops.serving import openapi

    return {
        "jupyter-server.json": document(),
        "model-server.json": openapi.document(),
        "mlflow-api.json": mlflow_api.document(),
    }


def render(doc: dict[str, Any]) -> str:
    """A document as it is written in ``docs/openapi/``."""
    return json.dumps(doc, indent=2) + "\n"


def write_documents(folder: str = DOCS) -> list[str]:
    """Write every document into ``folder``; the paths written."""
    os.makedirs(folder, exist_ok=True)
    written = []
    for name, doc in documents().items():
        path = os.path.join(folder, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(render(doc))
        written.append(path)
    return written


if __name__ == "__main__":
    print("\n".join(write_documents()))
