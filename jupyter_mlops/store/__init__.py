"""The store: where experiments, runs, models, deployments and reports live.

``get_store()`` resolves the location the same way in every process (kernel, server extension,
model server, CLI): ``set_tracking_uri`` for this process, else ``JUPYTER_MLOPS_STORE``, else
``~/.jupyter_mlops``. A location is a folder path, ``file://`` URI, ``memory:``, or
``mlflow+<tracking URI>`` for an MLflow tracking server (:mod:`jupyter_mlops.store.mlflow`).
"""

from __future__ import annotations

import os
import threading
from urllib.parse import unquote, urlparse

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.store.base import Store, StoreView

__all__ = ["Store", "StoreView", "get_store", "get_tracking_uri", "set_tracking_uri"]

DEFAULT_LOCATION = "~/.jupyter_mlops"
_override: str | None = None
_stores: dict[str, Store] = {}
_lock = threading.Lock()


def _forget_stores_in_child() -> None:
    # A forked child opens its own stores: the parent's share open file descriptions (and so
    # their flock()s) with it, and their locks may have been held by a thread that is gone.
    global _lock
    _lock = threading.Lock()
    _stores.clear()


os.register_at_fork(after_in_child=_forget_stores_in_child)


def set_tracking_uri(uri: str | None) -> None:
    """Use ``uri`` as the store for this process (``None`` goes back to the default)."""
    global _override
    if uri is not None:
        _normalize(uri)
    _override = uri


def get_tracking_uri() -> str:
    """The store location this process uses, normalized."""
    return _normalize(_override or os.environ.get("JUPYTER_MLOPS_STORE") or DEFAULT_LOCATION)


def get_store(uri: str | None = None) -> Store:
    """The store at ``uri`` (default: :func:`get_tracking_uri`), one instance per location."""
    location = _normalize(uri) if uri else get_tracking_uri()
    with _lock:
        store = _stores.get(location)
        if store is None:
            store = _stores[location] = _open(location)
        return store


def _normalize(uri: str) -> str:
    uri = str(uri).strip()
    if not uri:
        raise InvalidInput("The store location is empty: give a folder path or a URI.")
    if uri == "memory:" or uri.startswith("memory:"):
        return uri
    if uri.startswith("mlflow+"):
        return uri
    if uri.startswith("file:"):
        return os.path.abspath(unquote(urlparse(uri).path))
    if "://" in uri:
        raise InvalidInput(
            f"Unsupported store URI {uri!r}: use a folder path, file:///path, memory:, "
            "or mlflow+<tracking URI>."
        )
    return os.path.abspath(os.path.expanduser(uri))


def _open(location: str) -> Store:
    if location.startswith("mlflow+"):
        from jupyter_mlops.store.mlflow import MlflowStore

        return MlflowStore(location)
    from jupyter_mlops.store.embedded import EmbeddedStore

    return EmbeddedStore.open(location)
