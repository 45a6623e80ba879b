"""The named document operations every store offers, implemented on a store's transaction.

:class:`~jupyter_mlops.store.base.Store` declares them (create a model version, set or delete
an alias with its history entry, record or update a deployment, save a drift report or monitor
windows...); :class:`TransactionalOps` implements each one as one :meth:`Store.transact` call,
which is what the embedded store uses (every operation is atomic there). The MLflow backend
maps each one to MLflow's client instead (:mod:`jupyter_mlops.store.mlflow.registry`,
:mod:`jupyter_mlops.store.mlflow.documents`).

The checks and the messages of their errors are shared (the ``missing_*`` and ``check_*``
functions), so a user meets the same words on every backend.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from jupyter_mlops.entities import deployments as dep
from jupyter_mlops.entities import monitoring as mon
from jupyter_mlops.entities import registry as reg
from jupyter_mlops.entities.deployments import DeploymentDoc
from jupyter_mlops.entities.monitoring import DriftReportDoc, MonitorWindowDoc
from jupyter_mlops.entities.registry import (
    AliasDoc,
    AliasMove,
    ModelVersionDoc,
    RegisteredModelDoc,
)
from jupyter_mlops.errors import Conflict, InvalidInput, NotFound
from jupyter_mlops.store.base import StoreView


# -- shared checks and messages -----------------------------------------------------------------
def missing_model(name: str) -> NotFound:
    """The error for an unknown model name."""
    return NotFound(f"No registered model named {name!r}. List models with %mlops_models.")


def missing_version(name: str, version: int, numbers: list[int]) -> NotFound:
    """The error for a version that does not exist, listing those that do."""
    if not numbers:
        return missing_model(name)
    listed = ", ".join(str(v) for v in sorted(numbers))
    return NotFound(
        f"Model {name!r} has no version {version} (versions: {listed}). "
        f"List them with %mlops_models {name}."
    )


def missing_alias(name: str, alias: str) -> NotFound:
    """The error for an alias that is not set."""
    return NotFound(f"Model {name!r} has no alias {alias!r}.")


def missing_deployment(name: str, known: list[str]) -> NotFound:
    """The error for an unknown deployment, listing the known ones."""
    listed = ", ".join(sorted(known)) or "none"
    return NotFound(f"No deployment named {name!r} (deployments: {listed}).")


def archived_alias(name: str, version: int) -> Conflict:
    """The error for pointing an alias at an archived version."""
    return Conflict(f"Version {version} of {name!r} is archived and cannot hold an alias.")


def held_aliases(name: str, version: int, held: list[str]) -> Conflict:
    """The error for archiving a version that holds aliases."""
    return Conflict(
        f"Version {version} of {name!r} still holds alias(es) {', '.join(sorted(held))}: move "
        "or delete them first (set_alias / delete_alias)."
    )


def wrong_number(name: str, wanted: int, next_number: int) -> Conflict:
    """The error for copying a version whose number is not the next one."""
    return Conflict(
        f"Model {name!r} cannot get version {wanted}: its next version is {next_number} "
        "(versions are numbered in order)."
    )


def check_deployment_fields(fields: dict[str, Any]) -> None:
    """Refuse updates of a deployment's fields that are fixed once recorded."""
    unknown = sorted(set(fields) - set(dep.UPDATABLE))
    if unknown:
        raise InvalidInput(
            f"A deployment's {', '.join(unknown)} cannot be updated: only "
            f"{', '.join(dep.UPDATABLE)} change after it was recorded."
        )


def check_report_kind(kind: str) -> None:
    """Refuse a list of reports a model version does not keep."""
    if kind not in reg.REPORT_FIELDS:
        raise InvalidInput(
            f"A model version keeps {' and '.join(reg.REPORT_FIELDS)} reports, not {kind!r}."
        )


def kept_reports(reports: list[dict[str, Any]], keep: int | None) -> list[dict[str, Any]]:
    """The newest ``keep`` reports (all of them when ``keep`` is ``None``)."""
    return reports if keep is None else reports[-keep:] if keep > 0 else []


