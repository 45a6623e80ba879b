"""MLflow's model format for the models ``log_model`` writes, so MLflow's loaders read them too.

Beside ``MLmodel.json`` (ours), ``log_model`` writes ``MLmodel`` — MLflow's descriptor (YAML; this
is its JSON subset). scikit-learn models name ``mlflow.sklearn`` as their ``python_function``
loader, so ``mlflow.pyfunc.load_model`` needs nothing of ours; PyTorch and plain Python models name
this module, whose :func:`_load_pyfunc` checks the file's sha256 and loads it with our flavor.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import uuid
from typing import Any

from jupyter_mlops.errors import IntegrityError

MLFLOW_DESCRIPTOR = "MLmodel"


def mlmodel(descriptor: dict[str, Any], artifact_path: str) -> str:
    """The text of MLflow's ``MLmodel`` for a model we logged (``descriptor``: our MLmodel.json)."""
    model_file = descriptor["model_file"]
    python_version = descriptor.get("python_version", "")
    if descriptor.get("flavor") == "sklearn":
        flavors: dict[str, Any] = {
            "python_function": {
                "loader_module": "mlflow.sklearn",
                "model_path": model_file,
                "predict_fn": "predict",
                "python_version": python_version,
            },
            "sklearn": {
                "pickled_model": model_file,
                "serialization_format": "pickle",
                "sklearn_version": descriptor.get("library_versions", {}).get("sklearn", ""),
                "code": None,
            },
        }
    else:
        flavors = {
            "python_function": {
                "loader_module": __name__,
                "data": model_file,
                "python_version": python_version,
            }
        }
    created = datetime.datetime.fromtimestamp(
        descriptor.get("created", 0) / 1000, tz=datetime.timezone.utc
    )
    document: dict[str, Any] = {
        "artifact_path": artifact_path,
        "flavors": flavors,
        "model_uuid": uuid.uuid4().hex,
        "run_id": descriptor.get("run_id"),
        "utc_time_created": created.strftime("%Y-%m-%d %H:%M:%S.%f"),
    }
    signature = mlflow_signature(descriptor.get("signature"))
    if signature is not None:
        document["signature"] = signature
    return json.dumps(document, indent=2)


_TENSOR_DTYPES = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32",
                  "boolean": "bool", "datetime": "datetime64[ns]"}  # fmt: skip


def mlflow_signature(signature: dict[str, Any] | None) -> dict[str, Any] | None:
    """Our signature in MLflow's ``MLmodel`` form: ``inputs`` as a JSON string of its specs.

    Named columns become column specs (``{"type": "double", "name": "x", "required": true}``),
    an unnamed input a tensor spec (``{"type": "tensor", "tensor-spec": {"dtype", "shape"}}``).
    """
    inputs = (signature or {}).get("inputs") or []
    if not inputs:
        return None
    if all(c.get("name") is not None for c in inputs):
        specs = [
            {"type": c.get("type", "string"), "name": str(c["name"]), "required": True}
            for c in inputs
        ]
    else:
        spec = inputs[0]
        dtype = _TENSOR_DTYPES.get(spec.get("type", ""), "object")
        shape = list(spec.get("shape") or [-1])
        specs = [{"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": shape}}]
    return {"inputs": json.dumps(specs), "outputs": None, "params": None}


def signature_from_mlmodel(text: str) -> dict[str, Any] | None:
    """Our signature of an ``MLmodel`` MLflow's client wrote: its named input columns.

    ``None`` when it has no signature, or a tensor input (no column names to check).
    """
    import yaml

    try:
        document = yaml.safe_load(text) or {}
        specs = json.loads((document.get("signature") or {}).get("inputs") or "[]")
    except (yaml.YAMLError, ValueError, AttributeError, TypeError):
        return None
    if not isinstance(specs, list) or not specs:
        return None
    if not all(isinstance(s, dict) and s.get("name") is not None for s in specs):
        return None
    return {"inputs": [{"name": str(s["name"]), "type": str(s.get("type", "string"))}
                       for s in specs]}  # fmt: skip


def _load_pyfunc(data_path: str) -> Any:
    """MLflow's hook: the model file at ``data_path``, verified, as an object with ``predict``."""
    from jupyter_mlops.tracking.flavors import flavor_named

    folder = os.path.dirname(data_path)
    with open(os.path.join(folder, "MLmodel.json"), encoding="utf-8") as fh:
        descriptor = json.load(fh)
    digest = hashlib.sha256()
    with open(data_path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != descriptor.get("sha256"):
        raise IntegrityError(
            f"{data_path} does not match the sha256 recorded when it was logged; not loading it."
        )
    return flavor_named(descriptor.get("flavor", "python")).load(data_path)
