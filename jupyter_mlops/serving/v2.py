"""The Open Inference Protocol (KServe V2, REST) over a :class:`ModelService`.

Routes (the HTTP layer maps them here): ``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``,
``/v2/models/{name}[/versions/{version}]``, ``.../ready`` and ``POST .../infer``.

An inference request carries typed tensors — ``{"name", "shape", "datatype", "data"}`` with
``data`` flat (row-major) or nested, ``datatype`` one of :data:`DATATYPES`. Two layouts reach
the model:

- one tensor per column, named as the signature's columns, each of shape ``[rows]`` or
  ``[rows, 1]`` (a missing column is named, an extra one ignored, as at ``/invocations``);
- one tensor of shape ``[rows, columns]`` holding whole rows in the signature's column order
  (what V2 clients such as Triton's send for a feature matrix).

Either way the rows then pass the same signature checks as ``/invocations``. The answer has one
output, ``predictions``. Every problem raises :class:`~jupyter_mlops.errors.InvalidInput` (a 400
``{"error": ...}``) or :class:`~jupyter_mlops.errors.NotFound` (a 404) naming it.
"""

from __future__ import annotations

import math
import time
from typing import Any

from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.serving import scoring

OUTPUT = "predictions"
DATATYPES = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
"""The protocol's datatypes this server takes, and the numpy type each becomes."""
_SIGNATURE_TYPES = {"double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32"}
_FP16_MAX = 65504.0


def server_metadata() -> dict[str, Any]:
    """``GET /v2``: the server's name, version and protocol extensions (none)."""
    from jupyter_mlops.version import __version__

    return {"name": "jupyter-mlops", "version": __version__, "extensions": []}


def check_model(service: Any, name: str, version: str | None) -> Any:
    """The served model if ``name`` (and ``version``) are what this server serves; else 404."""
    model = service.current
    names = {model.name, service.deployment} - {None}
    if name not in names:
        raise NotFound(f"This server serves the model {model.name!r}, not {name[:100]!r}.")
    if version is not None and version != str(model.version):
        raise NotFound(
            f"This server serves version {model.version} of {model.name!r}, not {version[:40]!r}."
        )
    return model


def model_metadata(service: Any, name: str, version: str | None = None) -> dict[str, Any]:
    """``GET /v2/models/{name}``: versions, platform, input and output tensors."""
    model = check_model(service, name, version)
    return {
        "name": model.name,
        "versions": [] if model.version is None else [str(model.version)],
        "platform": "jupyter-mlops",
        "inputs": input_tensors(model.signature),
        "outputs": [{"name": OUTPUT, "datatype": model.output_datatype, "shape": [-1]}],
    }


