"""Dataset fingerprints: name, shape, columns, dtypes and a content digest."""

from __future__ import annotations

import hashlib
from typing import Any

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.store import get_store
from jupyter_mlops.tracking.fluent import active_or_start_run


def describe_dataset(data: Any, name: str, context: str = "training") -> dict[str, Any]:
    """A JSON-able fingerprint of a DataFrame, Series, array or list.

    The digest hashes the values row by row (pandas' ``hash_pandas_object``) and the column
    names, so the same data gives the same digest in every process.
    """
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.Series):
        data = data.to_frame()
    if not isinstance(data, pd.DataFrame):
        try:
            array = np.asarray(data)
        except Exception as e:
            raise InvalidInput(f"Cannot fingerprint a {type(data).__name__} as a dataset.") from e
        data = pd.DataFrame(array.reshape(len(array), -1) if array.ndim != 2 else array)
    digest = hashlib.sha256()
    digest.update(repr([str(c) for c in data.columns]).encode())
    try:
        digest.update(pd.util.hash_pandas_object(data, index=False).to_numpy().tobytes())
    except TypeError:  # unhashable cells (lists, dicts): fall back to their text
        digest.update(data.astype(str).to_csv(index=False).encode())
    return {
        "name": str(name),
        "context": str(context),
        "digest": digest.hexdigest()[:16],
        "rows": int(data.shape[0]),
        "columns": [str(c) for c in data.columns][:1000],
        "dtypes": [str(t) for t in data.dtypes][:1000],
    }


def data_digest(data: Any) -> str | None:
    """The digest :func:`describe_dataset` gives ``data``, or ``None`` when it is not a table."""
    try:
        return str(describe_dataset(data, "data")["digest"])
    except Exception:  # the caller's own check gives the clear message
        return None


def _safe(name: str) -> str:
    """``name`` as one artifact path segment."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))[:80] or "data"


def log_dataset(data: Any, name: str, context: str = "training") -> dict[str, Any]:
    """Record a dataset input of the active run (deduplicated by digest and context).

    The record names the data contract profiled from the data (``record["contract"]``, the
    YAML artifact ``datasets/<name>-<digest>/contract.yaml``): check later data against it
    with ``mlops.validate(df, "runs:/...")``-style files or ``mlops.load_contract``.
    """
    from jupyter_mlops.contracts.record import record_contract

    record = describe_dataset(data, name, context)
    run = active_or_start_run()
    path = f"datasets/{_safe(name)}-{record['digest']}/contract.yaml"
    record["contract"] = record_contract(get_store(), run.id, path, data, name, record["digest"])
    get_store().add_dataset(run.id, record)
    return record
