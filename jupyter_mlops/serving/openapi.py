"""The model server's OpenAPI 3 document: MLflow's scoring routes and the Open Inference Protocol.

Served at ``GET /openapi.json`` and kept in ``docs/openapi/model-server.json``
(:func:`jupyter_mlops.jupyter.openapi.write_documents` rewrites both documents there). The V2
messages follow the protocol's own schemas (kserve/open-inference-protocol).
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"
API_VERSION = "1.0"
"""The version of the routes (this document and the server extension's)."""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _mlflow_errors(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "The body is not readable (BAD_REQUEST) or does not fit the signature "
        "(INVALID_PARAMETER_VALUE); the message names the problem.",
        413: "The body is over 20 MiB.",
        415: "Not JSON or CSV, a charset other than UTF-8, or another Content-Type parameter.",
    }
    return {str(s): _json(_ref("MlflowError"), reasons[s]) for s in statuses}


def _v2_errors(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "The request does not follow the protocol or does not fit the model.",
        404: "This server serves another model (or version).",
        413: "The body is over 20 MiB.",
    }
    return {str(s): _json(_ref("V2Error"), reasons[s]) for s in statuses}


_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string",
         "pattern": "^[^/.][^/]*$"}}  # fmt: skip
_VERSION = {**_NAME, "name": "version"}


def _v2_model_paths(prefix: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        prefix: {"parameters": parameters, "get": {
            "summary": "Model metadata: versions, platform, input and output tensors",
            "operationId": f"v2ModelMetadata{len(parameters)}",
            "responses": {"200": _json(_ref("V2ModelMetadata"), "The model."), **_v2_errors(404)},
        }},
        f"{prefix}/ready": {"parameters": parameters, "get": {
            "summary": "Model readiness",
            "operationId": f"v2ModelReady{len(parameters)}",
            "responses": {"200": _json(_ref("V2ModelReady"), "Ready."), **_v2_errors(404)},
        }},
        f"{prefix}/infer": {"parameters": parameters, "post": {
            "summary": "Inference on typed tensors",
            "operationId": f"v2Infer{len(parameters)}",
            "requestBody": {"required": True,
                            "content": {JSON: {"schema": _ref("V2InferenceRequest")}}},
            "responses": {
                "200": _json(_ref("V2InferenceResponse"), "The predictions output tensor."),
                **_v2_errors(400, 404, 413),
            },
        }},
    }  # fmt: skip


def _get(summary: str, ok: dict[str, Any], operation: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "operationId": operation, "responses": {"200": ok}}}


