"""Logging and loading models: a pickle plus an ``MLmodel.json`` descriptor, hash-verified."""

from __future__ import annotations

import json
import os
import pickle
import platform
import tempfile
import time
from typing import Any

from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.tracking.fluent import _active_or_start, _tracker

MODEL_FILE = "model.pkl"
DESCRIPTOR = "MLmodel.json"


def infer_signature(example: Any) -> dict[str, Any] | None:
    """Input columns and types from an example (DataFrame, array, list of rows), or ``None``."""
    if example is None:
        return None
    import numpy as np
    import pandas as pd

    if isinstance(example, pd.Series):
        example = example.to_frame()
    if isinstance(example, pd.DataFrame):
        return {
            "inputs": [{"name": str(c), "type": _type_name(t)} for c, t in example.dtypes.items()]
        }
    array = np.asarray(example)
    shape = [-1, *array.shape[1:]]
    return {"inputs": [{"name": None, "type": _type_name(array.dtype), "shape": shape}]}


def _type_name(dtype: Any) -> str:
    kind = getattr(dtype, "kind", "O")
    return {"b": "boolean", "i": "long", "u": "long", "f": "double", "M": "datetime"}.get(
        kind, "string"
    )


def _example_records(example: Any, limit: int = 5) -> Any:
    import numpy as np
    import pandas as pd

    if example is None:
        return None
    if isinstance(example, pd.Series):
        example = example.to_frame()
    if isinstance(example, pd.DataFrame):
        return json.loads(example.head(limit).to_json(orient="split", index=False))
    return np.asarray(example)[:limit].tolist()


def flavor_of(model: Any) -> str:
    """``sklearn`` for scikit-learn estimators, ``python`` for anything else with ``predict``."""
    module = type(model).__module__ or ""
    return "sklearn" if module.startswith("sklearn") or hasattr(model, "get_params") else "python"


def log_model(model: Any, name: str = "model", input_example: Any = None) -> str:
    """Store a model with the active run; returns ``runs:/<run_id>/<name>``.

    The model is pickled; ``MLmodel.json`` beside it records the flavor, the class, library
    versions, the input signature and a few example rows.
    """
    if not hasattr(model, "predict"):
        raise InvalidInput(f"log_model needs an object with predict(), not {type(model).__name__}.")
    if not isinstance(name, str) or not name.strip("/") or ".." in name.split("/"):
        raise InvalidInput(f"Model name {name!r} must be a relative path such as 'model'.")
    name = name.strip("/")
    run = _active_or_start()
    store = _tracker.store()
    with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp:
        model_path = os.path.join(tmp, MODEL_FILE)
        with open(model_path, "wb") as fh:
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        record = store.put_artifact(run.id, f"{name}/{MODEL_FILE}", model_path)
        descriptor = {
            "flavor": flavor_of(model),
            "class": f"{type(model).__module__}.{type(model).__qualname__}",
            "python_version": platform.python_version(),
            "library_versions": _library_versions(),
            "signature": infer_signature(input_example),
            "input_example": _example_records(input_example),
            "model_file": MODEL_FILE,
            "sha256": record["sha256"],
            "run_id": run.id,
            "created": int(time.time() * 1000),
        }
        desc_path = os.path.join(tmp, DESCRIPTOR)
        with open(desc_path, "w", encoding="utf-8") as fh:
            json.dump(descriptor, fh, indent=2, default=str)
        store.put_artifact(run.id, f"{name}/{DESCRIPTOR}", desc_path)
    return f"runs:/{run.id}/{name}"


def _library_versions() -> dict[str, str]:
    import sys

    versions = {}
    for lib in ("sklearn", "numpy", "pandas", "torch"):
        module = sys.modules.get(lib)
        if module is not None:
            versions[lib] = getattr(module, "__version__", "")
    return versions


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``runs:/<run_id>/<path>`` → ``(run_id, path)``."""
    rest = uri[len("runs:/") :].strip("/")
    run_id, _, path = rest.partition("/")
    if not run_id or not path:
        raise InvalidInput(f"Bad model URI {uri!r}: expected runs:/<run_id>/<path>, e.g. runs:/3f2a.../model.")
    return run_id, path


def read_descriptor(run_id: str, path: str) -> dict[str, Any]:
    """The ``MLmodel.json`` of a logged model."""
    store = _tracker.store()
    try:
        file = store.artifact_file(run_id, f"{path}/{DESCRIPTOR}")
    except NotFound:
        raise NotFound(f"Run {run_id} has no model at {path!r} (log one with log_model).") from None
    with open(file, encoding="utf-8") as fh:
        return json.load(fh)


def load_logged_model(run_id: str, path: str) -> Any:
    """Unpickle a logged model after checking its bytes against the recorded sha256."""
    descriptor = read_descriptor(run_id, path)
    file = _tracker.store().artifact_file(run_id, f"{path}/{descriptor.get('model_file', MODEL_FILE)}")
    with open(file, "rb") as fh:
        return pickle.load(fh)  # noqa: S301 - bytes verified against the recorded sha256


def load_model(uri: str) -> Any:
    """Load a model by URI (``runs:/<run_id>/<path>``; registry URIs come with the registry)."""
    if not isinstance(uri, str):
        raise InvalidInput(f"A model URI must be a string, not {type(uri).__name__}.")
    if uri.startswith("runs:/"):
        return load_logged_model(*parse_runs_uri(uri))
    raise InvalidInput(f"Unsupported model URI {uri!r}: use runs:/<run_id>/<path>.")
