"""The interface every store backend implements.

Magics, widgets, server routes and the CLI only ever talk to a :class:`Store`; the embedded
TinyDB store (:mod:`jupyter_mlops.store.embedded`) is one implementation, and a remote backend
(an MLflow tracking server) can be another without touching any of them.

Documents are plain JSON-able dicts. A run document looks like::

    {"run_id": "3f2a...", "run_name": "rf-1", "experiment_id": "1", "experiment": "churn",
     "status": "FINISHED", "start_time": 1700000000000, "end_time": 1700000001234,
     "parent_run_id": None,
     "params": {"n_estimators": "100"},
     "metrics": {"acc": {"last": 0.93, "min": 0.5, "max": 0.93, "step": 9, "count": 10,
                         "timestamp": 1700000001000}},
     "tags": {"mlops.source.name": "train.ipynb"},
     "datasets": [{"name": "iris", "digest": "ab12...", "context": "training", ...}],
     "artifacts": {"model/model.pkl": {"sha256": "...", "size": 1234}},
     "pid": 4242, "host": "box", "proc_start": 123456}

Times are integer milliseconds since the epoch, as in MLflow.

Registry, deployment and monitoring documents have named, typed operations
(``create_model_version``, ``set_alias``, ``record_deployment``, ``save_monitor_windows``...)
whose schemas are the dataclasses of :mod:`jupyter_mlops.entities`; callers use them, never
:meth:`Store.transact` with string keys, so each backend can map each one to what it has (one
transaction of the embedded store, :mod:`jupyter_mlops.store.ops`; MLflow client calls,
:mod:`jupyter_mlops.store.mlflow.registry`). ``transact`` and ``documents`` remain for tables
without named operations.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from jupyter_mlops.entities import deployments as _dep
from jupyter_mlops.entities import monitoring as _mon
from jupyter_mlops.entities import registry as _reg
from jupyter_mlops.entities.deployments import DeploymentDoc
from jupyter_mlops.entities.monitoring import DriftReportDoc, MonitorWindowDoc
from jupyter_mlops.entities.registry import (
    AliasDoc,
    AliasMove,
    ModelVersionDoc,
    RegisteredModelDoc,
)
from jupyter_mlops.errors import Conflict

MetricPoint = tuple[str, float, int, int]
"""(key, value, step, timestamp_ms)"""


class Store(abc.ABC):
    """A backend for experiments, runs, metric histories, artifacts and registry documents.

    Writes are small named operations so that every backend can make each one atomic.
    """

    uri: str
    remote: bool = False
    """A store behind a network: callers must not wait on it from a user's cell."""
    metric_batch: int = 5000
    """The most points one :meth:`log_metric_points` call should get."""

    # -- experiments ------------------------------------------------------------------------
    @abc.abstractmethod
    def get_or_create_experiment(self, name: str) -> dict[str, Any]:
        """The experiment called ``name``, created if missing."""

    def find_experiment(self, name: str) -> dict[str, Any] | None:
        """The experiment called ``name``, or ``None``."""
        return next((e for e in self.documents("experiments").values() if e["name"] == name), None)

    @abc.abstractmethod
    def list_experiments(self) -> list[dict[str, Any]]:
        """Every experiment as ``{"experiment_id", "name", "creation_time", "run_count"}``."""

    # -- runs -------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_run(self, run: dict[str, Any]) -> dict[str, Any]:
        """Store a new run document and return it as stored.

        ``run_id`` is set by the caller; a backend that allocates its own ids (an MLflow server)
        returns the document with the id it chose.
        """

    @abc.abstractmethod
    def get_run(self, run_id: str) -> dict[str, Any]:
        """One run document; :class:`~jupyter_mlops.errors.NotFound` when unknown."""

    @abc.abstractmethod
    def list_runs(
        self, experiment_ids: Iterable[str] | None = None, hint: str | None = None
    ) -> list[dict[str, Any]]:
        """Run documents, optionally restricted to some experiments (read-only views).

        ``hint`` is a filter in MLflow's dialect (see ``search.server_filter``) that a remote
        backend may apply to send fewer runs; callers filter the result again, so a backend
        may ignore it.
        """

    @abc.abstractmethod
    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set top-level attributes (``status``, ``end_time``, ``run_name``...)."""

    @abc.abstractmethod
    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        """Add params; a key already set to a different value raises ``Conflict``."""

    @abc.abstractmethod
    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Add or overwrite tags."""

    @abc.abstractmethod
    def log_metric_points(self, run_id: str, points: list[MetricPoint]) -> None:
        """Append metric points (one atomic batch) and update the run's metric summaries."""

    @abc.abstractmethod
    def get_metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every point logged for ``key`` in logging order."""

    @abc.abstractmethod
    def add_dataset(self, run_id: str, dataset: dict[str, Any]) -> None:
        """Record a dataset input (deduplicated by digest and context)."""

    @abc.abstractmethod
    def put_artifact(self, run_id: str, path: str, source: str) -> dict[str, Any]:
        """Copy the file ``source`` into the store as ``path`` of the run; return its record."""

    @abc.abstractmethod
    def artifact_file(self, run_id: str, path: str) -> str:
        """A local path to the artifact's bytes, verified against its sha256."""

    # -- record streams (prediction logs, labels...) -------------------------------------------
    @abc.abstractmethod
    def append_records(self, stream: str, records: list[dict[str, Any]]) -> None:
        """Append JSON records to a named stream (one atomic batch)."""

    @abc.abstractmethod
    def read_records(self, stream: str, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Records of a stream from byte ``offset`` on, and the offset to continue from.

        An offset from before a :meth:`trim_records` may point past the end: reading then
        starts over from the first record kept.
        """

    @abc.abstractmethod
    def count_records(self, stream: str) -> int:
        """How many records a stream holds."""

    @abc.abstractmethod
    def trim_records(self, stream: str, keep: int) -> int:
        """Drop all but the newest ``keep`` records (atomically); return how many are kept."""

    # -- registry: named operations (schemas in jupyter_mlops.entities.registry) ----------------
    @abc.abstractmethod
    def create_registered_model(self, model: RegisteredModelDoc) -> bool:
        """Create a registered model; ``False`` (and nothing changes) when it exists."""

    @abc.abstractmethod
    def create_model_version(
        self, version: ModelVersionDoc, number: int | None = None
    ) -> ModelVersionDoc:
        """Register ``version`` as the next version of its model (created when missing).

        The store numbers it and returns it numbered; ``number`` (a copy of another store's
        version) must then be the next number, else ``Conflict``.
        """

    @abc.abstractmethod
    def update_model_version(
        self,
        name: str,
        version: int,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Set a version's description, add or overwrite its tags; ``NotFound`` when unknown."""

    @abc.abstractmethod
    def update_registered_model(
        self, name: str, description: str | None = None, tags: dict[str, str] | None = None
    ) -> None:
        """Set a model's description, add or overwrite its tags; ``NotFound`` when unknown."""

    @abc.abstractmethod
    def archive_model_version(self, name: str, version: int) -> None:
        """Mark a version ARCHIVED; ``Conflict`` while it holds an alias."""

    @abc.abstractmethod
    def add_version_report(
        self,
        name: str,
        version: int,
        report: dict[str, Any],
        kind: str = "validations",
        keep: int | None = None,
    ) -> None:
        """Append a report to a version's ``validations`` (the gate's) or ``evaluations``.

        ``keep``: only the newest ``keep`` reports of that kind stay.
        """

    def add_validation(self, name: str, version: int, report: dict[str, Any]) -> None:
        """Append the promotion gate's report to a version (every one is kept)."""
        self.add_version_report(name, version, report, "validations")

    @abc.abstractmethod
    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        time: int,
        user: str = "",
        reason: str = "",
        forced: bool = False,
    ) -> AliasMove | None:
        """Point ``alias`` at ``version`` and record the move; ``None`` when it was there already.

        ``NotFound`` for an unknown version, ``Conflict`` for an archived one.
        """

    @abc.abstractmethod
    def delete_alias(
        self, name: str, alias: str, *, time: int, user: str = "", reason: str = ""
    ) -> AliasMove:
        """Remove ``alias`` and record the move (to no version); ``NotFound`` when unset."""

    @abc.abstractmethod
    def restore_alias(self, alias: AliasDoc) -> bool:
        """Point an alias as another store has it, without a history entry (``sync``)."""

    @abc.abstractmethod
    def record_alias_move(self, move: AliasMove) -> bool:
        """Add a history entry copied from another store, unless its id is known (``sync``)."""

    def list_registered_models(self) -> list[RegisteredModelDoc]:
        """Every registered model, by name."""
        docs = self.documents(_reg.MODELS)
        return [RegisteredModelDoc.from_doc(docs[k]) for k in sorted(docs)]

    def get_registered_model(self, name: str) -> RegisteredModelDoc | None:
        doc = self.documents(_reg.MODELS).get(name)
        return None if doc is None else RegisteredModelDoc.from_doc(doc)

    def list_model_versions(self, name: str | None = None) -> list[ModelVersionDoc]:
        """The versions of one model (or of all), by name and number."""
        docs = self.documents(_reg.VERSIONS).values()
        found = [ModelVersionDoc.from_doc(d) for d in docs if name is None or d["name"] == name]
        return sorted(found, key=lambda v: (v.name, v.version))

    def get_model_version(self, name: str, version: int) -> ModelVersionDoc | None:
        doc = self.documents(_reg.VERSIONS).get(_reg.version_key(name, version))
        return None if doc is None else ModelVersionDoc.from_doc(doc)

    def list_aliases(self, name: str | None = None) -> list[AliasDoc]:
        docs = self.documents(_reg.ALIASES).values()
        found = [AliasDoc.from_doc(d) for d in docs if name is None or d["name"] == name]
        return sorted(found, key=lambda a: (a.name, a.alias))

    def list_alias_moves(self, name: str | None = None) -> list[AliasMove]:
        """Every alias move (of one model), oldest first."""
        docs = self.documents(_reg.ALIAS_HISTORY).items()
        found = [
            AliasMove.from_doc(d, move_id=k) for k, d in docs if name is None or d["name"] == name
        ]
        return sorted(found, key=lambda m: m.time)

    # -- deployments (jupyter_mlops.entities.deployments) ---------------------------------------
    @abc.abstractmethod
    def record_deployment(self, deployment: DeploymentDoc) -> None:
        """Insert or replace a deployment's record."""

    @abc.abstractmethod
    def update_deployment(self, name: str, **fields: Any) -> None:
        """Change ``state``, ``stop_time`` or ``last_metrics``; ``NotFound`` when unknown."""

    @abc.abstractmethod
    def record_deployment_version(self, name: str, version: int | None, time: int) -> None:
        """Note that a deployment serves ``version`` from ``time`` on (its alias moved)."""

    def get_deployment(self, name: str) -> DeploymentDoc | None:
        doc = self.documents(_dep.TABLE).get(name)
        return None if doc is None else DeploymentDoc.from_doc({"name": name, **doc})

    def list_deployments(self) -> list[DeploymentDoc]:
        docs = self.documents(_dep.TABLE).items()
        return [DeploymentDoc.from_doc({"name": k, **d}) for k, d in docs]

    # -- monitoring (jupyter_mlops.entities.monitoring) -----------------------------------------
    @abc.abstractmethod
    def save_drift_report(self, report: DriftReportDoc) -> None:
        """Insert or replace a saved drift report."""

    @abc.abstractmethod
    def save_monitor_windows(self, windows: list[MonitorWindowDoc]) -> int:
        """Store windows, each unless a stored one saw more rows; how many were stored."""

    def get_drift_report(self, report_id: str) -> DriftReportDoc | None:
        doc = self.documents(_mon.REPORTS).get(report_id)
        return None if doc is None else DriftReportDoc.from_doc(doc)

    def list_drift_reports(self) -> list[DriftReportDoc]:
        return [DriftReportDoc.from_doc(d) for d in self.documents(_mon.REPORTS).values()]

    def list_monitor_windows(self) -> list[MonitorWindowDoc]:
        return [MonitorWindowDoc.from_doc(d) for d in self.documents(_mon.WINDOWS).values()]

    # -- generic documents (tables without named operations) ----------------------------------
    @abc.abstractmethod
    def transact(self, fn: Callable[[StoreView], Any]) -> Any:
        """Run ``fn`` with exclusive write access; its writes are applied atomically together."""

    @abc.abstractmethod
    def documents(self, table: str) -> dict[str, dict[str, Any]]:
        """Read-only view ``{doc_id: document}`` of a table."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (flush threads, open files)."""


