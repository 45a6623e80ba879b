"""The embedded store's state in memory, and the TinyDB database it is on disk.

In memory every table is ``{key: document}``: a run is found by its run id, a model version by
``"name/version"``, as the rest of jupyter_mlops expects. On disk (``store.json``) the state is a
plain TinyDB database: each table maps TinyDB document ids (integers, as TinyDB requires) to
documents, and each document carries its key in ``_key``::

    {"_meta": {"1": {"_key": "store", "schema": 2, "generation": 3, "next_ids": {"runs": 41}}},
     "runs": {"1": {"_key": "3f2a...", "run_id": "3f2a...", "run_name": "rf-1", ...}, ...}}

so ``TinyDB("store.json", access_mode="r").table("runs").search(Query().run_name == "rf-1")``
works as TinyDB's documentation says. Document ids are given in journal order (the next id of a
table is kept in ``_meta``), so every process that replays the same journal gives the same ids.
A key's id never changes while the document exists.

Schema 1 (before ids) stored ``{table: {key: document}}`` with ``_meta`` as
``{"store": {"generation": N}}``; :meth:`State.from_snapshot` reads both.
"""

from __future__ import annotations

from typing import Any

from jupyter_mlops.store.base import StoreView
from jupyter_mlops.store.journal import LineError, Ops, check_ops

SCHEMA = 2
META = "_meta"
STREAMS = "_streams"
"""Per stream: ``{"length": committed bytes}``, plus ``"file"`` when the file has another name
(a trimmed or repaired version); see ``embedded``."""
KEY = "_key"
REQUIRED = {
    "runs": ("run_id", "experiment_id"),
    "experiments": ("experiment_id", "name"),
    STREAMS: ("length",),
}
"""Fields without which the rest of jupyter_mlops cannot use a document of these tables."""

Tables = dict[str, dict[str, dict[str, Any]]]


class SnapshotError(ValueError):
    """A snapshot whose content is not a store (``str(e)`` says where)."""


def merged(doc: dict[str, Any] | None, fields: dict[str, Any]) -> dict[str, Any]:
    """A new document: ``doc`` with ``fields`` set, dict values merged one level deep."""
    new = dict(doc or {})
    for key, value in fields.items():
        old = new.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            value = {**old, **value}
        new[key] = value
    return new


