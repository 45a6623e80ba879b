"""The embedded store: TinyDB documents, made safe and fast for many processes.

TinyDB keeps a whole database in one JSON file and rewrites that file on every write; its own
documentation says it is not safe across processes. Kernels, the Jupyter server extension, model
servers and the CLI all write this store at once, and a training loop logs thousands of metric
points, so the store uses TinyDB's layout and ``Storage`` interface but owns the write path:

Design
------
- **Snapshot + journal.** The state is every table in TinyDB's JSON layout
  (``{"runs": {"<run_id>": {...}}, ...}``). ``store.json`` holds it as of the last compaction; every
  committed transaction since is one JSON line appended to ``journal-<generation>.jsonl``. A reader
  loads the snapshot once and then only reads the bytes appended since its last look, so a read
  costs a couple of ``stat`` calls when nothing changed.
- **One write path.** Every mutation goes through :meth:`EmbeddedStore.transact`: take the
  exclusive lock, catch up with the journal, run the callback against the current state, append
  its operations as *one* line, apply them. Callbacks that allocate numbers (version 3 of a model)
  therefore see every earlier commit from every process.
- **Compaction.** When the journal passes ``JUPYTER_MLOPS_COMPACT_BYTES`` (4 MiB), the writer
  folds it into a new snapshot (written to a temporary file, fsynced, renamed) and starts the next
  generation's journal. Readers notice the new snapshot by its inode and reload.
- **Metric histories** are append-only text files, one per run; a flush appends the points with
  one ``write`` and updates small per-key summaries (last, min, max, step, count) in the run
  document. Logging N points costs O(N) in total; search reads only the summaries.
- **Artifacts** are content-addressed files (``artifacts/ab/<sha256>``); the run records path,
  sha256 and size, and every read re-hashes the file before handing it out.

Guarantees
----------
- A call that returned (acknowledged) is in the journal: it survives the writing process being
  killed (``SIGKILL``) at any later moment. Set ``JUPYTER_MLOPS_FSYNC=1`` to also fsync every
  append, which makes it survive power loss at the cost of a disk flush per write.
- A writer killed mid-append leaves one unterminated line; it is terminated by the next writer and
  skipped by every reader, so the torn transaction is dropped whole and the store still opens.
- Transactions are serialised across processes by ``flock`` (released by the kernel when a process
  dies) and across threads by a lock, so concurrent writers never lose each other's updates.
- ``FORMAT`` records the schema version; a store written by a newer version is refused with a
  message saying how to upgrade.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.store.base import MetricPoint, Store, StoreView, param_conflict
from jupyter_mlops.store.storage import BaseStorage, FileStorage, MemoryStorage

Tables = dict[str, dict[str, dict[str, Any]]]
DEFAULT_COMPACT_BYTES = 4 << 20
HISTORY_CACHE_RUNS = 64


def merged(doc: dict[str, Any] | None, fields: dict[str, Any]) -> dict[str, Any]:
    """A new document: ``doc`` with ``fields`` set, dict values merged one level deep."""
    new = dict(doc or {})
    for key, value in fields.items():
        old = new.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            value = {**old, **value}
        new[key] = value
    return new


def apply_ops(tables: Tables, ops: list[list[Any]]) -> None:
    """Apply journal operations ``[verb, table, doc_id, payload]`` to ``tables`` in place.

    Documents are replaced, never mutated, so a document handed to a reader stays as it was.
    """
    for verb, table, doc_id, payload in ops:
        docs = tables.setdefault(table, {})
        if verb == "put":
            docs[doc_id] = payload
        elif verb == "merge":
            docs[doc_id] = merged(docs.get(doc_id), payload)
        elif verb == "del":
            docs.pop(doc_id, None)


class _Transaction(StoreView):
    """Collects a transaction's writes; reads see them (copy-on-write over the state)."""

    def __init__(self, tables: Tables):
        self._tables = tables
        self._staged: dict[tuple[str, str], dict[str, Any] | None] = {}
        self.ops: list[list[Any]] = []

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