def document() -> dict[str, Any]:
    """The OpenAPI 3.0 document of the model server."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "jupyter_mlops model server",
            "version": API_VERSION,
            "description": "MLflow's scoring protocol (/invocations) and the Open Inference "
            "Protocol V2 (/v2) for one served model. See docs/serving.md.",
        },
        "paths": {
            "/invocations": {"post": {
                "summary": "Predictions (MLflow's scoring protocol)",
                "operationId": "invocations",
                "requestBody": {"required": True, "content": {
                    JSON: {"schema": _ref("MlflowRequest")},
                    "text/csv": {"schema": {"type": "string"}},
                }},
                "responses": {
                    "200": _json(_ref("Predictions"), "One prediction per row."),
                    **_mlflow_errors(400, 413, 415),
                },
            }},
            "/ping": _get("Health", _json(_ref("Health"), "Serving."), "ping"),
            "/health": _get("Health", _json(_ref("Health"), "Serving."), "health"),
            "/version": _get("The server's version (as MLflow's /version)",
                             _text("A version such as 0.4.0."), "version"),
            "/metadata": _get("The served model", _json(_ref("Metadata"), "Its model."),
                              "metadata"),
            "/metrics": _get("Prometheus metrics", _text("Prometheus text format."), "metrics"),
            "/openapi.json": _get("This document", _json({"type": "object"}, "OpenAPI 3."),
                                  "openapi"),
            "/v2": _get("V2 server metadata", _json(_ref("V2ServerMetadata"), "The server."),
                        "v2Server"),
            "/v2/health/live": _get("V2 liveness", _json(_ref("V2Live"), "Live."), "v2Live"),
            "/v2/health/ready": _get("V2 readiness", _json(_ref("V2Ready"), "Ready."), "v2Ready"),
            **_v2_model_paths("/v2/models/{name}", [_NAME]),
            **_v2_model_paths("/v2/models/{name}/versions/{version}", [_NAME, _VERSION]),
        },
        "components": {"schemas": _schemas()},
    }  # fmt: skip


def _schemas() -> dict[str, Any]:
    return {**_mlflow_schemas(), **_v2_schemas()}


def _mlflow_schemas() -> dict[str, Any]:
    rows = {"type": "array", "items": {}}
    return {
        "MlflowRequest": {
            "type": "object",
            "description": "Exactly one of the four keys.",
            "properties": {
                "dataframe_split": {"type": "object", "properties": {
                    "columns": {"type": "array", "items": {}}, "data": rows}},
                "dataframe_records": {"type": "array", "items": {"type": "object"}},
                "instances": rows,
                "inputs": {},
            },
        },
        "Predictions": {"type": "object", "required": ["predictions"],
                        "properties": {"predictions": rows}},
        "MlflowError": {"type": "object", "required": ["error_code", "message"], "properties": {
            "error_code": {"type": "string", "enum": [
                "BAD_REQUEST", "INVALID_PARAMETER_VALUE", "PAYLOAD_TOO_LARGE",
                "UNSUPPORTED_MEDIA_TYPE", "NOT_FOUND", "METHOD_NOT_ALLOWED", "INTERNAL_ERROR"]},
            "message": {"type": "string"}}},
        "Health": {"type": "object", "required": ["status", "model"], "properties": {
            "status": {"type": "string", "enum": ["ok"]}, "model": {"type": "string"},
            "version": {"type": "integer", "nullable": True}, "uri": {"type": "string"}}},
        "Metadata": {"type": "object", "required": ["model_uri", "name", "signature"],
                     "properties": {"model_uri": {"type": "string"}, "name": {"type": "string"},
                                    "signature": {"type": "object", "nullable": True}}},
    }  # fmt: skip


def _v2_schemas() -> dict[str, Any]:
    from jupyter_mlops.serving.v2 import DATATYPES

    string, shape = {"type": "string"}, {"type": "array", "items": {"type": "integer"}}
    tensor_data = {
        "type": "array",
        "items": {
            "anyOf": [
                _ref("V2TensorData"),
                {"type": "number"},
                {"type": "string"},
                {"type": "boolean"},
            ]
        },
    }
    tensor = {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": string,
            "shape": shape,
            "datatype": {"type": "string", "enum": list(DATATYPES)},
            "parameters": {"type": "object"},
            "data": _ref("V2TensorData"),
        },
    }
    meta_tensor = {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {"name": string, "datatype": string, "shape": shape},
    }
    return {
        "V2TensorData": tensor_data,
        "V2Tensor": tensor,
        "V2InferenceRequest": {"type": "object", "required": ["inputs"], "properties": {
            "id": string, "parameters": {"type": "object"},
            "inputs": {"type": "array", "items": _ref("V2Tensor")},
            "outputs": {"type": "array", "items": {"type": "object", "required": ["name"],
                        "properties": {"name": string, "parameters": {"type": "object"}}}}}},
        "V2InferenceResponse": {"type": "object", "required": ["model_name", "outputs"],
                                "properties": {
            "model_name": string, "model_version": string, "id": string,
            "parameters": {"type": "object"},
            "outputs": {"type": "array", "items": _ref("V2Tensor")}}},
        "V2ServerMetadata": {"type": "object", "required": ["name", "version", "extensions"],
                             "properties": {"name": string, "version": string,
                                            "extensions": {"type": "array", "items": string}}},
        "V2ModelMetadata": {"type": "object", "required": ["name", "platform"], "properties": {
            "name": string, "versions": {"type": "array", "items": string}, "platform": string,
            "inputs": {"type": "array", "items": meta_tensor},
            "outputs": {"type": "array", "items": meta_tensor}}},
        "V2ModelReady": {"type": "object", "required": ["name", "ready"],
                         "properties": {"name": string, "ready": {"type": "boolean"}}},
        "V2Live": {"type": "object", "required": ["live"],
                   "properties": {"live": {"type": "boolean"}}},
        "V2Ready": {"type": "object", "required": ["ready"],
                    "properties": {"ready": {"type": "boolean"}}},
        "V2Error": {"type": "object", "required": ["error"], "properties": {"error": string}},
    }  # fmt: skip
