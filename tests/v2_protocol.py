"""The Open Inference Protocol's REST messages as JSON Schemas, to check a server against.

Written from the protocol's specification (kserve/open-inference-protocol,
``specification/protocol/open_inference_rest.yaml`` and ``inference_rest.md``), independent of
the OpenAPI document the model server publishes, so a mistake in that document shows here.
"""

from __future__ import annotations

import jsonschema

_TENSOR_DATA = {"type": "array", "items": {"anyOf": [
    {"$ref": "#/$defs/tensor_data"}, {"type": "number"}, {"type": "string"}, {"type": "boolean"},
]}}  # fmt: skip
_SHAPE = {"type": "array", "items": {"type": "integer"}}
_PARAMETERS = {"type": "object"}
_DEFS = {
    "tensor_data": _TENSOR_DATA,
    "metadata_tensor": {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {"name": {"type": "string"}, "datatype": {"type": "string"}, "shape": _SHAPE},
    },
    "request_input": {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"type": "string"},
            "shape": _SHAPE,
            "datatype": {"type": "string"},
            "parameters": _PARAMETERS,
            "data": {"$ref": "#/$defs/tensor_data"},
        },
    },
    "response_output": {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"type": "string"},
            "shape": _SHAPE,
            "datatype": {"type": "string"},
            "parameters": _PARAMETERS,
            "data": {"$ref": "#/$defs/tensor_data"},
        },
    },
}


def _schema(body: dict) -> dict:
    return {"$defs": _DEFS, **body}


SCHEMAS = {
    "server_metadata": _schema(
        {
            "type": "object",
            "required": ["name", "version", "extensions"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "extensions": {"type": "array", "items": {"type": "string"}},
            },
        }
    ),
    "model_metadata": _schema(
        {
            "type": "object",
            "required": ["name", "platform"],
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array", "items": {"$ref": "#/$defs/metadata_tensor"}},
                "outputs": {"type": "array", "items": {"$ref": "#/$defs/metadata_tensor"}},
            },
        }
    ),
    "inference_request": _schema(
        {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "parameters": _PARAMETERS,
                "inputs": {"type": "array", "items": {"$ref": "#/$defs/request_input"}},
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": {"type": "string"}, "parameters": _PARAMETERS},
                    },
                },
            },
        }
    ),  # fmt: skip
    "inference_response": _schema(
        {
            "type": "object",
            "required": ["model_name", "outputs"],
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "parameters": _PARAMETERS,
                "outputs": {"type": "array", "items": {"$ref": "#/$defs/response_output"}},
            },
        }
    ),
    "error": _schema(
        {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}},
        }
    ),  # fmt: skip
}


def check(kind: str, message: dict) -> dict:
    """``message`` if it is a valid ``kind`` of the protocol (else a ``ValidationError``)."""
    jsonschema.validate(message, SCHEMAS[kind])
    return message
