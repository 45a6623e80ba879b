"""Recording contracts with runs: the one call ``log_model`` and ``log_dataset`` make."""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from typing import Any

from jupyter_mlops.contracts.model import DataContract

_LOCK = threading.Lock()


_RECENT: OrderedDict[str, DataContract] = OrderedDict()
_RECENT_SIZE = 4


def contract_of(
    data_or_contract: Any, name: str | None = None, digest: str | None = None
) -> DataContract:
    """``data_or_contract`` if it is a contract, else the contract profiled from all of it.

    Profiles are remembered by the data's ``digest`` (as ``log_dataset`` fingerprints it, given
    by the caller), so autologging a fit profiles its training data once for the model and the
    dataset record.
    """
    from jupyter_mlops.contracts.profile import profile

    if isinstance(data_or_contract, DataContract):
        return data_or_contract
    if digest is None:
        return profile(data_or_contract, name=name)
    with _LOCK:
        cached = _RECENT.get(digest)
    if cached is None:
        cached = profile(data_or_contract)
        with _LOCK:
            _RECENT[digest] = cached
            while len(_RECENT) > _RECENT_SIZE:
                _RECENT.popitem(last=False)
    return DataContract.from_dict({**cached.to_dict(), "source": {"dataset": name} if name else {}})


def record_contract(
    store: Any,
    run_id: str,
    path: str,
    data_or_contract: Any,
    name: str | None = None,
    digest: str | None = None,
) -> dict[str, Any]:
    """Store the contract as the YAML artifact ``path`` of ``run_id``; return its entry.

    The entry (``{"path", "sha256", "columns", "rows"}``) goes into the model's ``MLmodel.json``
    or the dataset record, so readers find the file and verify it before trusting it.
    """
    contract = contract_of(data_or_contract, name, digest)
    with tempfile.TemporaryDirectory(prefix="mlops-contract-") as tmp:
        file = contract.save(os.path.join(tmp, os.path.basename(path)))
        record = store.put_artifact(run_id, path, file)
    return {
        "path": path,
        "sha256": record["sha256"],
        "columns": len(contract),
        "rows": contract.rows,
    }


def record_model_contract(
    store: Any,
    run_id: str,
    model_path: str,
    contract: Any,
    reference_data: Any,
    digest: str | None = None,
) -> dict[str, Any] | None:
    """The contract entry of a model being logged, or ``None`` when there is nothing to profile.

    An explicit ``contract`` (a DataContract, or data to profile) must work; training data that
    cannot be read as a table (a sparse matrix, a list of images) only costs the contract, with
    a warning, never the model.
    """
    import warnings

    from jupyter_mlops.errors import InvalidInput

    path = f"{model_path}/contract.yaml"
    if contract is not None:
        return record_contract(store, run_id, path, contract)
    if reference_data is None:
        return None
    try:
        return record_contract(store, run_id, path, reference_data, digest=digest)
    except (InvalidInput, TypeError, ValueError) as e:
        warnings.warn(
            f"No data contract for {model_path!r}: its training data cannot be profiled ({e}).",
            stacklevel=3,
        )
        return None


def read_artifact_contract(run_id: str, entry: dict[str, Any]) -> DataContract:
    """The contract artifact ``entry`` (``{"path", "sha256"}``) of run ``run_id``, verified."""
    from jupyter_mlops.contracts.io import parse_text
    from jupyter_mlops.errors import IntegrityError
    from jupyter_mlops.store import get_store
    from jupyter_mlops.store.storage import sha256_of

    file = get_store().artifact_file(run_id, entry["path"])
    if entry.get("sha256") and sha256_of(file) != entry["sha256"]:
        raise IntegrityError(
            f"The contract {entry['path']} of run {run_id} does not match its recorded sha256; "
            "it was changed after logging. Log the model again."
        )
    with open(file, encoding="utf-8") as fh:
        return DataContract.from_dict(parse_text(fh.read(), f"The contract of run {run_id}"))