class State:
    """Every table as ``{key: document}``, with the TinyDB id of each key.

    Documents are replaced, never mutated, so a document handed to a reader stays as it was.
    """

    def __init__(self, generation: int = 0, schema: int = SCHEMA) -> None:
        self.tables: Tables = {}
        self.ids: dict[str, dict[str, int]] = {}
        self.next_ids: dict[str, int] = {}
        self.generation = generation
        self.schema = schema
        """The layout this state was read from; it decides how the journal's lines read."""

    # -- changes ------------------------------------------------------------------------------
    def check(self, ops: Any) -> Ops:
        """``ops`` if they can be applied; ``LineError`` saying why not (nothing is applied)."""
        if not isinstance(ops, list) or not ops:
            return check_ops(ops)  # raises, saying what is wrong
        exists: dict[tuple[str, str], bool] | None = None
        for op in ops:
            if not isinstance(op, list) or len(op) != 4:
                return check_ops(ops)
            verb, table, key, payload = op
            if verb == "del":
                good = payload is None
            else:
                good = (verb == "put" or verb == "merge") and isinstance(payload, dict)
            if not (good and isinstance(table, str) and isinstance(key, str)):
                return check_ops(ops)
            if verb != "del" and KEY in payload:
                raise LineError(f"it writes the reserved field {KEY!r} into {table}/{key}")
            required = REQUIRED.get(table)
            if required is None:
                continue
            exists = {} if exists is None else exists
            if verb == "put":
                for field in required:
                    if payload.get(field) is None:
                        raise LineError(f"it stores {table}/{key} without {field}")
                if table == STREAMS:
                    _check_stream_doc(table, key, payload, LineError)
            elif verb == "merge" and not exists.get(
                (table, key), key in self.tables.get(table, ())
            ):
                raise LineError(f"it updates {table}/{key}, which does not exist")
            exists[(table, key)] = verb != "del"
        return ops

    def apply(self, ops: Ops) -> None:
        """Apply operations that passed :meth:`check`."""
        for verb, table, key, payload in ops:
            docs = self.tables.setdefault(table, {})
            ids = self.ids.setdefault(table, {})
            if verb == "del":
                docs.pop(key, None)
                ids.pop(key, None)
                continue
            if key not in ids:
                ids[key] = self.next_ids.get(table, 1)
                self.next_ids[table] = ids[key] + 1
            docs[key] = payload if verb == "put" else merged(docs.get(key), payload)

    # -- layouts ------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The state as a TinyDB database (schema 2)."""
        meta = {
            KEY: "store",
            "schema": SCHEMA,
            "generation": self.generation,
            "next_ids": dict(self.next_ids),
        }
        out: dict[str, dict[str, dict[str, Any]]] = {META: {"1": meta}}
        for table, docs in self.tables.items():
            if docs:
                ids = self.ids[table]
                out[table] = {str(ids[key]): {**doc, KEY: key} for key, doc in docs.items()}
        return out

    @classmethod
    def from_snapshot(cls, data: Any) -> State:
        """The state in a snapshot of either schema; ``SnapshotError`` if it is not one."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise SnapshotError("its top level is not an object of tables")
        meta = _v2_meta(data.get(META))
        if meta is None:
            return cls._from_legacy(data)
        state = cls(_count(meta.get("generation", 0), "the generation"), SCHEMA)
        next_ids = meta.get("next_ids") or {}
        for table, docs in data.items():
            if table != META:
                state._load_table(table, docs, next_ids.get(table, 1))
        return state

    def _load_table(self, table: str, docs: Any, next_id: Any) -> None:
        if not isinstance(docs, dict):
            raise SnapshotError(f"table {table!r} is not an object of documents")
        keyed: dict[str, dict[str, Any]] = {}
        ids: dict[str, int] = {}
        required = REQUIRED.get(table, ())
        doc_id = None
        try:  # one pass, no call per document: a big store opens in this loop
            for doc_id, doc in docs.items():
                key = doc.pop(KEY)
                if type(key) is not str:
                    raise TypeError
                for field in required:
                    if doc.get(field) is None:
                        raise TypeError
                keyed[key], ids[key] = doc, int(doc_id)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise SnapshotError(
                f"document {doc_id} of table {table!r} is not a document with its {KEY} "
                f"and {', '.join(required) or 'an integer id'}"
            ) from None
        if table == STREAMS:
            for key, doc in keyed.items():
                _check_stream_doc(table, key, doc, SnapshotError)
        self.tables[table], self.ids[table] = keyed, ids
        top = max(ids.values(), default=0)
        self.next_ids[table] = max(top + 1, next_id if isinstance(next_id, int) else 1)

    @classmethod
    def _from_legacy(cls, data: dict[str, Any]) -> State:
        meta = data.get(META)
        record = meta.get("store") if isinstance(meta, dict) else None
        generation = record.get("generation", 0) if isinstance(record, dict) else 0
        state = cls(_count(generation, "the generation"), 1)
        for table, docs in data.items():
            if table == META:
                continue
            if not isinstance(docs, dict):
                raise SnapshotError(f"table {table!r} is not an object of documents")
            for key, doc in docs.items():
                if not isinstance(doc, dict):
                    raise SnapshotError(f"document {key!r} of table {table!r} is not an object")
                _check_doc(table, key, doc)
            state.apply([["put", table, key, doc] for key, doc in docs.items()])
        return state


def _v2_meta(meta: Any) -> dict[str, Any] | None:
    """The schema-2 ``_meta`` record, or ``None`` for a schema-1 snapshot."""
    if isinstance(meta, dict):
        record = meta.get("1")
        if isinstance(record, dict) and record.get(KEY) == "store":
            return record
    return None


def _check_doc(table: str, key: str, doc: dict[str, Any]) -> None:
    missing = [f for f in REQUIRED.get(table, ()) if doc.get(f) is None]
    if missing:
        raise SnapshotError(f"document {key!r} of table {table!r} has no {', '.join(missing)}")
    if table == STREAMS:
        _check_stream_doc(table, key, doc, SnapshotError)


def _check_stream_doc(table: str, key: str, doc: dict[str, Any], error: type[ValueError]) -> None:
    length = doc.get("length")
    if not isinstance(doc.get("file", key), str) or type(length) is not int or length < 0:
        raise error(f"{table}/{key} needs a whole length (and a file name, if any)")


def _count(value: Any, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SnapshotError(f"{what} is not a whole number") from None
    if number < 0:
        raise SnapshotError(f"{what} is negative")
    return number


class Transaction(StoreView):
    """Collects a transaction's writes; reads see them (copy-on-write over the state)."""

    def __init__(self, tables: Tables):
        self._tables = tables
        self._staged: dict[tuple[str, str], dict[str, Any] | None] = {}
        self.ops: list[list[Any]] = []
        self.appends: dict[str, list[bytes]] = {}

    def get(self, table: str, doc_id: str) -> dict[str, Any] | None:
        if (table, doc_id) in self._staged:
            return self._staged[(table, doc_id)]
        return self._tables.get(table, {}).get(doc_id)

    def table(self, table: str) -> dict[str, dict[str, Any]]:
        docs = dict(self._tables.get(table, {}))
        for (name, doc_id), doc in self._staged.items():
            if name != table:
                continue
            if doc is None:
                docs.pop(doc_id, None)
            else:
                docs[doc_id] = doc
        return docs

    def put(self, table: str, doc_id: str, doc: dict[str, Any]) -> None:
        self._staged[(table, doc_id)] = doc
        self.ops.append(["put", table, doc_id, doc])

    def merge(self, table: str, doc_id: str, fields: dict[str, Any]) -> None:
        self._staged[(table, doc_id)] = merged(self.get(table, doc_id), fields)
        self.ops.append(["merge", table, doc_id, fields])

    def delete(self, table: str, doc_id: str) -> None:
        self._staged[(table, doc_id)] = None
        self.ops.append(["del", table, doc_id, None])

    def append_stream(self, name: str, data: bytes) -> None:
        """Stage ``data`` for the stream ``name``; written just before the commit."""
        self.appends.setdefault(name, []).append(data)
