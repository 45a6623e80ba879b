"""The one model-reference resolver: what ``models:/...``, ``runs:/...`` or a folder means.

Every part that takes a model URI — ``load_model``, ``register_model``, ``deploy``, ``serve``,
``jupyter mlops k8s``, the contract checks and the REST routes — resolves it here, against a
store:

==============================  ===========================================================
``models:/<name>/<version>``    that version (``v3`` is read as 3)
``models:/<name>/latest``       the newest version that is not archived
``models:/<name>@<alias>``      the version the alias points to now
``runs:/<run_id>/<path>``       the model logged under ``path`` with that run
a folder (or ``file://``)       a model folder (``MLmodel.json`` + model file), as exported
==============================  ===========================================================

This module sits on the store and the entities only, so tracking and the registry can both use
it without importing each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from jupyter_mlops.entities.registry import READY, ModelVersionDoc
from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.store.base import Store
from jupyter_mlops.store.ops import missing_model, missing_version

MODELS, RUNS = "models:/", "runs:/"
FORMS = (
    "runs:/<run_id>/<path>, models:/<name>/<version>, models:/<name>@<alias>, "
    "models:/<name>/latest or a model folder"
)


@dataclass(frozen=True)
class ModelRef:
    """A resolved model reference.

    Attributes
    ----------
    uri : str
        As given.
    run_id, path : str or None
        The run and the artifact path of the model (``None`` for a folder).
    name, version : str or None, int or None
        The registered model and version (``None`` for ``runs:/`` and folders).
    sha256 : str or None
        The registered model file's sha256, which the loaded file must match.
    folder : str or None
        The model folder, for a folder reference.
    """

    uri: str
    run_id: str | None = None
    path: str | None = None
    name: str | None = None
    version: int | None = None
    sha256: str | None = None
    folder: str | None = None
    registered: ModelVersionDoc | None = None

    @property
    def canonical(self) -> str:
        """``models:/<name>/<version>``, ``runs:/<run_id>/<path>`` or the folder."""
        if self.name is not None and self.version is not None:
            return f"{MODELS}{self.name}/{self.version}"
        if self.run_id is not None:
            return f"{RUNS}{self.run_id}/{self.path}"
        return str(self.folder)


def is_model_uri(uri: object) -> bool:
    """Whether ``uri`` is a ``models:/`` or ``runs:/`` URI."""
    return isinstance(uri, str) and uri.startswith((MODELS, RUNS))


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``runs:/<run_id>/<path>`` → ``(run_id, path)``."""
    rest = uri[len(RUNS) :].strip("/")
    run_id, _, path = rest.partition("/")
    if not uri.startswith(RUNS) or not run_id or not path:
        raise InvalidInput(
            f"Bad model URI {uri!r}: expected runs:/<run_id>/<path>, e.g. runs:/3f2a.../model."
        )
    return run_id, path


def parse_models_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``models:/...`` → ``(name, alias, version)``: one of alias and version is set."""
    rest = uri[len(MODELS) :]
    if "@" in rest:
        name, alias = rest.rsplit("@", 1)
        if name and alias:
            return name, alias, None
    else:
        name, _, version = rest.rpartition("/")
        if name and version:
            return name, None, version
    raise InvalidInput(
        f"Bad model URI {uri!r}: use models:/<name>/<version>, models:/<name>@<alias> "
        "or models:/<name>/latest."
    )


def model_name_of(uri: str) -> str | None:
    """The registered model a ``models:/`` URI names (without reading the store)."""
    if not isinstance(uri, str) or not uri.startswith(MODELS):
        return None
    try:
        return parse_models_uri(uri)[0]
    except InvalidInput:
        return None


def version_number(version: object) -> int:
    """A version as a number: ``3``, ``"3"`` or ``"v3"``."""
    try:
        number = int(str(version).lstrip("vV"))
    except ValueError:
        raise InvalidInput(f"A model version is a number such as 3, not {version!r}.") from None
    if number < 1:
        raise InvalidInput(f"Model versions start at 1, not {number}.")
    return number


def resolve_version(store: Store, uri: str) -> ModelVersionDoc:
    """The registered version a ``models:/`` URI means now."""
    name, alias, version = parse_models_uri(uri)
    if alias is not None:
        if store.get_registered_model(name) is None:
            raise missing_model(name)
        aliases = {a.alias: a.version for a in store.list_aliases(name)}
        if alias not in aliases:
            known = ", ".join(sorted(aliases)) or "none"
            raise NotFound(f"Model {name!r} has no alias {alias!r} (aliases: {known}).")
        return _version(store, name, aliases[alias])
    if version == "latest":
        if store.get_registered_model(name) is None:
            raise missing_model(name)
        live = [v for v in store.list_model_versions(name) if v.status == READY]
        if not live:
            raise NotFound(f"Model {name!r} has no version that is not archived.")
        return live[-1]
    return _version(store, name, version_number(version))


def _version(store: Store, name: str, number: int) -> ModelVersionDoc:
    found = store.get_model_version(name, number)
    if found is None:
        numbers = [v.version for v in store.list_model_versions(name)]
        raise missing_version(name, number, numbers)
    return found


def resolve(store: Store, uri: object, folders: bool = True) -> ModelRef:
    """What ``uri`` refers to (see the module docstring); ``InvalidInput`` for anything else."""
    if not isinstance(uri, str):
        raise InvalidInput(f"A model URI must be a string, not {type(uri).__name__}.")
    if uri.startswith(RUNS):
        run_id, path = parse_runs_uri(uri)
        return ModelRef(uri, run_id=run_id, path=path)
    if uri.startswith(MODELS):
        found = resolve_version(store, uri)
        run_id, path = parse_runs_uri(found.source)
        return ModelRef(
            uri, run_id, path, found.name, found.version, found.sha256, registered=found
        )
    folder = uri[len("file://") :] if uri.startswith("file://") else uri
    if folders and os.path.isdir(folder):
        return ModelRef(uri, folder=folder)
    raise InvalidInput(f"Unsupported model URI {uri!r}: use {FORMS}.")