def input_tensors(signature: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The signature as V2 tensor metadata: one ``[-1]`` tensor per named column."""
    inputs = (signature or {}).get("inputs") or []
    named = [c for c in inputs if c.get("name") is not None]
    if named:
        return [{"name": str(c["name"]), "datatype": _v2_type(c), "shape": [-1]} for c in named]
    return [
        {"name": "input-0", "datatype": _v2_type(c), "shape": list(c.get("shape") or [-1, -1])}
        for c in inputs[:1]
    ]


def _v2_type(column: dict[str, Any]) -> str:
    kind = column.get("type", "string")
    return _SIGNATURE_TYPES.get(kind) or ("BOOL" if kind == "boolean" else "BYTES")


def model_ready(service: Any, name: str, version: str | None = None) -> dict[str, Any]:
    """``GET /v2/models/{name}/ready``: a loaded model is ready."""
    check_model(service, name, version)
    return {"name": name, "ready": True}


def infer(service: Any, name: str, version: str | None, body: bytes) -> dict[str, Any]:
    """``POST /v2/models/{name}/infer``: the inference response for ``body``."""
    started = time.perf_counter()
    model = check_model(service, name, version)
    request = read_request(body)
    data = request_rows(request["inputs"], model.signature)
    frame = scoring.conform_checked(data, model.signature, model.takes_array)
    predictions = service.predict(model, data, frame, started)
    answer: dict[str, Any] = {"model_name": model.name, "outputs": [output_tensor(predictions)]}
    if model.version is not None:
        answer["model_version"] = str(model.version)
    if "id" in request:
        answer["id"] = request["id"]
    return answer


def read_request(body: bytes) -> dict[str, Any]:
    """The request object, its fields checked against the protocol."""
    request = scoring.load_json(body)
    if not isinstance(request, dict):
        raise InvalidInput('An inference request is a JSON object with "inputs".')
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput('"inputs" must be a non-empty list of tensors.')
    if not isinstance(request.get("id", ""), str):
        raise InvalidInput('"id" must be a string.')
    _parameters(request, "the request")
    for wanted in _outputs(request.get("outputs", [])):
        if wanted != OUTPUT:
            raise InvalidInput(f"Unknown output {wanted[:100]!r}: this model has {OUTPUT!r}.")
    request["inputs"] = [tensor(item) for item in inputs]
    return request


def _parameters(holder: dict[str, Any], what: str) -> None:
    if not isinstance(holder.get("parameters", {}), dict):
        raise InvalidInput(f'"parameters" of {what} must be an object.')


def _outputs(outputs: Any) -> list[str]:
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise InvalidInput('"outputs" must be a list of {"name": ...} objects.')
    for output in outputs:
        _parameters(output, f"output {output['name'][:100]!r}")
    return [o["name"] for o in outputs]


def tensor(item: Any) -> tuple[str, Any]:
    """An input tensor as ``(name, numpy array of its shape and datatype)``."""
    import numpy as np

    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise InvalidInput('Each input must be an object with a "name".')
    name = item["name"]
    shape, datatype = item.get("shape"), item.get("datatype")
    if not isinstance(shape, list) or not all(_count(n) for n in shape):
        raise InvalidInput(f"Input {name[:100]!r}: shape must be a list of sizes (integers ≥ 0).")
    if datatype not in DATATYPES:
        raise InvalidInput(
            f"Input {name[:100]!r}: datatype {str(datatype)[:20]!r} is not one of "
            f"{', '.join(DATATYPES)}."
        )
    _parameters(item, f"input {name[:100]!r}")
    values = _flat(item.get("data"), name)
    size = math.prod(shape)
    if len(values) != size:
        raise InvalidInput(
            f"Input {name[:100]!r} has {len(values):,} values; shape {shape} needs {size:,}."
        )
    _check_values(values, datatype, name)
    return name, np.array(values, dtype=DATATYPES[datatype]).reshape(shape)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**40


def _flat(data: Any, name: str) -> list[Any]:
    """``data`` flattened row-major (it may be nested, as the protocol allows)."""
    if not isinstance(data, list):
        raise InvalidInput(f'Input {name[:100]!r}: "data" must be a list of values.')
    if not any(isinstance(v, list) for v in data):
        return data
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            flat.append(value)
        else:
            stack.pop()
    return flat


_FINE = object()


def _check_values(values: list[Any], datatype: str, name: str) -> None:
    """Every value of the datatype's JSON kind and within its range; else one named value."""
    import numpy as np

    if datatype == "BOOL":
        bad = next((v for v in values if not isinstance(v, bool)), _FINE)
        expected = "true or false"
    elif datatype == "BYTES":
        bad = next((v for v in values if not isinstance(v, str)), _FINE)
        expected = "a string"
    elif datatype.startswith(("INT", "UINT")):
        info = np.iinfo(DATATYPES[datatype])
        bad = next((v for v in values if not _whole(v) or not info.min <= v <= info.max), _FINE)
        expected = f"a whole number from {info.min:,} to {info.max:,}"
    else:
        top = _FP16_MAX if datatype == "FP16" else float(np.finfo(DATATYPES[datatype]).max)
        bad = next((v for v in values if not _number(v) or abs(v) > top), _FINE)
        expected = f"a number within ±{top:.4g}"
    if bad is not _FINE:
        shown = "null" if bad is None else scoring._short(bad)
        raise InvalidInput(
            f"Input {name[:100]!r} is {datatype}: each value must be {expected}; got {shown}."
        )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def request_rows(tensors: list[tuple[str, Any]], signature: dict[str, Any] | None) -> Any:
    """The tensors as what :func:`scoring.conform` takes: named columns, or rows."""
    import pandas as pd

    inputs = (signature or {}).get("inputs") or []
    names = [str(c["name"]) for c in inputs if c.get("name") is not None]
    if len(tensors) == 1 and (tensors[0][0] not in names or len(names) == 1):
        return _rows(tensors[0], names)
    columns: dict[str, Any] = {}
    for name, array in tensors:
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise InvalidInput(
                f"Input {name[:100]!r} has shape {list(array.shape)}: with one tensor per "
                "column, each is [rows] or [rows, 1]."
            )
        columns[name] = array
    if len({len(a) for a in columns.values()}) > 1:
        raise InvalidInput("The input tensors (one per column) have different numbers of rows.")
    if all(a.dtype.kind in "iuf" for a in columns.values()):  # the fast path of dataframe_split
        import numpy as np

        rows = np.column_stack([a.astype("float64") for a in columns.values()])
        return scoring.RowList(rows.tolist(), list(columns))
    return pd.DataFrame(columns)


def _rows(named_array: tuple[str, Any], names: list[str]) -> Any:
    name, array = named_array
    if array.ndim == 1 and len(names) == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise InvalidInput(
            f"Input {name[:100]!r} has shape {list(array.shape)}: one tensor holds rows, "
            "shape [rows, columns]."
        )
    if names and array.shape[1] != len(names):
        raise InvalidInput(
            f"Input {name[:100]!r} has {array.shape[1]} columns; the model takes "
            f"{len(names)}, in this order: {scoring._names(names)}."
        )
    return scoring.RowList(array.tolist(), names or None)


def output_tensor(predictions: list[Any]) -> dict[str, Any]:
    """The predictions (JSON values) as the ``predictions`` output tensor, flat row-major."""
    import numpy as np

    shape = list(np.shape(predictions)) if predictions else [0]
    flat = _flat(predictions, OUTPUT)
    datatype = datatype_of(flat)
    if datatype == "BYTES":
        flat = [v if isinstance(v, str) else str(v) for v in flat]
    return {"name": OUTPUT, "datatype": datatype, "shape": shape, "data": flat}


def datatype_of(values: list[Any]) -> str:
    """The V2 datatype of JSON values: BOOL, INT64, FP64 or BYTES (anything else as text)."""
    if values and all(isinstance(v, bool) for v in values):
        return "BOOL"
    if all(_whole(v) for v in values):
        return "INT64"
    if all(_number(v) or v is None for v in values):
        return "FP64"
    return "BYTES"