def new_move_id() -> str:
    """A fresh alias-history document id."""
    return uuid.uuid4().hex


def keep_window(stored: dict[str, Any] | None, window: MonitorWindowDoc) -> bool:
    """Whether ``window`` may replace ``stored`` (it saw at least as many rows)."""
    return (stored or {}).get("rows", 0) <= window.rows


# -- the operations on a transaction ---------------------------------------------------------------
class TransactionalOps:
    """The named operations of :class:`~jupyter_mlops.store.base.Store`, each one transaction."""

    def transact(self, fn: Any) -> Any:  # provided by the store
        raise NotImplementedError

    # registry
    def create_registered_model(self, model: RegisteredModelDoc) -> bool:
        def body(txn: StoreView) -> bool:
            if txn.get(reg.MODELS, model.name) is not None:
                return False
            txn.put(reg.MODELS, model.name, model.to_doc())
            return True

        return bool(self.transact(body))

    def create_model_version(
        self, version: ModelVersionDoc, number: int | None = None
    ) -> ModelVersionDoc:
        return self.transact(lambda txn: _add_version(txn, version, number))  # type: ignore[no-any-return]

    def update_model_version(
        self,
        name: str,
        version: int,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        fields: dict[str, Any] = {}
        if description is not None:
            fields["description"] = description
        if tags:
            fields["tags"] = dict(tags)

        def body(txn: StoreView) -> None:
            _version(txn, name, version)
            if fields:
                txn.merge(reg.VERSIONS, reg.version_key(name, version), fields)

        self.transact(body)

    def update_registered_model(
        self, name: str, description: str | None = None, tags: dict[str, str] | None = None
    ) -> None:
        fields: dict[str, Any] = {"last_updated": int(time.time() * 1000)}
        if description is not None:
            fields["description"] = description
        if tags:
            fields["tags"] = dict(tags)

        def body(txn: StoreView) -> None:
            if txn.get(reg.MODELS, name) is None:
                raise missing_model(name)
            txn.merge(reg.MODELS, name, fields)

        self.transact(body)

    def archive_model_version(self, name: str, version: int) -> None:
        def body(txn: StoreView) -> None:
            _version(txn, name, version)
            held = [
                a["alias"]
                for a in txn.table(reg.ALIASES).values()
                if a["name"] == name and a["version"] == version
            ]
            if held:
                raise held_aliases(name, version, held)
            txn.merge(reg.VERSIONS, reg.version_key(name, version), {"status": reg.ARCHIVED})

        self.transact(body)

    def add_version_report(
        self,
        name: str,
        version: int,
        report: dict[str, Any],
        kind: str = "validations",
        keep: int | None = None,
    ) -> None:
        check_report_kind(kind)

        def body(txn: StoreView) -> None:
            doc = _version(txn, name, version)
            reports = kept_reports([*doc.get(kind, []), report], keep)
            txn.merge(reg.VERSIONS, reg.version_key(name, version), {kind: reports})

        self.transact(body)

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
        def body(txn: StoreView) -> AliasMove | None:
            if _version(txn, name, version).get("status") == reg.ARCHIVED:
                raise archived_alias(name, version)
            return _move(txn, name, alias, version, time, user, reason, forced)

        return self.transact(body)  # type: ignore[no-any-return]

    def delete_alias(
        self, name: str, alias: str, *, time: int, user: str = "", reason: str = ""
    ) -> AliasMove:
        def body(txn: StoreView) -> AliasMove | None:
            if txn.get(reg.ALIASES, reg.alias_key(name, alias)) is None:
                raise missing_alias(name, alias)
            return _move(txn, name, alias, None, time, user, reason, False)

        return self.transact(body)  # type: ignore[no-any-return]

    def restore_alias(self, alias: AliasDoc) -> bool:
        def body(txn: StoreView) -> bool:
            current = txn.get(reg.ALIASES, alias.key)
            if (current or {}).get("version") == alias.version:
                return False
            _version(txn, alias.name, alias.version)
            txn.put(reg.ALIASES, alias.key, alias.to_doc())
            return True

        return bool(self.transact(body))

    def record_alias_move(self, move: AliasMove) -> bool:
        def body(txn: StoreView) -> bool:
            if txn.get(reg.ALIAS_HISTORY, move.move_id) is not None:
                return False
            txn.put(reg.ALIAS_HISTORY, move.move_id, move.to_doc())
            return True

        return bool(self.transact(body))

    # deployments
    def record_deployment(self, deployment: DeploymentDoc) -> None:
        self.transact(lambda txn: txn.put(dep.TABLE, deployment.name, deployment.to_doc()))

    def update_deployment(self, name: str, **fields: Any) -> None:
        check_deployment_fields(fields)

        def body(txn: StoreView) -> None:
            if txn.get(dep.TABLE, name) is None:
                raise missing_deployment(name, list(txn.table(dep.TABLE)))
            txn.merge(dep.TABLE, name, fields)

        self.transact(body)

    def record_deployment_version(self, name: str, version: int | None, time: int) -> None:
        def body(txn: StoreView) -> None:
            doc = txn.get(dep.TABLE, name)
            if doc is None:
                raise missing_deployment(name, list(txn.table(dep.TABLE)))
            moves = [*doc.get("versions", []), {"version": version, "time": time}]
            txn.merge(dep.TABLE, name, {"version": version, "versions": moves})

        self.transact(body)

    # monitoring
    def save_drift_report(self, report: DriftReportDoc) -> None:
        self.transact(lambda txn: txn.put(mon.REPORTS, report.key, report.to_doc()))

    def save_monitor_windows(self, windows: list[MonitorWindowDoc]) -> int:
        def body(txn: StoreView) -> int:
            kept = [w for w in windows if keep_window(txn.get(mon.WINDOWS, w.key), w)]
            for window in kept:
                txn.put(mon.WINDOWS, window.key, window.to_doc())
            return len(kept)

        return int(self.transact(body))


def _version(txn: StoreView, name: str, version: int) -> dict[str, Any]:
    doc = txn.get(reg.VERSIONS, reg.version_key(name, version))
    if doc is None:
        numbers = [d["version"] for d in txn.table(reg.VERSIONS).values() if d["name"] == name]
        raise missing_version(name, version, numbers)
    return doc


def _add_version(txn: StoreView, version: ModelVersionDoc, number: int | None) -> ModelVersionDoc:
    name, now = version.name, version.creation_time
    model_doc = txn.get(reg.MODELS, name)
    if model_doc is None:
        model = RegisteredModelDoc(name, creation_time=now, last_updated=now)
        txn.put(reg.MODELS, name, model.to_doc())
    else:  # a copied version (sync) may be older than the model's last change
        txn.merge(reg.MODELS, name, {"last_updated": max(now, model_doc.get("last_updated", 0))})
    existing = [d["version"] for d in txn.table(reg.VERSIONS).values() if d["name"] == name]
    next_number = max(existing, default=0) + 1
    if number is not None and number != next_number:
        raise wrong_number(name, number, next_number)
    numbered = version.numbered(next_number)
    txn.put(reg.VERSIONS, numbered.key, numbered.to_doc())
    return numbered


def _move(
    txn: StoreView,
    name: str,
    alias: str,
    version: int | None,
    time: int,
    user: str,
    reason: str,
    forced: bool,
) -> AliasMove | None:
    key = reg.alias_key(name, alias)
    current = txn.get(reg.ALIASES, key)
    previous = current["version"] if current else None
    if previous == version:
        return None
    if version is None:
        txn.delete(reg.ALIASES, key)
    else:
        txn.put(reg.ALIASES, key, AliasDoc(name, alias, version).to_doc())
    move = AliasMove(new_move_id(), name, alias, previous, version, time, user, reason, forced)
    txn.put(reg.ALIAS_HISTORY, move.move_id, move.to_doc())
    txn.merge(reg.MODELS, name, {"last_updated": time})
    return move
