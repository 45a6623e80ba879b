"""Where contracts come from: objects, saved files, and the model versions that recorded one.

This is the one module of the package that looks models up (tracking and registry), for the
callers above them: ``validate`` given a URI, the model server, ``%mlops_validate``. The parts
that tracking and the registry call themselves (:mod:`.record`, :mod:`.checks`) never import
them back.

A logged model keeps its contract as the artifact ``<model path>/contract.yaml`` (readable in
the artifact browser) and names it in its ``MLmodel.json`` under ``"contract"`` with the file's
sha256; a dataset logged with ``log_dataset`` keeps one under ``datasets/``.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_mlops.contracts.io import read_contract_file
from jupyter_mlops.contracts.model import DataContract
from jupyter_mlops.contracts.record import read_artifact_contract
from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.store.refs import is_model_uri

CONTRACT_FILE = "contract.yaml"


def resolve_contract(source: Any) -> tuple[DataContract, str]:
    """``(contract, label)`` for a contract, its dict, a file path or a model URI."""
    if isinstance(source, DataContract):
        return source, "DataContract"
    if isinstance(source, dict):
        return DataContract.from_dict(source), "dict"
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        raise InvalidInput(
            "validate needs a DataContract (mlops.profile(df)), a contract file (.yaml/.json) "
            f"or a model URI (models:/name/1), not {type(source).__name__}."
        )
    if is_model_uri(source):
        return model_contract(source), source
    return load_contract(source), source


def load_contract(path_or_uri: str | os.PathLike[str]) -> DataContract:
    """Read a contract from a ``.yaml``/``.json`` file, or the one a model version recorded."""
    path = os.fspath(path_or_uri)
    if is_model_uri(path):
        return model_contract(path)
    return DataContract.from_dict(read_contract_file(path))


def model_contract(uri: str) -> DataContract:
    """The contract recorded with a logged or registered model (``runs:/``, ``models:/``)."""
    contract = find_model_contract(uri)
    if contract is None:
        raise NotFound(
            f"{uri} has no data contract: it was logged without training data. Log the model "
            "with log_model(model, reference_data=X_train) or pass contract=mlops.profile(X)."
        )
    return contract


def find_model_contract(uri: str) -> DataContract | None:
    """Like :func:`model_contract`, ``None`` when the model recorded no contract.

    ``runs:/<run_id>/<path>.yaml`` (or ``.json``) is a contract artifact itself, e.g. the one
    ``log_dataset`` recorded.
    """
    from jupyter_mlops.store import get_store, refs
    from jupyter_mlops.tracking.models import read_descriptor

    ref = refs.resolve(get_store(), uri, folders=False)
    if ref.registered is not None and ref.registered.contract:
        return read_artifact_contract(ref.registered.run_id, ref.registered.contract)
    run_id, path = str(ref.run_id), str(ref.path)
    if path.lower().endswith((".yaml", ".yml", ".json")):
        return read_artifact_contract(run_id, {"path": path})
    entry = read_descriptor(run_id, path).get("contract")
    return None if not entry else read_artifact_contract(run_id, entry)


def folder_contract(folder: str) -> DataContract | None:
    """The ``contract.yaml`` beside an exported model (``jupyter mlops k8s``), if any."""
    path = os.path.join(folder, CONTRACT_FILE)
    return DataContract.from_dict(read_contract_file(path)) if os.path.exists(path) else None


def served_contract(uri: str) -> DataContract | None:
    """The contract a model server enforces for the resolved model ``uri``.

    ``uri`` is what the server loaded (``models:/name/3`` or ``runs:/...``); for a model folder
    (``jupyter mlops k8s``) the ``contract.yaml`` beside ``MLmodel.json`` is used.
    """
    if is_model_uri(uri):
        return find_model_contract(uri)
    folder = uri[len("file://") :] if uri.startswith("file://") else uri
    return folder_contract(folder) if os.path.isdir(folder) else None
