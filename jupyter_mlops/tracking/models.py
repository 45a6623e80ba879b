"""Logging and loading models: a model file plus an ``MLmodel.json`` descriptor, hash-verified.

How a model becomes a file depends on its flavor (:mod:`jupyter_mlops.tracking.flavors`).
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from jupyter_mlops.errors import Conflict, IntegrityError, InvalidInput, NotFound
from jupyter_mlops.store import get_store, refs
from jupyter_mlops.tracking.flavors import Flavor, flavor_for, flavor_named
from jupyter_mlops.tracking.fluent import active_or_start_run
from jupyter_mlops.tracking.mlflow_pyfunc import MLFLOW_DESCRIPTOR, mlmodel

MODEL_FILE = "model.pkl"
DESCRIPTOR = "MLmodel.json"
REFERENCE_FILE = "reference.json"
REFERENCE_ROWS = 1000
_logged: dict[tuple[str, int], tuple[Any, str, str]] = {}
"""(store URI, id(model)) → (weak reference, runs:/ URI, sha256 of its pickle)."""


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


def model_signature(model: Any, example: Any = None) -> dict[str, Any] | None:
    """The input signature: from ``example`` when given, else from what a fitted model knows.

    A scikit-learn model fit on a DataFrame knows its columns (``feature_names_in_``): they are
    ``double`` for a plain estimator (it takes numbers only) and ``any`` for a pipeline or column
    transformer (whose steps may take text). A model fit on an array knows its width
    (``n_features_in_``). Otherwise ``None``.
    """
    signature = infer_signature(example)
    if signature is not None:
        return signature
    names = getattr(model, "feature_names_in_", None)
    if names is not None and len(names):
        kind = "any" if hasattr(model, "steps") or hasattr(model, "transformers") else "double"
        return {"inputs": [{"name": str(n), "type": kind} for n in names]}
    width = getattr(model, "n_features_in_", None)
    if isinstance(width, int) and not isinstance(width, bool) and width > 0:
        return {"inputs": [{"name": None, "type": "double", "shape": [-1, width]}]}
    return None


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


def log_model(
    model: Any,
    name: str = "model",
    input_example: Any = None,
    reference_data: Any = None,
    contract: Any = None,
) -> str:
    """Store a model with the active run; returns ``runs:/<run_id>/<name>``.

    The model is written by its flavor (scikit-learn, PyTorch, or any object with ``predict``);
    ``MLmodel.json`` beside it records the flavor, the class, library versions, the input
    signature and a few example rows. ``reference_data`` (e.g. the training features) keeps a
    bounded sample (1,000 rows) for drift monitoring, and the data contract profiled from all
    of it (``contract.yaml``; pass ``contract=`` to record an edited one instead).
    """
    flavor = flavor_for(model)
    if flavor is None:
        raise InvalidInput(
            f"log_model needs an object with predict() or a torch module, "
            f"not {type(model).__name__}."
        )
    if not isinstance(name, str) or not name.strip("/") or ".." in name.split("/"):
        raise InvalidInput(f"Model name {name!r} must be a relative path such as 'model'.")
    name = name.strip("/")
    run = active_or_start_run()
    store = get_store()
    if f"{name}/{DESCRIPTOR}" in store.get_run(run.id).get("artifacts", {}):
        raise Conflict(
            f"Run {run.id} already has a model at {name!r}; log this one under another name, "
            "e.g. log_model(model, 'model-2')."
        )
    if input_example is None and reference_data is not None:
        input_example = reference_data
    with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp:
        model_path = os.path.join(tmp, flavor.filename)
        flavor.save(model, model_path, input_example)
        record = store.put_artifact(run.id, f"{name}/{flavor.filename}", model_path)
        descriptor = _descriptor(model, flavor, input_example, record["sha256"], run.id)
        if reference_data is not None:
            descriptor["reference"] = _put_reference(store, run.id, name, reference_data, tmp)
        from jupyter_mlops.contracts.record import record_model_contract
        from jupyter_mlops.tracking.datasets import data_digest

        digest = data_digest(reference_data) if contract is None else None
        entry = record_model_contract(store, run.id, name, contract, reference_data, digest)
        if entry is not None:
            descriptor["contract"] = entry
        desc_path = os.path.join(tmp, DESCRIPTOR)
        with open(desc_path, "w", encoding="utf-8") as fh:
            json.dump(descriptor, fh, indent=2, default=str)
        store.put_artifact(run.id, f"{name}/{DESCRIPTOR}", desc_path)
        mlflow_path = os.path.join(tmp, MLFLOW_DESCRIPTOR)
        with open(mlflow_path, "w", encoding="utf-8") as fh:
            fh.write(mlmodel(descriptor, name))
        store.put_artifact(run.id, f"{name}/{MLFLOW_DESCRIPTOR}", mlflow_path)
    uri = f"runs:/{run.id}/{name}"
    _remember(model, uri, record["sha256"])
    return uri


def _descriptor(
    model: Any, flavor: Flavor, input_example: Any, sha256: str, run_id: str
) -> dict[str, Any]:
    return {
        "flavor": flavor.name,
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "python_version": platform.python_version(),
        "library_versions": _library_versions(),
        "signature": model_signature(model, input_example),
        "input_example": _example_records(input_example),
        "model_file": flavor.filename,
        "sha256": sha256,
        "run_id": run_id,
        "created": int(time.time() * 1000),
    }


def _put_reference(store: Any, run_id: str, name: str, data: Any, tmp: str) -> dict[str, Any]:
    """A bounded, reproducible sample of ``data`` as JSON (pandas' split orientation)."""
    import pandas as pd

    frame = data.to_frame() if isinstance(data, pd.Series) else pd.DataFrame(data)
    if len(frame) > REFERENCE_ROWS:
        frame = frame.sample(REFERENCE_ROWS, random_state=0).sort_index()
    frame.columns = [str(c) for c in frame.columns]
    path = os.path.join(tmp, REFERENCE_FILE)
    frame.to_json(path, orient="split", index=False)
    store.put_artifact(run_id, f"{name}/{REFERENCE_FILE}", path)
    return {"path": f"{name}/{REFERENCE_FILE}", "rows": len(frame), "columns": list(frame.columns)}


def _remember(model: Any, uri: str, sha256: str) -> None:
    import weakref

    try:
        ref: Any = weakref.ref(model)
    except TypeError:
        return
    _logged[(get_store().uri, id(model))] = (ref, uri, sha256)


def logged_uri_of(model: Any) -> str | None:
    """The URI this process logged ``model`` under, if it has not changed since (same pickle)."""
    entry = _logged.get((get_store().uri, id(model)))
    if entry is None or entry[0]() is not model:
        return None
    import hashlib

    try:
        current = hashlib.sha256(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()
    except Exception:  # not picklable: it was stored another way; log it afresh
        return None
    return entry[1] if current == entry[2] else None


def _library_versions() -> dict[str, str]:
    import sys

    versions = {}
    for lib in ("sklearn", "numpy", "pandas", "torch"):
        module = sys.modules.get(lib)
        if module is not None:
            versions[lib] = getattr(module, "__version__", "")
    return versions


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``runs:/<run_id>/<path>`` → ``(run_id, path)`` (see :mod:`jupyter_mlops.store.refs`)."""
    return refs.parse_runs_uri(uri)


def read_descriptor(run_id: str, path: str) -> dict[str, Any]:
    """The ``MLmodel.json`` of a logged model.

    A model MLflow's own client logged has MLflow's ``MLmodel`` only: its descriptor is then
    ``{"flavor": "mlflow", "model_file": "MLmodel", "signature": ...}`` (its named columns).
    """
    from jupyter_mlops.tracking.mlflow_pyfunc import signature_from_mlmodel

    store = get_store()
    try:
        file = store.artifact_file(run_id, f"{path}/{DESCRIPTOR}")
    except NotFound:
        try:
            theirs = store.artifact_file(run_id, f"{path}/{MLFLOW_DESCRIPTOR}")
        except NotFound:
            raise NotFound(
                f"Run {run_id} has no model at {path!r} (log one with log_model)."
            ) from None
        with open(theirs, encoding="utf-8") as fh:
            signature = signature_from_mlmodel(fh.read())
        return {"flavor": "mlflow", "model_file": MLFLOW_DESCRIPTOR, "signature": signature}
    with open(file, encoding="utf-8") as fh:
        return json.load(fh)


@dataclass(frozen=True)
class ModelFiles:
    """A model resolved to a verified local file and its descriptor."""

    uri: str
    name: str
    version: int | None
    model_file: str
    descriptor: dict[str, Any]
    signature: dict[str, Any] | None


def model_files(uri: str) -> ModelFiles:
    """Resolve ``uri`` to the model's bytes on disk, verified against their sha256.

    Forms: ``runs:/<run_id>/<path>``, ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
    ``models:/<name>/latest``, or a folder holding ``MLmodel.json`` and the model file (what
    ``jupyter mlops k8s`` exports).
    """
    ref = refs.resolve(get_store(), uri)
    if ref.folder is not None:
        return _folder_files(ref.folder)
    assert ref.run_id is not None and ref.path is not None
    if ref.version is None:
        return _run_files(uri, ref.run_id, ref.path, ref.path, None, None)
    return _run_files(ref.canonical, ref.run_id, ref.path, str(ref.name), ref.version, ref.sha256)


def _run_files(
    uri: str, run_id: str, path: str, name: str, version: int | None, sha256: str | None
) -> ModelFiles:
    descriptor = read_descriptor(run_id, path)
    if descriptor.get("flavor") == "mlflow":  # read_descriptor's answer for MLflow's MLmodel
        return _mlflow_files(uri, run_id, path, name, version, sha256, descriptor)
    model_path = f"{path}/{descriptor.get('model_file', MODEL_FILE)}"
    store = get_store()
    record = store.get_run(run_id).get("artifacts", {}).get(model_path, {})
    if sha256 is not None and record.get("sha256") != sha256:
        raise IntegrityError(
            f"The model file of runs:/{run_id}/{path} is not the one that was registered "
            "(sha256 differs). Nothing was loaded; register the model again."
        )
    file = store.artifact_file(run_id, model_path)
    return ModelFiles(uri, name, version, file, descriptor, descriptor.get("signature"))


def _mlflow_files(
    uri: str,
    run_id: str,
    path: str,
    name: str,
    version: int | None,
    sha256: str | None,
    descriptor: dict[str, Any],
) -> ModelFiles:
    """A model MLflow's client logged: its folder copied out of the store, each file verified.

    The copy (below the temp folder, one per run and path) is what ``mlflow.pyfunc`` loads; the
    store checks every file against the sha256 it recorded (``artifact_file``), and the
    ``MLmodel``'s record is checked against the version's, before anything is loaded.
    """
    store = get_store()
    artifacts = store.get_run(run_id).get("artifacts", {})
    if sha256 and artifacts[f"{path}/{MLFLOW_DESCRIPTOR}"].get("sha256") != sha256:
        raise IntegrityError(
            f"The MLmodel of runs:/{run_id}/{path} is not the one that was registered "
            "(sha256 differs). Nothing was loaded; register the model again."
        )
    folder = os.path.join(tempfile.gettempdir(), "jupyter-mlops-mlflow-models", run_id, path)
    for artifact in (a for a in artifacts if a.startswith(f"{path}/")):
        target = os.path.join(folder, artifact[len(path) + 1 :])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        partial = f"{target}.{os.getpid()}.part"
        shutil.copyfile(store.artifact_file(run_id, artifact), partial)  # verified
        os.replace(partial, target)  # whole files only, for a loader in another process
    file = os.path.join(folder, MLFLOW_DESCRIPTOR)
    return ModelFiles(uri, name, version, file, descriptor, descriptor.get("signature"))


def _folder_files(folder: str) -> ModelFiles:
    from jupyter_mlops.store.storage import sha256_of

    try:
        with open(os.path.join(folder, DESCRIPTOR), encoding="utf-8") as fh:
            descriptor = json.load(fh)
    except (OSError, ValueError) as e:
        raise NotFound(f"{folder} is not a model folder (no readable {DESCRIPTOR}).") from e
    file = os.path.join(folder, os.path.basename(descriptor.get("model_file", MODEL_FILE)))
    if not os.path.exists(file) or sha256_of(file) != descriptor.get("sha256"):
        raise IntegrityError(
            f"The model file in {folder} is missing or does not match the sha256 in {DESCRIPTOR}. "
            "Nothing was loaded."
        )
    return ModelFiles(
        folder,
        descriptor.get("name") or os.path.basename(folder.rstrip("/")),
        descriptor.get("version"),
        file,
        descriptor,
        descriptor.get("signature"),
    )


def load_model(uri: str) -> Any:
    """Load a model by URI (see :func:`model_files`); its bytes are verified before loading."""
    return load_files(model_files(uri))


def load_files(files: ModelFiles) -> Any:
    """The model in verified ``files``, read back by the flavor that wrote it."""
    return flavor_named(files.descriptor.get("flavor", "python")).load(files.model_file)


def load_reference(uri: str) -> Any:
    """The reference sample stored with a logged or registered model, as a DataFrame."""
    import pandas as pd

    ref = refs.resolve(get_store(), uri, folders=False)
    run_id, path = str(ref.run_id), str(ref.path)
    uri = ref.registered.source if ref.registered else uri
    reference = read_descriptor(run_id, path).get("reference")
    if not reference:
        raise NotFound(
            f"{uri} was logged without reference data (log_model(..., reference_data=X))."
        )
    file = get_store().artifact_file(run_id, reference["path"])
    return pd.read_json(file, orient="split")
