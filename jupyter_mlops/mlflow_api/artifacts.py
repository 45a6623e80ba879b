"""MLflow's proxied artifact routes (``mlflow-artifacts:``) over the store's artifacts.

``mlflow-artifacts:/<exp>/<run_id>/artifacts/<path>`` is the run's artifact ``<path>`` and
``mlflow-artifacts:/<exp>/models/<model_id>/artifacts/<path>`` a logged model's file (kept with its
run, :mod:`.logged_models`). Uploads (``PUT``) go through :meth:`Store.put_artifact`, downloads
are read from the store's verified blobs (``Store.artifact_file`` checks the sha256), and no path
leaves the store: ``..``, absolute paths and back-slashed escapes are refused with a 400.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.mlflow_api import logged_models
from jupyter_mlops.mlflow_api.api import ApiError, Request, Response, route
from jupyter_mlops.mlflow_api.tracking import V2, get_run_doc, store
from jupyter_mlops.store.formats import clean_artifact_path

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
MAX_ARTIFACT_BYTES = 2 * 1024**3
"""The largest file one upload takes (the body is held in memory while it is stored)."""


def locate(path: str) -> tuple[str, str]:
    """``(run_id, path inside the run)`` of a path below ``mlflow-artifacts:/`` (may be ``""``)."""
    try:
        parts = clean_artifact_path(path).split("/")
    except InvalidInput as e:
        raise ApiError("INVALID_PARAMETER_VALUE", str(e)) from None
    if len(parts) >= 3 and parts[2] == "artifacts":
        run = get_run_doc(parts[1])
        if run["experiment_id"] != parts[0]:
            raise ApiError(
                "RESOURCE_DOES_NOT_EXIST", f"Run {parts[1]} is not in experiment {parts[0]}."
            )
        return parts[1], "/".join(parts[3:])
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        run_id, folder = logged_models.files_of(parts[2])
        return run_id, "/".join([folder, *parts[4:]])
    raise ApiError(
        "INVALID_PARAMETER_VALUE",
        f"Artifact path {path!r} is neither <experiment>/<run_id>/artifacts/... nor "
        "<experiment>/models/<model_id>/artifacts/...",
    )


@route("GET", ARTIFACTS)
def list_artifacts(request: Request) -> dict[str, Any]:
    """``GET mlflow-artifacts/artifacts?path=``: the files and folders below a path."""
    path = request.get("path") or ""
    if not path:
        return {"files": []}
    run_id, inside = locate(str(path))
    return {"files": listing(run_id, inside)}


def listing(run_id: str, inside: str) -> list[dict[str, Any]]:
    """The files and folders right below ``inside`` (a file lists as itself)."""
    records = get_run_doc(run_id).get("artifacts") or {}
    if inside in records:
        name = inside.rsplit("/", 1)[-1]
        return [{"path": name, "is_dir": False, "file_size": records[inside]["size"]}]
    prefix = f"{inside}/" if inside else ""
    files: dict[str, dict[str, Any]] = {}
    for key, record in records.items():
        if not key.startswith(prefix):
            continue
        head, _, rest = key[len(prefix) :].partition("/")
        if rest:
            files.setdefault(head, {"path": head, "is_dir": True})
        else:
            files[head] = {"path": head, "is_dir": False, "file_size": record["size"]}
    return [files[k] for k in sorted(files)]


@route("GET", f"{ARTIFACTS}/{{path+}}")
def download(request: Request) -> Response:
    """``GET mlflow-artifacts/artifacts/<path>``: a file's bytes, checked against its sha256."""
    run_id, inside = locate(request.params["path"])
    try:
        local = store().artifact_file(run_id, inside)
    except InvalidInput as e:
        raise ApiError("INVALID_PARAMETER_VALUE", str(e)) from None
    return Response(file=local, content_type="application/octet-stream")


@route("PUT", f"{ARTIFACTS}/{{path+}}")
def upload(request: Request) -> dict[str, Any]:
    """``PUT mlflow-artifacts/artifacts/<path>``: store the body as the run's artifact."""
    run_id, inside = locate(request.params["path"])
    if not inside:
        raise ApiError(
            "INVALID_PARAMETER_VALUE", "Upload to a file path, not to the run's artifact root."
        )
    size = len(request.body) if request.body_file is None else os.path.getsize(request.body_file)
    if size > MAX_ARTIFACT_BYTES:
        raise ApiError(
            "REQUEST_LIMIT_EXCEEDED",
            f"An artifact upload takes at most {MAX_ARTIFACT_BYTES:,} bytes.",
        )
    if request.body_file is not None:  # streamed to disk by the server, which removes it
        store().put_artifact(run_id, inside, request.body_file)
        return {}
    handle, temp = tempfile.mkstemp(prefix="mlops-upload-")
    try:
        with os.fdopen(handle, "wb") as fh:
            fh.write(request.body)
        store().put_artifact(run_id, inside, temp)
    finally:
        os.unlink(temp)
    return {}


@route("GET", f"{V2}/artifacts/list")
def list_run_artifacts(request: Request) -> dict[str, Any]:
    """MLflow's older listing by run: ``run_id`` and ``path`` inside it."""
    run_id = request.text("run_id", required=False) or request.text("run_uuid")
    inside = request.get("path") or ""
    if inside:
        try:
            inside = clean_artifact_path(str(inside))
        except InvalidInput as e:
            raise ApiError("INVALID_PARAMETER_VALUE", str(e)) from None
    run = get_run_doc(run_id)
    files = [
        {**f, "path": f"{inside}/{f['path']}" if inside else f["path"]}
        for f in listing(run_id, inside)
    ]
    root = f"mlflow-artifacts:/{run['experiment_id']}/{run_id}/artifacts"
    return {"root_uri": root, "files": files}