class EmbeddedStore(Store):
    """The default store: a folder (or memory) shared safely by every local process."""

    def __init__(self, storage: BaseStorage, uri: str):
        self.uri = uri
        self._storage = storage
        self._tables: Tables = {}
        self._generation = 0
        self._offset = 0
        self._snapshot_id: object = object()
        self._compact_bytes = int(
            os.environ.get("JUPYTER_MLOPS_COMPACT_BYTES", DEFAULT_COMPACT_BYTES)
        )
        self._host = socket.gethostname()
        self._history_cache: dict[str, tuple[int, dict[str, list[MetricPoint]]]] = {}
        self._cache_lock = threading.Lock()

    @classmethod
    def open(cls, location: str) -> EmbeddedStore:
        """A store in the folder ``location``, or in memory for ``"memory:"``."""
        if location.startswith("memory:"):
            return cls(MemoryStorage(), "memory:")
        return cls(FileStorage(location), os.path.abspath(os.path.expanduser(location)))

    # -- the state ----------------------------------------------------------------------------
    def _catch_up(self) -> None:
        """Bring the in-memory state up to the journal's end (caller holds the lock)."""
        snapshot_id = self._storage.snapshot_id()
        if snapshot_id != self._snapshot_id:
            self._tables = self._storage.read_snapshot()
            meta = self._tables.get("_meta", {}).get("store", {})
            self._generation = int(meta.get("generation", 0))
            self._offset = 0
            self._snapshot_id = snapshot_id
        if self._storage.journal_size(self._generation) <= self._offset:
            return
        data, self._offset = self._storage.read_journal(self._generation, self._offset)
        for line in data.splitlines():
            try:
                ops = json.loads(line)
            except ValueError:
                continue  # a transaction torn by a killed writer: dropped whole
            apply_ops(self._tables, ops)

    def _read(self, *tables: str) -> list[dict[str, dict[str, Any]]]:
        """Shallow copies of ``tables``, caught up and taken under the lock.

        Catching up replaces entries of the live tables, so a reader in another thread must
        never iterate them; documents themselves are never mutated, so a shallow copy is a
        consistent snapshot.
        """
        with self._storage.lock(exclusive=False):
            self._catch_up()
            return [dict(self._tables.get(name, {})) for name in tables]

    def _doc(self, table: str, doc_id: str) -> dict[str, Any] | None:
        with self._storage.lock(exclusive=False):
            self._catch_up()
            return self._tables.get(table, {}).get(doc_id)

    def transact(self, fn: Callable[[StoreView], Any]) -> Any:
        with self._storage.lock(exclusive=True):
            self._catch_up()
            txn = _Transaction(self._tables)
            result = fn(txn)
            if txn.ops:
                line = json.dumps(txn.ops, separators=(",", ":")).encode() + b"\n"
                size = self._storage.append_journal(self._generation, line)
                apply_ops(self._tables, txn.ops)
                self._offset = size
                if size > self._compact_bytes:
                    self._compact()
            return result

    def _compact(self) -> None:
        self._generation += 1
        self._tables.setdefault("_meta", {})["store"] = {"generation": self._generation}
        self._storage.write_snapshot(self._tables, self._generation)
        self._snapshot_id = self._storage.snapshot_id()
        self._offset = 0

    def documents(self, table: str) -> dict[str, dict[str, Any]]:
        return self._read(table)[0]

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
            self._storage.append_stream(_metrics_stream(run_id), data)
            txn.merge("runs", run_id, {"metrics": summarize(run.get("metrics", {}), points)})

        self._modify_run(run_id, body)

    def get_metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        self.get_run(run_id)
        return list(self._histories(run_id).get(key, []))

    def _histories(self, run_id: str) -> dict[str, list[MetricPoint]]:
        """Every key's points of a run, parsed once per change of its log (small LRU cache).

        Comparing runs asks for several metrics of each run; the log is read only once.
        """
        name = _metrics_stream(run_id)
        size = self._storage.stream_size(name)
        with self._cache_lock:  # panels refresh from background threads
            cached = self._history_cache.pop(run_id, None)
            if cached is None or cached[0] != size:
                cached = (size, parse_points(self._storage.read_stream(name)))
            self._history_cache[run_id] = cached  # most recently used last
            while len(self._history_cache) > HISTORY_CACHE_RUNS:
                self._history_cache.pop(next(iter(self._history_cache)))
            return cached[1]

    # -- record streams -------------------------------------------------------------------------
    def append_records(self, stream: str, records: list[dict[str, Any]]) -> None:
        if records:
            data = "".join(
                json.dumps(r, separators=(",", ":"), default=str) + "\n" for r in records
            )
            with self._storage.lock(exclusive=True):  # a trim rewrites the file under this lock
                self._storage.append_stream(_records_stream(stream), data.encode())

    def read_records(self, stream: str, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        name = _records_stream(stream)
        if offset > self._storage.stream_size(name):
            offset = 0  # the stream was trimmed since that offset was handed out
        data = self._storage.read_stream(name, offset)
        records = []
        for line in data.splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a line torn by a killed writer
        return records, offset + len(data)

    def count_records(self, stream: str) -> int:
        return self._storage.read_stream(_records_stream(stream)).count(b"\n")

    def trim_records(self, stream: str, keep: int) -> int:
        name = _records_stream(stream)
        with self._storage.lock(exclusive=True):
            lines = self._storage.read_stream(name).splitlines(keepends=True)
            if len(lines) > keep:
                self._storage.replace_stream(name, b"".join(lines[len(lines) - keep :]))
            return min(len(lines), keep)

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


_STREAM_RE = re.compile(r"^[\w.-]+(/[\w.-]+)*$")


def check_stream(stream: str) -> None:
    """A record stream's name: path segments of letters, digits, ``_ - .``; no ``..``."""
    if not isinstance(stream, str) or not _STREAM_RE.match(stream) or ".." in stream.split("/"):
        raise InvalidInput(
            f"Invalid stream name {stream!r}: use letters, digits, '_', '-', '.', '/'."
        )


def _records_stream(stream: str) -> str:
    check_stream(stream)
    return f"records/{stream}.jsonl"


def parse_points(data: bytes) -> dict[str, list[MetricPoint]]:
    """A metric log (tab-separated key, step, timestamp, value) grouped by key, in order."""
    points: dict[str, list[MetricPoint]] = {}
    for line in data.split(b"\n"):
        try:
            key, step, ts, value = line.split(b"\t")
            name = key.decode()
            points.setdefault(name, []).append((name, float(value), int(step), int(ts)))
        except ValueError:
            continue  # an empty or torn line (a killed writer)
    return points


def _metrics_stream(run_id: str) -> str:
    return f"metrics/{run_id[:2]}/{run_id}.tsv"


def summarize(summaries: dict[str, dict[str, Any]], points: list[MetricPoint]) -> dict[str, Any]:
    """Per-key summaries (last, min, max, step, count, timestamp) updated with ``points``."""
    out: dict[str, dict[str, Any]] = {}
    for key, value, step, ts in points:
        cur = out.get(key) or dict(summaries.get(key) or {"count": 0, "min": None, "max": None})
        cur["count"] += 1
        if value == value:  # NaN never becomes a min or max
            cur["min"] = value if cur["min"] is None else min(cur["min"], value)
            cur["max"] = value if cur["max"] is None else max(cur["max"], value)
        if step >= cur.get("step", step):
            cur.update(last=value, step=step, timestamp=ts)
        out[key] = cur
    return out


def clean_artifact_path(path: str) -> str:
    """A relative POSIX path inside the run, or ``InvalidInput``: nothing escapes the store."""
    parts = [p for p in str(path).replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or str(path).startswith("/") or ".." in parts:
        raise InvalidInput(
            f"Artifact path {path!r} must be relative and stay inside the run "
            "(no leading '/', no '..'), e.g. 'plots/roc.png'."
        )
    return "/".join(parts)


def process_alive(pid: Any, proc_start: Any) -> bool:
    """Whether process ``pid`` runs and is the same one (start time) that created the run."""
    if not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state, started = _proc_stat(pid)
    if state == "Z":  # killed, not yet reaped by its parent
        return False
    return proc_start is None or started is None or proc_start == started


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (guards against a reused pid); None off Linux."""
    return _proc_stat(pid)[1]


def _proc_stat(pid: int) -> tuple[str | None, int | None]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None, None


def _now_ms() -> int:
    return int(time.time() * 1000)
