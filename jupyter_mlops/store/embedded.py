"""The embedded store: TinyDB documents, made safe and fast for many processes.

TinyDB keeps a whole database in one JSON file and rewrites that file on every write; its own
documentation says it is not safe across processes. Kernels, the Jupyter server extension, model
servers and the CLI all write this store at once, and a training loop logs thousands of metric
points, so the store keeps TinyDB's database as its snapshot but owns the write path.

Design
------
- **Snapshot + journal.** ``store.json`` is a plain TinyDB database (document ids and the
  ``_key`` field: :mod:`~jupyter_mlops.store.state`) as of the last compaction; every committed
  transaction since is one checksummed line of ``journal-<generation>.jsonl``
  (:mod:`~jupyter_mlops.store.journal`). A reader loads the snapshot once and then reads only
  the bytes appended since its last look: a read costs a couple of ``stat`` calls when nothing
  changed. ``store.json`` exists from the store's creation.
- **The write path.** Every change goes through :meth:`EmbeddedStore.transact`, under the
  exclusive lock, in this order:

  1. catch up with the journal and run the callback on the current state (it only stages);
  2. append the staged stream bytes (metric points, records) to their files, each at its
     *committed length*, cutting off first whatever a failed or killed writer left beyond it;
  3. append **one** journal line holding the document changes and every stream's new length.
     This write is the commit: before it nothing is visible to any reader, after it all is;
  4. apply the changes in memory; maybe compact.

  A failure in 2 or 3 cuts the streams (and the journal) back and raises; readers read a
  stream only up to its committed length and the next writer cuts the rest, so a failed commit
  leaves nothing behind and a retry never duplicates a point. A blob (an artifact's bytes) is
  the one side effect *before* the commit, by necessity: it is content-addressed, written to a
  temporary file and renamed into place, and a failed commit leaves at most an unreferenced blob,
  which ``jupyter mlops store check`` lists. Trimming a record stream writes a new version of
  the file, commits it, then deletes the old one.
- **Compaction.** When the journal passes ``JUPYTER_MLOPS_COMPACT_BYTES`` (4 MiB), the writer
  folds it into a new snapshot (temporary file, fsync, rename) and starts the next generation's
  journal; it also removes what dead writers left (temporary files, uncommitted stream bytes and
  stream files no commit refers to). A compaction that fails (a full disk) changes nothing and
  is retried later; the commit that triggered it stands.
- **Metric histories** are append-only text files, one per run; a flush appends the points with
  one ``write`` and updates small per-key summaries (last, min, max, step, count) in the run
  document in the same commit. Logging N points costs O(N); search reads only the summaries.
- **Artifacts** are content-addressed files (``artifacts/ab/<sha256>``); the run records path,
  sha256 and size, and every read re-hashes the file before handing it out.

Guarantees
----------
- A call that returned (acknowledged) is in the journal: it survives the writing process being
  killed (``SIGKILL``) at any later moment. Set ``JUPYTER_MLOPS_FSYNC=1`` to also fsync every
  append, which makes it survive power loss at the cost of a disk flush per write.
- A writer killed mid-commit leaves an unterminated journal tail (and maybe stream bytes past
  their committed lengths); readers ignore both and the next writer cuts them off, so the torn
  transaction is dropped whole. Any *complete* line that does not decode is damage: the store
  refuses to open (or, in a running process, to go on) with one ``StoreDamaged`` naming the file
  (:mod:`~jupyter_mlops.store.recovery`), and ``jupyter mlops store repair`` fixes it.
- Transactions are serialised across processes by ``flock`` (released by the kernel when a process
  dies) and across threads by a lock, so concurrent writers never lose each other's updates.
- A full disk or failing write raises one ``DiskFull``/``StoreError`` and leaves no partial
  record; a folder that cannot be written opens read-only (writes raise ``ReadOnlyStore``).
- ``FORMAT`` records the schema; a schema-1 store is migrated on its first writable open, and a
  store written by a newer version is refused with a message saying how to upgrade.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.processes import process_alive, process_start_time
from jupyter_mlops.store import journal, recovery
from jupyter_mlops.store.base import MetricPoint, Store, StoreView, param_conflict
from jupyter_mlops.store.files import FileStorage
from jupyter_mlops.store.formats import (
    check_stream,
    clean_artifact_path,
    metrics_stream,
    parse_points,
    records_stream,
    summarize,
)
from jupyter_mlops.store.ops import TransactionalOps
from jupyter_mlops.store.state import STREAMS, State, Transaction, merged
from jupyter_mlops.store.storage import BaseStorage, MemoryStorage

__all__ = [
    "EmbeddedStore",
    "check_stream",
    "clean_artifact_path",
    "merged",
    "parse_points",
    "process_alive",
    "process_start_time",
    "summarize",
]

DEFAULT_COMPACT_BYTES = 4 << 20
HISTORY_CACHE_RUNS = 64


class EmbeddedStore(TransactionalOps, Store):
    """The default store: a folder (or memory) shared safely by every local process."""

    def __init__(self, storage: BaseStorage, uri: str):
        self.uri = uri
        self._storage = storage
        self._state = State()
        self._offset = 0
        self._snapshot_id: object = object()
        self._compact_bytes = int(
            os.environ.get("JUPYTER_MLOPS_COMPACT_BYTES", DEFAULT_COMPACT_BYTES)
        )
        self._compact_at = self._compact_bytes
        self._host = socket.gethostname()
        self._history_cache: dict[str, tuple[int, dict[str, list[MetricPoint]]]] = {}
        self._cache_lock = threading.Lock()
        self._tinydb: tuple[object, bytes] | None = None

    @classmethod
    def open(cls, location: str) -> EmbeddedStore:
        """The store in the folder ``location`` (``"memory:"``: in memory), read and checked.

        Raises ``StoreDamaged`` when a file of the store cannot be read as it was written.
        """
        if location.startswith("memory:"):
            store = cls(MemoryStorage(), "memory:")
        else:
            store = cls(FileStorage(location), os.path.abspath(os.path.expanduser(location)))
        if not store._storage.read_only:
            with store._storage.lock(exclusive=True):
                recovery.prepare(store._storage)
        with store._storage.lock(exclusive=False):
            store._catch_up()
        return store

    @property
    def storage(self) -> BaseStorage:
        """The medium (a folder or memory): for ``store check`` and tests."""
        return self._storage

    @property
    def read_only(self) -> bool:
        """Whether this store can only be read (a read-only folder or mount)."""
        return self._storage.read_only

    # -- the state ----------------------------------------------------------------------------
    def _catch_up(self) -> None:
        """Bring the in-memory state up to the journal's end (caller holds the lock)."""
        snapshot_id = self._storage.snapshot_id()
        if snapshot_id != self._snapshot_id:
            self._state = recovery.load(self._storage)
            self._offset = 0
            self._snapshot_id = snapshot_id
        generation = self._state.generation
        size = self._storage.journal_size(generation)
        if size <= self._offset:
            if size < self._offset:
                raise recovery.shorter(self._storage, generation, size, self._offset)
            return
        data, _ = self._storage.read_journal(generation, self._offset)
        if data:
            self._offset, error = recovery.replay(self._state, self._storage, data, self._offset)
            if error is not None:
                raise error

    def _read(self, *tables: str) -> list[dict[str, dict[str, Any]]]:
        """Shallow copies of ``tables``, caught up and taken under the lock.

        Catching up replaces entries of the live tables, so a reader in another thread must
        never iterate them; documents themselves are never mutated, so a shallow copy is a
        consistent snapshot.
        """
        with self._storage.lock(exclusive=False):
            self._catch_up()
            return [dict(self._state.tables.get(name, {})) for name in tables]

    def _doc(self, table: str, doc_id: str) -> dict[str, Any] | None:
        with self._storage.lock(exclusive=False):
            self._catch_up()
            return self._state.tables.get(table, {}).get(doc_id)

    def transact(self, fn: Callable[[StoreView], Any]) -> Any:
        if self._storage.read_only:
            raise self._storage.read_only_error()  # type: ignore[attr-defined]
        with self._storage.lock(exclusive=True):
            self._catch_up()
            txn = Transaction(self._state.tables)
            result = fn(txn)
            if txn.ops or txn.appends:
                self._commit(txn.ops, txn.appends)
            return result

    def _commit(self, ops: list[list[Any]], appends: dict[str, list[bytes]]) -> None:
        """Write streams, then the one journal line that commits everything (see the docstring)."""
        try:
            if ops:
                self._state.check(ops)
        except journal.LineError as e:
            raise InvalidInput(f"This write was refused: {e}.") from None
        written: list[tuple[str, int]] = []
        streams = self._state.tables.get(STREAMS, {})
        try:
            for name, chunks in appends.items():
                doc = streams.get(name) or {"length": 0}
                file = doc.get("file", name)
                written.append((file, doc["length"]))
                length = self._storage.append_stream(file, doc["length"], b"".join(chunks))
                ops.append(["put", STREAMS, name, {**doc, "length": length}])
            size = self._storage.append_journal(self._state.generation, self._offset, _encode(ops))
        except BaseException:
            for file, length in written:
                self._storage.truncate_stream(file, length)
            raise
        self._state.apply(ops)
        self._offset = size
        if size > self._compact_at:
            self._compact()

    def _compact(self) -> None:
        """Fold the journal into a new snapshot; on failure keep going and retry later."""
        state = self._state
        state.generation += 1
        try:
            self._storage.write_snapshot(state.snapshot(), state.generation)
        except Exception:  # e.g. a full disk: the commit stands, the journal just grows
            state.generation -= 1
            self._compact_at = self._offset + max(self._compact_bytes // 4, 1)
            return
        self._snapshot_id = self._storage.snapshot_id()
        self._offset = 0
        self._compact_at = self._compact_bytes
        self._tidy()

    def _tidy(self) -> None:
        """Remove dead writers' leftovers: temporary files, uncommitted stream bytes and files."""
        self._storage.cleanup()
        streams = self._state.tables.get(STREAMS, {})
        for name, doc in streams.items():
            self._storage.truncate_stream(doc.get("file", name), doc["length"])
        kept = {doc.get("file", name) for name, doc in streams.items()}
        for name in self._storage.list_streams():
            if name not in kept:
                self._storage.remove_stream_file(name)

    def documents(self, table: str) -> dict[str, dict[str, Any]]:
        return self._read(table)[0]

    def tinydb_data(self) -> dict[str, Any]:
        """The current state as a TinyDB database (fresh objects; see ``mlops.tinydb``)."""
        with self._storage.lock(exclusive=False):
            self._catch_up()
            version = (self._snapshot_id, self._offset)
            if self._tinydb is None or self._tinydb[0] != version:
                self._tinydb = (version, json.dumps(self._state.snapshot()).encode())
            return json.loads(self._tinydb[1])

    # -- experiments --------------------------------------------------------------------------
    def get_or_create_experiment(self, name: str) -> dict[str, Any]:
        for exp in self.documents("experiments").values():
            if exp["name"] == name:
                return exp

        def create(txn: StoreView) -> dict[str, Any]:
            existing = txn.table("experiments")
            for exp in existing.values():
                if exp["name"] == name:
                    return exp
            exp_id = str(max((int(i) for i in existing), default=-1) + 1)
            doc = {"experiment_id": exp_id, "name": name, "creation_time": _now_ms()}
            txn.put("experiments", exp_id, doc)
            return doc

        return self.transact(create)

    def list_experiments(self) -> list[dict[str, Any]]:
        runs, experiments = self._read("runs", "experiments")
        counts: dict[str, int] = {}
        for run in runs.values():
            counts[run["experiment_id"]] = counts.get(run["experiment_id"], 0) + 1
        return [
            {**exp, "run_count": counts.get(exp_id, 0)}
            for exp_id, exp in sorted(experiments.items(), key=lambda i: int(i[0]))
        ]

    # -- runs ---------------------------------------------------------------------------------
    def create_run(self, run: dict[str, Any]) -> dict[str, Any]:
        self.transact(lambda txn: txn.put("runs", run["run_id"], run))
        return run

    def get_run(self, run_id: str) -> dict[str, Any]:
        run = self._doc("runs", run_id)
        if run is None:
            raise NotFound(
                f"No run with id {run_id!r} in the store {self.uri}. "
                "List runs with %mlops_runs or `jupyter mlops runs`."
            )
        return self._effective(run)

    def list_runs(
        self, experiment_ids: Iterable[str] | None = None, hint: str | None = None
    ) -> list[dict[str, Any]]:
        runs = self.documents("runs").values()
        if experiment_ids is not None:
            wanted = set(experiment_ids)
            runs = [r for r in runs if r["experiment_id"] in wanted]  # type: ignore[assignment]
        effective = self._effective
        return [r if r.get("status") != "RUNNING" else effective(r) for r in runs]

    def _effective(self, run: dict[str, Any]) -> dict[str, Any]:
        """The run as users should see it: RUNNING with a dead process on this host is KILLED."""
        if run.get("status") != "RUNNING" or run.get("host") != self._host:
            return run
        if process_alive(run.get("pid"), run.get("proc_start")):
            return run
        return {**run, "status": "KILLED"}

    def _modify_run(self, run_id: str, fn: Callable[[StoreView, dict[str, Any]], None]) -> None:
        def body(txn: StoreView) -> None:
            run = txn.get("runs", run_id)
            if run is None:
                raise NotFound(f"No run with id {run_id!r} in the store {self.uri}.")
            fn(txn, run)

        self.transact(body)

    def update_run(self, run_id: str, **fields: Any) -> None:
        self._modify_run(run_id, lambda txn, run: txn.merge("runs", run_id, fields))

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        def body(txn: StoreView, run: dict[str, Any]) -> None:
            old = run.get("params", {})
            for key, value in params.items():
                if key in old and old[key] != value:
                    raise param_conflict(run, key, old[key], value)
            txn.merge("runs", run_id, {"params": params})

        self._modify_run(run_id, body)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self._modify_run(run_id, lambda txn, run: txn.merge("runs", run_id, {"tags": tags}))

    def add_dataset(self, run_id: str, dataset: dict[str, Any]) -> None:
        def body(txn: StoreView, run: dict[str, Any]) -> None:
            datasets = list(run.get("datasets", []))
            key = (dataset.get("digest"), dataset.get("context"))
            if all((d.get("digest"), d.get("context")) != key for d in datasets):
                txn.merge("runs", run_id, {"datasets": [*datasets, dataset]})

        self._modify_run(run_id, body)

    # -- metrics ------------------------------------------------------------------------------
    def log_metric_points(self, run_id: str, points: list[MetricPoint]) -> None:
        if not points:
            return
        data = "".join(f"{k}\t{s}\t{t}\t{v!r}\n" for k, v, s, t in points).encode()

        def body(txn: StoreView, run: dict[str, Any]) -> None:
            txn.append_stream(metrics_stream(run_id), data)  # type: ignore[attr-defined]
            txn.merge("runs", run_id, {"metrics": summarize(run.get("metrics", {}), points)})

        self._modify_run(run_id, body)

    def get_metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        self.get_run(run_id)
        return list(self._histories(run_id).get(key, []))

    def _histories(self, run_id: str) -> dict[str, list[MetricPoint]]:
        """Every key's points of a run, parsed once per commit to its log (small LRU cache).

        Comparing runs asks for several metrics of each run; the log is read only once. The
        bytes are read under the lock and parsed after it, so writers never wait on a parse.
        """
        with self._storage.lock(exclusive=False):
            self._catch_up()
            file, length = self._stream(metrics_stream(run_id))
            with self._cache_lock:  # panels refresh from background threads
                cached = self._history_cache.pop(run_id, None)
                if cached is not None and cached[0] == length:
                    self._history_cache[run_id] = cached  # most recently used last
                    return cached[1]
            data = self._storage.read_stream(file, 0, length)
        points = parse_points(data)
        with self._cache_lock:
            self._history_cache[run_id] = (length, points)
            while len(self._history_cache) > HISTORY_CACHE_RUNS:
                self._history_cache.pop(next(iter(self._history_cache)))
        return points

    def _stream(self, name: str) -> tuple[str, int]:
        """A stream's file and committed length (the caller holds the lock)."""
        doc = self._state.tables.get(STREAMS, {}).get(name)
        return (doc.get("file", name), doc["length"]) if doc else (name, 0)

    # -- record streams -------------------------------------------------------------------------
    def append_records(self, stream: str, records: list[dict[str, Any]]) -> None:
        if records:
            name = records_stream(stream)
            data = "".join(
                json.dumps(r, separators=(",", ":"), default=str) + "\n" for r in records
            ).encode()
            self.transact(lambda txn: txn.append_stream(name, data))  # type: ignore[attr-defined]

    def read_records(self, stream: str, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        name = records_stream(stream)
        with self._storage.lock(exclusive=False):
            self._catch_up()
            file, length = self._stream(name)
            if offset > length:
                offset = 0  # the stream was trimmed since that offset was handed out
            data = self._storage.read_stream(file, offset, length)
        records = []
        for line in data.splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # schema 1 kept lines torn by a killed writer
        return records, length

    def count_records(self, stream: str) -> int:
        with self._storage.lock(exclusive=False):
            self._catch_up()
            file, length = self._stream(records_stream(stream))
            return self._storage.read_stream(file, 0, length).count(b"\n")

    def trim_records(self, stream: str, keep: int) -> int:
        name = records_stream(stream)
        if self._storage.read_only:
            raise self._storage.read_only_error()  # type: ignore[attr-defined]
        with self._storage.lock(exclusive=True):
            self._catch_up()
            doc = self._state.tables.get(STREAMS, {}).get(name)
            if doc is None:
                return 0
            old = doc.get("file", name)
            lines = self._storage.read_stream(old, 0, doc["length"]).splitlines(True)
            if len(lines) <= keep:
                return len(lines)
            kept = b"".join(lines[len(lines) - keep :])
            version = doc.get("version", 0) + 1
            new = {
                "file": f"{name[: -len('.jsonl')]}@{version}.jsonl",
                "length": len(kept),
                "version": version,
            }
            self._storage.write_stream_file(new["file"], kept)
            try:
                self._commit([["put", STREAMS, name, new]], {})
            except BaseException:
                self._storage.remove_stream_file(new["file"])
                raise
            self._storage.remove_stream_file(old)
            return keep

    # -- artifacts ----------------------------------------------------------------------------
    def put_artifact(self, run_id: str, path: str, source: str) -> dict[str, Any]:
        path = clean_artifact_path(path)
        sha, size = self._storage.put_blob(source)
        record = {"sha256": sha, "size": size}
        self._modify_run(
            run_id, lambda txn, run: txn.merge("runs", run_id, {"artifacts": {path: record}})
        )
        return {"path": path, **record}

    def artifact_file(self, run_id: str, path: str) -> str:
        path = clean_artifact_path(path)
        record = self.get_run(run_id).get("artifacts", {}).get(path)
        if record is None:
            raise NotFound(f"Run {run_id} has no artifact {path!r}.")
        return self._storage.blob_path(record["sha256"])


def _encode(ops: list[list[Any]]) -> bytes:
    try:
        return journal.encode(ops)
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"This write was refused: it cannot be stored as JSON ({e}).") from e


def _now_ms() -> int:
    return int(time.time() * 1000)
