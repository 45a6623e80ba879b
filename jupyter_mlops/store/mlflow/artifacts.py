"""Artifacts: MLflow's run artifacts, each one's sha256 in a tag, verified and cached by hash."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from typing import Any

from jupyter_mlops.errors import IntegrityError, NotFound
from jupyter_mlops.store.formats import clean_artifact_path
from jupyter_mlops.store.mlflow.codec import artifact_tag, sha256_file
from jupyter_mlops.store.mlflow.metrics import Metrics


class Artifacts(Metrics):
    """Run artifacts through MLflow's artifact API (the server's proxy), hash-checked."""

    @property
    def _cache(self) -> str:
        """Downloaded artifacts by sha256 (``JUPYTER_MLOPS_CACHE``, else ~/.cache/jupyter-mlops)."""
        root = os.environ.get("JUPYTER_MLOPS_CACHE") or os.path.expanduser("~/.cache/jupyter-mlops")
        return os.path.join(root, "blobs")

    # -- artifacts ------------------------------------------------------------------------------
    def put_artifact(self, run_id: str, path: str, source: str) -> dict[str, Any]:
        path = clean_artifact_path(path)
        sha, size = sha256_file(source)
        folder, name = os.path.split(path)
        with tempfile.TemporaryDirectory(prefix="mlops-upload-") as tmp:
            staged = os.path.join(tmp, name)
            shutil.copyfile(source, staged)
            self._call(
                "upload artifact",
                self.client.log_artifact,
                run_id,
                staged,
                artifact_path=folder or None,
            )
        record = json.dumps({"path": path, "sha256": sha, "size": size})
        self._call("record artifact", self.client.set_tag, run_id, artifact_tag(path), record)
        self._keep(source, sha)
        return {"path": path, "sha256": sha, "size": size}

    def artifact_file(self, run_id: str, path: str) -> str:
        path = clean_artifact_path(path)
        record = self.get_run(run_id).get("artifacts", {}).get(path)
        if record is None:
            raise NotFound(
                f"Run {run_id} has no artifact {path!r} recorded by jupyter_mlops "
                "(files logged by MLflow's own client carry no sha256 to check them against)."
            )
        cached = os.path.join(self._cache, record["sha256"])
        if os.path.exists(cached) and sha256_file(cached)[0] == record["sha256"]:
            return cached
        with tempfile.TemporaryDirectory(prefix="mlops-download-") as tmp:
            local = self._call(
                "download artifact", self.client.download_artifacts, run_id, path, tmp
            )
            sha, _ = sha256_file(local)
            if sha != record["sha256"]:
                raise IntegrityError(
                    f"Artifact {path!r} of run {run_id} does not match its recorded sha256 "
                    f"({sha[:12]}… instead of {record['sha256'][:12]}…): it was changed on the "
                    "server. Nothing was loaded; log the artifact again."
                )
            return self._keep(local, sha)

    def _keep(self, source: str, sha: str) -> str:
        """Copy a verified file into the local content-addressed cache; its path there."""
        os.makedirs(self._cache, exist_ok=True)
        target = os.path.join(self._cache, sha)
        if not os.path.exists(target):
            tmp = f"{target}.{uuid.uuid4().hex}.tmp"
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        return target
