"""Logging files with a run: artifacts, text, dicts and figures (content-addressed in the store)."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.store import get_store
from jupyter_mlops.tracking.fluent import active_or_start_run


def log_artifact(path: str, artifact_path: str | None = None) -> list[dict[str, Any]]:
    """Copy a file or a folder into the active run (under ``artifact_path`` if given).

    Returns the records (path, sha256, size) of what was stored.
    """
    local = os.path.abspath(os.path.expanduser(str(path)))
    if not os.path.exists(local):
        raise NotFound(f"Cannot log artifact {path!r}: no such file or folder.")
    prefix = f"{artifact_path.strip('/')}/" if artifact_path else ""
    if os.path.isfile(local):
        return [_put(local, prefix + os.path.basename(local))]
    records = []
    for folder, _, files in os.walk(local):
        for name in sorted(files):
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, local).replace(os.sep, "/")
            records.append(_put(full, prefix + rel))
    return records


def _put(source: str, path: str) -> dict[str, Any]:
    run = active_or_start_run()
    return get_store().put_artifact(run.id, path, source)


def log_bytes(data: bytes, artifact_file: str) -> dict[str, Any]:
    """Store ``data`` as ``artifact_file`` of the active run."""
    fd, tmp = tempfile.mkstemp(prefix="mlops-artifact-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return _put(tmp, artifact_file)
    finally:
        os.unlink(tmp)


def log_text(text: str, artifact_file: str) -> dict[str, Any]:
    """Store ``text`` (UTF-8) as ``artifact_file`` of the active run."""
    return log_bytes(str(text).encode("utf-8"), artifact_file)


def log_dict(dictionary: dict[str, Any], artifact_file: str) -> dict[str, Any]:
    """Store a dict as JSON (or YAML for ``.yaml``/``.yml`` names, when PyYAML is installed)."""
    if artifact_file.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise InvalidInput("Logging YAML needs PyYAML; use a .json name instead.") from None
        return log_text(yaml.safe_dump(dictionary, sort_keys=False), artifact_file)
    return log_text(json.dumps(dictionary, indent=2, default=str), artifact_file)


def log_figure(figure: Any, artifact_file: str) -> dict[str, Any]:
    """Store a matplotlib figure as an image (format from the file name, e.g. ``.png``)."""
    if not hasattr(figure, "savefig"):
        raise InvalidInput(f"log_figure needs a matplotlib Figure, not {type(figure).__name__}.")
    suffix = os.path.splitext(artifact_file)[1] or ".png"
    fd, tmp = tempfile.mkstemp(prefix="mlops-figure-", suffix=suffix)
    os.close(fd)
    try:
        figure.savefig(tmp, bbox_inches="tight")
        return _put(tmp, artifact_file)
    finally:
        os.unlink(tmp)