class StoreView(abc.ABC):
    """What a :meth:`Store.transact` callback sees: the current state, and a way to write."""

    @abc.abstractmethod
    def get(self, table: str, doc_id: str) -> dict[str, Any] | None:
        """A document, or ``None``."""

    @abc.abstractmethod
    def table(self, table: str) -> dict[str, dict[str, Any]]:
        """The whole table (read-only)."""

    @abc.abstractmethod
    def put(self, table: str, doc_id: str, doc: dict[str, Any]) -> None:
        """Insert or replace a document."""

    @abc.abstractmethod
    def merge(self, table: str, doc_id: str, fields: dict[str, Any]) -> None:
        """Update fields of an existing document (dict values merge one level deep)."""

    @abc.abstractmethod
    def delete(self, table: str, doc_id: str) -> None:
        """Remove a document."""


def param_conflict(run: dict[str, Any], key: str, old: str, new: str) -> Conflict:
    """The error for re-logging a param with another value (params are write-once)."""
    return Conflict(
        f"Param {key!r} of run {run.get('run_name')} ({run.get('run_id')}) is already "
        f"{old!r}; params are write-once, so {new!r} was not logged. "
        "Start a new run to try another value, or log it under another key."
    )


def iter_batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Successive slices of ``items`` of at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


LockLike = AbstractContextManager[Any]
