"""The registry on MLflow's model registry: each named operation is MLflow client calls.

=============================  ==================================================================
operation                      MLflow (``MlflowClient``)
=============================  ==================================================================
``create_registered_model``    ``create_registered_model``
``create_model_version``       ``create_registered_model`` (when missing), ``create_model_version``
                               (MLflow numbers it; our fields in its ``mlops.doc`` tag)
``update_model_version``       ``update_model_version``, ``set_model_version_tag``
``archive_model_version``      ``get_registered_model`` (aliases held?), ``set_model_version_tag``
``add_version_report``         ``get_model_version``, ``set_model_version_tag`` (``mlops.doc``)
``set_alias`` / ``delete_``    ``get_model_version``, ``set_registered_model_alias`` /
``alias``                      ``delete_registered_model_alias``; the move in ``alias_history``
``restore_alias``              ``set_registered_model_alias``
=============================  ==================================================================

Alias moves are documents (:mod:`.documents`): MLflow keeps no history of aliases.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from jupyter_mlops.entities import registry as reg
from jupyter_mlops.entities.registry import (
    AliasDoc,
    AliasMove,
    ModelVersionDoc,
    RegisteredModelDoc,
)
from jupyter_mlops.errors import Conflict, InvalidInput, NotFound
from jupyter_mlops.store.mlflow.codec import (
    VERSION_OWN,
    model_doc,
    quote,
    version_doc,
    version_extra,
)
from jupyter_mlops.store.mlflow.streams import Streams
from jupyter_mlops.store.ops import (
    archived_alias,
    check_report_kind,
    held_aliases,
    kept_reports,
    missing_alias,
    missing_model,
    missing_version,
    new_move_id,
    wrong_number,
)
from jupyter_mlops.store.state import merged


class Registry(Streams):
    """Registered models, versions and aliases in MLflow's registry."""

    # -- reading ---------------------------------------------------------------------------------
    def _models(self) -> list[Any]:
        return self._paged(
            lambda token: self.client.search_registered_models(max_results=1000, page_token=token),
            "list registered models",
        )

    def _versions(self, name: str | None) -> list[Any]:
        flt = None if name is None else f"name = '{quote(name)}'"
        return self._paged(
            lambda token: self.client.search_model_versions(
                flt, max_results=10_000, page_token=token
            ),
            "list model versions",
        )

    def list_registered_models(self) -> list[RegisteredModelDoc]:
        return sorted((model_doc(m) for m in self._models()), key=lambda m: m.name)

    def get_registered_model(self, name: str) -> RegisteredModelDoc | None:
        found = self._model(name)
        return None if found is None else model_doc(found)

    def _model(self, name: str) -> Any:
        try:
            return self._call("get model", self.client.get_registered_model, name)
        except (NotFound, InvalidInput):
            return None

    def list_model_versions(self, name: str | None = None) -> list[ModelVersionDoc]:
        found = [version_doc(v) for v in self._versions(name)]
        return sorted(found, key=lambda v: (v.name, v.version))

    def get_model_version(self, name: str, version: int) -> ModelVersionDoc | None:
        try:
            found = self._call("get version", self.client.get_model_version, name, str(version))
        except (NotFound, InvalidInput):
            return None
        return version_doc(found)

    def list_aliases(self, name: str | None = None) -> list[AliasDoc]:
        models = self._models() if name is None else [m for m in [self._model(name)] if m]
        found = [
            AliasDoc(m.name, alias, int(v))
            for m in models
            for alias, v in (m.aliases or {}).items()
        ]
        return sorted(found, key=lambda a: (a.name, a.alias))

    def list_alias_moves(self, name: str | None = None) -> list[AliasMove]:
        docs = self.documents(reg.ALIAS_HISTORY).items()
        found = [
            AliasMove.from_doc(d, move_id=k) for k, d in docs if name is None or d["name"] == name
        ]
        return sorted(found, key=lambda m: m.time)

    def _registry_documents(self, table: str) -> dict[str, dict[str, Any]]:
        if table == reg.VERSIONS:
            return {v.key: v.to_doc() for v in self.list_model_versions()}
        if table == reg.ALIASES:
            return {a.key: a.to_doc() for a in self.list_aliases()}
        return {m.name: m.to_doc() for m in self.list_registered_models()}

    def _existing(self, name: str, version: int) -> ModelVersionDoc:
        found = self.get_model_version(name, version)
        if found is None:
            numbers = [v.version for v in self.list_model_versions(name)]
            raise missing_version(name, version, numbers)
        return found

    # -- models and versions --------------------------------------------------------------------
    def create_registered_model(self, model: RegisteredModelDoc) -> bool:
        try:
            self._call(
                "register model",
                self.client.create_registered_model,
                model.name,
                tags=model.tags or None,
                description=model.description or None,
            )
        except Conflict:
            return False
        return True

    def create_model_version(
        self, version: ModelVersionDoc, number: int | None = None
    ) -> ModelVersionDoc:
        with self._lock:
            self.create_registered_model(RegisteredModelDoc(version.name))
            if number is not None:
                latest = max((v.version for v in self.list_model_versions(version.name)), default=0)
                if number != latest + 1:
                    raise wrong_number(version.name, number, latest + 1)
            created = self._call(
                "register version",
                self.client.create_model_version,
                version.name,
                self._model_source(version.run_id, version.artifact_path or "model"),
                run_id=version.run_id,
                tags={**version.tags, "mlops.doc": version_extra(version)},
                description=version.description or None,
            )
        got = int(created.version)
        if number is not None and got != number:
            raise Conflict(
                f"Another client registered a version of {version.name!r} at the same time: "
                f"MLflow numbered this one {got}, not {number}. Check the versions with "
                f"%mlops_models {version.name}."
            )
        return version.numbered(got)

    def _model_source(self, run_id: str | None, path: str) -> str:
        if not run_id:
            raise InvalidInput("A model version needs the run its model was logged with.")
        run = self._call("get run", self.client.get_run, run_id)
        return f"{run.info.artifact_uri.rstrip('/')}/{path}"

    def update_model_version(
        self,
        name: str,
        version: int,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        self._existing(name, version)
        c, number = self.client, str(version)
        if description is not None:
            self._call("update version", c.update_model_version, name, number, description)
        for key, value in (tags or {}).items():
            self._call("tag version", c.set_model_version_tag, name, number, key, value)

    def update_registered_model(
        self, name: str, description: str | None = None, tags: dict[str, str] | None = None
    ) -> None:
        if self._model(name) is None:
            raise missing_model(name)
        c = self.client
        if description is not None:
            self._call("update model", c.update_registered_model, name, description)
        for key, value in (tags or {}).items():
            self._call("tag model", c.set_registered_model_tag, name, key, value)

    def _set_extra(self, found: ModelVersionDoc) -> None:
        self._call(
            "update version",
            self.client.set_model_version_tag,
            found.name,
            str(found.version),
            "mlops.doc",
            version_extra(found),
        )

    def archive_model_version(self, name: str, version: int) -> None:
        with self._lock:
            found = self._existing(name, version)
            held = [a.alias for a in self.list_aliases(name) if a.version == version]
            if held:
                raise held_aliases(name, version, held)
            self._set_extra(replace(found, status=reg.ARCHIVED))

    def add_version_report(
        self,
        name: str,
        version: int,
        report: dict[str, Any],
        kind: str = "validations",
        keep: int | None = None,
    ) -> None:
        check_report_kind(kind)
        with self._lock:
            found = self._existing(name, version)
            reports = kept_reports([*getattr(found, kind), report], keep)
            fields: dict[str, Any] = {kind: reports}
            self._set_extra(replace(found, **fields))

    def _merge_version(self, doc_id: str, fields: dict[str, Any]) -> bool:
        """A ``transact`` merge of our own fields of a version (its ``mlops.doc`` tag).

        For callers that still write ``model_versions`` with a transaction (a version's
        ``evaluations`` list, say): fields MLflow keeps itself (name, version, run, description,
        tags) are refused; use the named operations for everything new.
        """
        if set(fields) & set(VERSION_OWN):
            return False
        name, _, number = doc_id.rpartition("/")
        found = self._existing(name, int(number)) if number.isdigit() else None
        if found is None:
            return False
        self._set_extra(ModelVersionDoc.from_doc(merged(found.to_doc(), fields)))
        return True

    # -- aliases ---------------------------------------------------------------------------------
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
        with self._lock:
            if self._existing(name, version).status == reg.ARCHIVED:
                raise archived_alias(name, version)
            previous = self._alias(name, alias)
            if previous == version:
                return None
            self._call(
                "set alias", self.client.set_registered_model_alias, name, alias, str(version)
            )
            return self._record(name, alias, previous, version, time, user, reason, forced)

    def delete_alias(
        self, name: str, alias: str, *, time: int, user: str = "", reason: str = ""
    ) -> AliasMove:
        with self._lock:
            previous = self._alias(name, alias)
            if previous is None:
                raise missing_alias(name, alias)
            self._call("delete alias", self.client.delete_registered_model_alias, name, alias)
            return self._record(name, alias, previous, None, time, user, reason, False)

    def restore_alias(self, alias: AliasDoc) -> bool:
        with self._lock:
            if self._alias(alias.name, alias.alias) == alias.version:
                return False
            self._existing(alias.name, alias.version)
            self._call(
                "set alias",
                self.client.set_registered_model_alias,
                alias.name,
                alias.alias,
                str(alias.version),
            )
            return True

    def _alias(self, name: str, alias: str) -> int | None:
        model = self._model(name)
        held = (model.aliases or {}).get(alias) if model is not None else None
        return None if held is None else int(held)

    def _record(
        self,
        name: str,
        alias: str,
        previous: int | None,
        version: int | None,
        time: int,
        user: str,
        reason: str,
        forced: bool,
    ) -> AliasMove:
        move = AliasMove(new_move_id(), name, alias, previous, version, time, user, reason, forced)
        self._write(reg.ALIAS_HISTORY, move.move_id, move.to_doc(), None)
        return move
