"""MLflow's model registry routes over the store's typed registry operations.

A version registered here is one of ours (``%mlops_models`` and the side bar list it): its
source is read back to the run and folder holding its files (``runs:/``, ``models:/m-...`` of a
logged model, ``mlflow-artifacts:/``), kept as ``runs:/<run_id>/<folder>``, with flavor
``mlflow`` (files an MLflow client wrote). Aliases set here move at once, as MLflow's do (the
promotion gate of ``%mlops_promote`` is ours; the move is recorded with the reason "set through
the MLflow API"). Stages are MLflow's deprecated scheme and are not kept: every version reads
``current_stage: "None"``.
"""

from __future__ import annotations

from typing import Any

from jupyter_mlops.entities.registry import ModelVersionDoc, RegisteredModelDoc
from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.mlflow_api import logged_models
from jupyter_mlops.mlflow_api.api import (
    ApiError,
    Request,
    as_key_values,
    key_values,
    page,
    route,
)
from jupyter_mlops.mlflow_api.artifacts import locate
from jupyter_mlops.mlflow_api.tracking import V2, get_run_doc, now_ms, store
from jupyter_mlops.registry.registry import lineage_of
from jupyter_mlops.store.formats import clean_artifact_path
from jupyter_mlops.tracking.models import read_descriptor

ALIAS_REASON = "set through the MLflow API"


# -- documents as MLflow's entities ---------------------------------------------------------
def version_json(version: ModelVersionDoc) -> dict[str, Any]:
    """MLflow's ``ModelVersion`` of one of our versions (with its aliases)."""
    aliases = [a.alias for a in store().list_aliases(version.name) if a.version == version.version]
    reply = {
        "name": version.name,
        "version": str(version.version),
        "creation_timestamp": version.creation_time,
        "last_updated_timestamp": version.creation_time,
        "current_stage": "Archived" if version.status == "ARCHIVED" else "None",
        "description": version.description,
        "source": version.lineage.get("mlflow_source") or version.source,
        "run_id": version.run_id,
        "status": "READY",
        "tags": as_key_values(version.tags),
        "aliases": aliases,
        "run_link": "",
    }
    if version.lineage.get("model_id"):
        reply["model_id"] = version.lineage["model_id"]
    return reply


def model_json(model: RegisteredModelDoc) -> dict[str, Any]:
    """MLflow's ``RegisteredModel`` of ours: latest version, aliases, tags."""
    versions = store().list_model_versions(model.name)
    aliases = store().list_aliases(model.name)
    latest = [v for v in versions if v.status != "ARCHIVED"][-1:]
    return {
        "name": model.name,
        "creation_timestamp": model.creation_time,
        "last_updated_timestamp": max(
            [model.last_updated or model.creation_time, *(v.creation_time for v in versions)]
        ),
        "description": model.description,
        "latest_versions": [version_json(v) for v in latest],
        "tags": as_key_values(model.tags),
        "aliases": [{"alias": a.alias, "version": str(a.version)} for a in aliases],
    }


def _model(name: str) -> RegisteredModelDoc:
    model = store().get_registered_model(name)
    if model is None:
        raise ApiError("RESOURCE_DOES_NOT_EXIST", f"Registered Model with name={name} not found")
    return model


def _version(request: Request) -> ModelVersionDoc:
    name = request.text("name")
    number = request.integer("version")
    if number is None:
        raise ApiError("INVALID_PARAMETER_VALUE", "Missing value for required parameter 'version'.")
    version = store().get_model_version(name, number)
    if version is None:
        raise ApiError(
            "RESOURCE_DOES_NOT_EXIST", f"Model Version (name={name}, version={number}) not found"
        )
    return version


# -- registered models -------------------------------------------------------------------------
@route("POST", f"{V2}/registered-models/create")
def create_registered_model(request: Request) -> dict[str, Any]:
    """``POST registered-models/create``; ``RESOURCE_ALREADY_EXISTS`` for a known name."""
    name = request.text("name", limit=500)
    now = now_ms()
    model = RegisteredModelDoc(
        name=name,
        description=request.text("description", required=False),
        tags=dict(key_values(request.get("tags"), "tags")),
        creation_time=now,
        last_updated=now,
    )
    if not store().create_registered_model(model):
        raise ApiError("RESOURCE_ALREADY_EXISTS", f"Registered Model (name={name}) already exists.")
    return {"registered_model": model_json(model)}


