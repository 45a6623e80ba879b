"""``mlops.tinydb()``: the embedded store as a read-only TinyDB database.

The store *is* a TinyDB database: ``store.json`` opens with plain
``TinyDB(path, access_mode="r")``. That file is the state as of the last compaction; this view
adds every transaction committed since, and each query sees the store as it is at that moment::

    from tinydb import Query
    db = mlops.tinydb()
    db.tables()                                    # {'runs', 'experiments', ...}
    Run = Query()
    db.table("runs").search(Run.params.model == "rf")
    db.table("runs").search(Run.metrics.acc.last > 0.9)

Document ids are TinyDB's integers; every document also carries its jupyter_mlops key in
``_key`` (a run's id, a model version's ``"name/version"``). Writes are refused: record through
jupyter_mlops (``mlops.log_param``, ``mlops.register_model``...), which keeps the journal,
the metric logs and every other process consistent.
"""

from __future__ import annotations

from typing import Any

from jupyter_mlops.errors import InvalidInput, ReadOnlyStore


def tinydb(uri: str | None = None) -> Any:
    """A read-only ``tinydb.TinyDB`` over the current state of the embedded store.

    Parameters
    ----------
    uri : str, optional
        The store (default: the one this process uses, see ``mlops.get_tracking_uri``).

    Returns
    -------
    tinydb.TinyDB
        Tables and ``Query`` work as TinyDB's documentation says; writes raise
        ``ReadOnlyStore``.
    """
    from tinydb import TinyDB

    from jupyter_mlops.store import get_store
    from jupyter_mlops.store.embedded import EmbeddedStore

    store = get_store(uri)
    if not isinstance(store, EmbeddedStore):
        raise InvalidInput(
            f"mlops.tinydb() reads the embedded store; {store.uri} is another backend."
        )
    return TinyDB(store, storage=StoreStorage)


def _storage_base() -> type:
    from tinydb.storages import Storage

    return Storage


class StoreStorage(_storage_base()):  # type: ignore[misc]
    """A TinyDB ``Storage`` that reads the embedded store's current state and refuses writes."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def read(self) -> dict[str, Any]:
        return self.store.tinydb_data()

    def write(self, data: dict[str, Any]) -> None:
        raise ReadOnlyStore(
            "mlops.tinydb() is a read-only view of the store: record through jupyter_mlops "
            "(mlops.log_param, mlops.set_tag, mlops.register_model...)."
        )
