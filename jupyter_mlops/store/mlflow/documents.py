"""Documents MLflow has no place for, as runs of the hidden experiment ``_jupyter_mlops``.

Alias history, deployments, drift reports and monitor windows (and any other table written
through :meth:`transact`): one run per document, tagged ``mlops.table`` and ``mlops.doc_id``,
the document's JSON in ``mlops.doc.<n>`` tags (:func:`~.codec.split_doc`). Each named operation
reads the document it changes and writes it back; a transaction's writes are sent in order once
its callback returns (nothing is written when it raises), serialized within the process but not
atomic against other machines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jupyter_mlops.entities import deployments as dep
from jupyter_mlops.entities import monitoring as mon
from jupyter_mlops.entities import registry as reg
from jupyter_mlops.entities.deployments import DeploymentDoc
from jupyter_mlops.entities.monitoring import DriftReportDoc, MonitorWindowDoc
from jupyter_mlops.entities.registry import AliasMove
from jupyter_mlops.errors import Conflict, InvalidInput, NotFound
from jupyter_mlops.store.base import StoreView, iter_batches
from jupyter_mlops.store.mlflow.artifacts import Artifacts
from jupyter_mlops.store.mlflow.client import INTERNAL_EXPERIMENT, PAGE, PARAMS_TAGS_PER_BATCH
from jupyter_mlops.store.mlflow.codec import doc_keys, experiment_doc, join_doc, quote, split_doc
from jupyter_mlops.store.ops import check_deployment_fields, keep_window, missing_deployment
from jupyter_mlops.store.state import merged

Handle = tuple[str, frozenset[str]]
"""A stored document's run, and the tags that hold its JSON."""
TRACKING_TABLES = ("experiments", "runs")
REGISTRY_TABLES = (reg.MODELS, reg.VERSIONS, reg.ALIASES)
"""Kept in MLflow's model registry (:mod:`.registry`), not in documents."""


class Documents(Artifacts):
    """Generic documents and the named operations on deployments, reports and alias moves."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self._internal_id: str | None = None

    # -- the internal experiment -----------------------------------------------------------------
    def _internal(self) -> str:
        if self._internal_id is None:
            with self._lock:
                exp = self._call(
                    "get experiment", self.client.get_experiment_by_name, INTERNAL_EXPERIMENT
                )
                if exp is None:
                    try:
                        self._internal_id = self._call(
                            "create experiment", self.client.create_experiment, INTERNAL_EXPERIMENT
                        )
                    except Conflict:
                        exp = self.client.get_experiment_by_name(INTERNAL_EXPERIMENT)
                        self._internal_id = exp.experiment_id
                else:
                    self._internal_id = exp.experiment_id
        return self._internal_id

    def _internal_runs(self, flt: str) -> list[Any]:
        from mlflow.entities import ViewType

        return self._paged(
            lambda token: self.client.search_runs(
                [self._internal()],
                flt,
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=PAGE,
                page_token=token,
            ),
            "read documents",
        )

    def _internal_run(self, name: str, tags: dict[str, str]) -> str:
        run = self._call(
            "create document", self.client.create_run, self._internal(), tags=tags, run_name=name
        )
        return str(run.info.run_id)

    # -- reading -----------------------------------------------------------------------------------
    def documents(self, table: str) -> dict[str, dict[str, Any]]:
        return {doc_id: doc for doc_id, (doc, _) in self._table(table).items()}

    def _table(self, table: str) -> dict[str, tuple[dict[str, Any], Any]]:
        """``{doc_id: (document, handle)}``; the handle is what a write needs (a run id...)."""
        if table == "experiments":
            return {e.experiment_id: (experiment_doc(e), None) for e in self._experiment_list()}
        if table == "runs":
            return {r["run_id"]: (r, None) for r in self.list_runs()}
        if table in REGISTRY_TABLES:
            return {k: (doc, None) for k, doc in self._registry_documents(table).items()}
        return _documents(self._internal_runs(tag_filter("mlops.table", table)))

    def _registry_documents(self, table: str) -> dict[str, dict[str, Any]]:
        raise NotImplementedError  # the registry part (.registry) reads MLflow's registry

    def _merge_version(self, doc_id: str, fields: dict[str, Any]) -> bool:
        raise NotImplementedError  # the registry part (.registry) writes MLflow's registry

    def _document(self, table: str, doc_id: str) -> tuple[dict[str, Any], Handle] | None:
        """One stored document and its handle, or ``None``."""
        flt = f"{tag_filter('mlops.table', table)} AND {tag_filter('mlops.doc_id', doc_id)}"
        found = _documents(self._internal_runs(flt))
        return found.get(doc_id)

    # -- writing -----------------------------------------------------------------------------------
    def _write(self, table: str, doc_id: str, doc: dict[str, Any], handle: Handle | None) -> Handle:
        """Create or overwrite one document; its new handle."""
        tags = split_doc(doc)
        if handle is None:
            run_id = self._internal_run(
                f"{table}/{doc_id}"[:250], {**tags, "mlops.table": table, "mlops.doc_id": doc_id}
            )
            self._call("close document", self.client.set_terminated, run_id, "FINISHED")
            return run_id, frozenset(tags)
        from mlflow.entities import RunTag

        run_id, written = handle
        for batch in iter_batches([RunTag(k, v) for k, v in tags.items()], PARAMS_TAGS_PER_BATCH):
            self._call("write document", self.client.log_batch, run_id, tags=batch)
        for key in sorted(written - set(tags)):  # a document that got shorter
            self._call("write document", self.client.delete_tag, run_id, key)
        return run_id, frozenset(tags)

    def _put(self, table: str, doc_id: str, doc: dict[str, Any]) -> None:
        found = self._document(table, doc_id)
        self._write(table, doc_id, doc, None if found is None else found[1])

    def _change(
        self, table: str, doc_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> None:
        """Read a document, write ``change(document)`` back; ``NotFound`` when it is missing."""
        with self._lock:
            found = self._document(table, doc_id)
            if found is None:
                raise NotFound(f"No document {doc_id!r} in {table}.")
            self._write(table, doc_id, change(found[0]), found[1])

    def transact(self, fn: Callable[[StoreView], Any]) -> Any:
        with self._lock:
            view = _View(self)
            result = fn(view)
            for kind, table, doc_id, doc, fields in view.ops:
                self._apply(view, kind, table, doc_id, doc, fields)
            return result

    def _apply(
        self, view: _View, kind: str, table: str, doc_id: str, doc: Any, fields: Any
    ) -> None:
        if table in TRACKING_TABLES:
            raise InvalidInput(f"The {table} table is written through the tracking API only.")
        if table == reg.VERSIONS and kind == "merge" and self._merge_version(doc_id, fields):
            return
        if table in REGISTRY_TABLES:
            raise InvalidInput(
                f"The {table} table is MLflow's model registry: write it through the store's "
                "registry operations (create_model_version, set_alias, ...)."
            )
        handles = view.handles(table)
        if kind == "delete":
            if doc_id in handles:
                self._call("delete document", self.client.delete_run, handles.pop(doc_id)[0])
            return
        handles[doc_id] = self._write(table, doc_id, doc, handles.get(doc_id))

    # -- named operations --------------------------------------------------------------------------
    def record_deployment(self, deployment: DeploymentDoc) -> None:
        with self._lock:
            self._put(dep.TABLE, deployment.name, deployment.to_doc())

    def update_deployment(self, name: str, **fields: Any) -> None:
        check_deployment_fields(fields)
        self._change_deployment(name, lambda doc: merged(doc, fields))

    def record_deployment_version(self, name: str, version: int | None, time: int) -> None:
        def change(doc: dict[str, Any]) -> dict[str, Any]:
            moves = [*doc.get("versions", []), {"version": version, "time": time}]
            return {**doc, "version": version, "versions": moves}

        self._change_deployment(name, change)

    def _change_deployment(
        self, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> None:
        try:
            self._change(dep.TABLE, name, change)
        except NotFound:
            raise missing_deployment(name, list(self.documents(dep.TABLE))) from None

    def save_drift_report(self, report: DriftReportDoc) -> None:
        with self._lock:
            self._put(mon.REPORTS, report.key, report.to_doc())

    def save_monitor_windows(self, windows: list[MonitorWindowDoc]) -> int:
        with self._lock:
            stored = self._table(mon.WINDOWS)
            kept = 0
            for window in windows:
                doc, handle = stored.get(window.key, (None, None))
                if keep_window(doc, window):
                    stored[window.key] = (
                        window.to_doc(),
                        self._write(mon.WINDOWS, window.key, window.to_doc(), handle),
                    )
                    kept += 1
            return kept

    def record_alias_move(self, move: AliasMove) -> bool:
        with self._lock:
            if self._document(reg.ALIAS_HISTORY, move.move_id) is not None:
                return False
            self._write(reg.ALIAS_HISTORY, move.move_id, move.to_doc(), None)
            return True


def tag_filter(tag: str, value: str) -> str:
    """``tags.`<tag>` = '<value>'`` in MLflow's filter dialect."""
    return f"tags.`{tag}` = '{quote(value)}'"