@route("GET", f"{V2}/registered-models/get")
def get_registered_model(request: Request) -> dict[str, Any]:
    """``GET registered-models/get?name=``."""
    return {"registered_model": model_json(_model(request.text("name")))}


@route("PATCH", f"{V2}/registered-models/update")
def update_registered_model(request: Request) -> dict[str, Any]:
    """``PATCH registered-models/update``: its description."""
    name = _model(request.text("name")).name
    description = request.get("description")
    if description is not None:
        store().update_registered_model(name, description=str(description))
    return {"registered_model": model_json(_model(name))}


@route("POST", f"{V2}/registered-models/set-tag")
def set_registered_model_tag(request: Request) -> dict[str, Any]:
    """``POST registered-models/set-tag``."""
    name = _model(request.text("name")).name
    key = request.text("key", limit=250)
    value = request.text("value", required=False, limit=100_000)
    store().update_registered_model(name, tags={key: value})
    return {}


@route("GET", f"{V2}/registered-models/search")
@route("POST", f"{V2}/registered-models/search")
def search_registered_models(request: Request) -> dict[str, Any]:
    """``registered-models/search``: by a name/tag filter, in name order."""
    from jupyter_mlops.mlflow_api.names import name_filter

    keep = name_filter(request.get("filter"), "registered models")
    found = [m for m in store().list_registered_models() if keep(m.name, m.tags)]
    return page(found, request, "registered_models", model_json, default=100, most=1000)


@route("POST", f"{V2}/registered-models/get-latest-versions")
@route("GET", f"{V2}/registered-models/get-latest-versions")
def latest_versions(request: Request) -> dict[str, Any]:
    """``registered-models/get-latest-versions``: the newest version not archived."""
    name = _model(request.text("name")).name
    versions = [v for v in store().list_model_versions(name) if v.status != "ARCHIVED"]
    return {"model_versions": [version_json(v) for v in versions[-1:]]}


# -- versions ----------------------------------------------------------------------------------
@route("POST", f"{V2}/model-versions/create")
def create_model_version(request: Request) -> dict[str, Any]:
    """``POST model-versions/create``: register a run's or a logged model's files."""
    name = request.text("name", limit=500)
    source = request.text("source")
    run_id, folder, model_id = _files_of(source, request.get("model_id"))
    claimed = request.get("run_id")
    if claimed and claimed != run_id:
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            f"The source {source!r} is a file of run {run_id}, not of run {claimed}.",
        )
    run = get_run_doc(run_id)
    lineage: dict[str, Any] = {**lineage_of(run, {}), "mlflow_source": source}
    if model_id:
        lineage["model_id"] = model_id
    mlmodel = run.get("artifacts", {}).get(f"{folder}/MLmodel") or {}
    version = store().create_model_version(
        ModelVersionDoc(
            name=name,
            run_id=run_id,
            source=f"runs:/{run_id}/{folder}",
            artifact_path=folder,
            sha256=mlmodel.get("sha256", ""),  # what loading checks the folder's MLmodel against
            flavor="mlflow",
            signature=read_descriptor(run_id, folder).get("signature") if mlmodel else None,
            description=request.text("description", required=False),
            tags=dict(key_values(request.get("tags"), "tags")),
            creation_time=now_ms(),
            lineage=lineage,
        )
    )
    return {"model_version": version_json(version)}


def _files_of(source: str, model_id: Any) -> tuple[str, str, str]:
    """``(run_id, folder, model_id)`` of a version's source: where its files are."""
    if source.startswith("models:/m-") or (model_id and source.startswith("models:/")):
        found = str(model_id or source[len("models:/") :].strip("/"))
        run_id, folder = logged_models.files_of(found)
        return run_id, folder, found
    if source.startswith("runs:/"):
        run_id, _, folder = source[len("runs:/") :].partition("/")
        get_run_doc(run_id)
        try:
            folder = clean_artifact_path(folder.strip("/") or "model")
        except InvalidInput as e:
            raise ApiError("INVALID_PARAMETER_VALUE", f"Cannot register {source!r}: {e}") from None
        return run_id, folder, str(model_id or "")
    if source.startswith("mlflow-artifacts:/"):
        run_id, folder = locate(source[len("mlflow-artifacts:/") :])
        return run_id, folder or "model", str(model_id or "")
    raise ApiError(
        "INVALID_PARAMETER_VALUE",
        f"Cannot register {source!r}: a version's source here is runs:/<run_id>/<path>, "
        "models:/<model_id> of a logged model, or an mlflow-artifacts:/ path of this server.",
    )


@route("GET", f"{V2}/model-versions/get")
def get_model_version(request: Request) -> dict[str, Any]:
    """``GET model-versions/get?name=&version=``."""
    return {"model_version": version_json(_version(request))}


@route("GET", f"{V2}/model-versions/get-download-uri")
def download_uri(request: Request) -> dict[str, Any]:
    """``GET model-versions/get-download-uri``: where the version's files are downloaded from."""
    version = _version(request)
    run = get_run_doc(version.run_id)
    return {
        "artifact_uri": f"mlflow-artifacts:/{run['experiment_id']}/{version.run_id}/artifacts/"
        f"{version.artifact_path}"
    }


@route("GET", f"{V2}/model-versions/search")
@route("POST", f"{V2}/model-versions/search")
def search_model_versions(request: Request) -> dict[str, Any]:
    """``model-versions/search``: by name, run_id, source or tags; newest first per model."""
    from jupyter_mlops.mlflow_api.names import document_filter

    keep = document_filter(
        request.get("filter"), "model versions", ("name", "run_id", "source", "version")
    )
    found = [
        v
        for v in store().list_model_versions()
        if keep(
            {
                "name": v.name,
                "run_id": v.run_id,
                "source": v.source,
                "version": str(v.version),
                "tags": v.tags,
            }
        )
    ]
    found.sort(key=lambda v: (v.name, -v.version))
    return page(found, request, "model_versions", version_json, default=10_000, most=200_000)


@route("PATCH", f"{V2}/model-versions/update")
def update_model_version(request: Request) -> dict[str, Any]:
    """``PATCH model-versions/update``: its description."""
    version = _version(request)
    description = request.get("description")
    if description is not None:
        store().update_model_version(version.name, version.version, description=str(description))
    return {"model_version": version_json(_version(request))}


@route("POST", f"{V2}/model-versions/set-tag")
def set_model_version_tag(request: Request) -> dict[str, Any]:
    """``POST model-versions/set-tag``."""
    version = _version(request)
    key = request.text("key", limit=250)
    value = request.text("value", required=False, limit=100_000)
    store().update_model_version(version.name, version.version, tags={key: value})
    return {}


# -- aliases -----------------------------------------------------------------------------------
@route("POST", f"{V2}/registered-models/alias")
def set_alias(request: Request) -> dict[str, Any]:
    """``POST registered-models/alias``: point an alias at a version (recorded in its history)."""
    version = _version(request)
    alias = _alias_name(request)
    store().set_alias(
        version.name, alias, version.version, time=now_ms(), user="mlflow", reason=ALIAS_REASON
    )
    return {}


@route("DELETE", f"{V2}/registered-models/alias")
def delete_alias(request: Request) -> dict[str, Any]:
    """``DELETE registered-models/alias``."""
    name = _model(request.text("name")).name
    store().delete_alias(
        name, _alias_name(request), time=now_ms(), user="mlflow", reason=ALIAS_REASON
    )
    return {}


@route("GET", f"{V2}/registered-models/alias")
def get_by_alias(request: Request) -> dict[str, Any]:
    """``GET registered-models/alias?name=&alias=``: the version an alias points at."""
    name = _model(request.text("name")).name
    alias = _alias_name(request)
    found = next((a for a in store().list_aliases(name) if a.alias == alias), None)
    if found is None:
        raise ApiError("RESOURCE_DOES_NOT_EXIST", f"Registered model alias {alias} not found.")
    version = store().get_model_version(name, found.version)
    if version is None:  # a damaged store: the alias points at no version
        raise ApiError("RESOURCE_DOES_NOT_EXIST", f"Alias {alias} points at no version of {name}.")
    return {"model_version": version_json(version)}


def _alias_name(request: Request) -> str:
    alias = request.text("alias", limit=255)
    if alias.lower() == "latest" or (alias[:1] in "vV" and alias[1:].isdigit()):
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            f"'{alias}' alias name (case insensitive) is reserved: MLflow reads it as a version.",
        )
    return alias