def _documents(runs: list[Any]) -> dict[str, tuple[dict[str, Any], Handle]]:
    out = {}
    for run in runs:
        tags = run.data.tags
        doc_id = tags.get("mlops.doc_id")
        doc = join_doc(tags)
        if doc_id is not None and doc is not None:
            out[doc_id] = (doc, (str(run.info.run_id), doc_keys(tags)))
    return out


class _View(StoreView):
    """A transaction's snapshot: tables read on first use, writes kept until the callback ends."""

    def __init__(self, store: Documents) -> None:
        self.store = store
        self.ops: list[tuple[str, str, str, Any, Any]] = []
        self._handles: dict[str, dict[str, Any]] = {}
        self._now: dict[str, dict[str, dict[str, Any]]] = {}

    def _load(self, table: str) -> dict[str, dict[str, Any]]:
        if table not in self._now:
            loaded = self.store._table(table)
            self._handles[table] = {k: handle for k, (_, handle) in loaded.items()}
            self._now[table] = {k: doc for k, (doc, _) in loaded.items()}
        return self._now[table]

    def handles(self, table: str) -> dict[str, Any]:
        self._load(table)
        return self._handles[table]

    def get(self, table: str, doc_id: str) -> dict[str, Any] | None:
        return self._load(table).get(doc_id)

    def table(self, table: str) -> dict[str, dict[str, Any]]:
        return self._load(table)

    def put(self, table: str, doc_id: str, doc: dict[str, Any]) -> None:
        self._load(table)[doc_id] = doc
        self.ops.append(("put", table, doc_id, doc, None))

    def merge(self, table: str, doc_id: str, fields: dict[str, Any]) -> None:
        current = self._load(table).get(doc_id)
        if current is None:
            raise NotFound(f"No document {doc_id!r} in {table}.")
        self._now[table][doc_id] = merged(current, fields)
        self.ops.append(("merge", table, doc_id, self._now[table][doc_id], fields))

    def delete(self, table: str, doc_id: str) -> None:
        self._load(table).pop(doc_id, None)
        self.ops.append(("delete", table, doc_id, None, None))
