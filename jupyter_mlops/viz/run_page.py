"""The run page: one run whole, as MLflow's and W&B's run pages show it.

:func:`run_page` gathers, with one read of the store, what the page shows: attributes, params,
metric summaries and histories, tags, the cell's code, the git commit and diff, the environment,
datasets, artifacts (with a preview of images, text, tables and models), and the parent and
child runs. The sidebar's run tab (``GET runs/<id>/page``) and ``%mlops_run`` both call it, so
the two show the same thing. Plain Python: no IPython, no ipywidgets, no tornado.

Sections other features add (sweeps, TensorBoard, fit diagnosis...) register a function with
:func:`register_section`; its result lands in ``page["sections"][name]`` and the front ends show
it after the built-in sections (the notebook page as a key/value table, the sidebar's run tab
through its own section registry).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["MAX_HISTORY_POINTS", "register_section", "run_page", "text_preview"]

MAX_HISTORY_POINTS = 1000  # per metric: more points than a chart has pixels
MAX_CHILDREN = 500
TEXT_PREVIEW_BYTES = 4000
CODE_BYTES = 200_000
TABLE_PREVIEW_ROWS = 8
CODE_ARTIFACTS = ("code/cell.py", "code/session_history.ipynb")
DIFF_ARTIFACT = "git/diff.patch"
REQUIREMENTS_ARTIFACT = "environment/requirements.txt"
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".svg": "image/svg+xml", ".webp": "image/webp"}  # fmt: skip
TEXT_TYPES = (".txt", ".py", ".json", ".yaml", ".yml", ".md", ".log", ".patch", ".diff", ".cfg",
              ".toml", ".ini", ".ipynb", ".xml", ".sh", ".sql", "MLmodel")  # fmt: skip
TABLE_TYPES = (".csv", ".tsv")
MODEL_FILES = ("model.pkl", "model.joblib", "model.pt", "model.pt2", "MLmodel")

SectionFn = Callable[[dict[str, Any]], Any]
_SECTIONS: dict[str, SectionFn] = {}


def register_section(name: str, build: SectionFn) -> None:
    """Add a section to every run page.

    Parameters
    ----------
    name : str
        The section's key in ``page["sections"]`` and its heading.
    build : callable
        ``build(run_doc) -> JSON-able value`` (``None``: the section is left out). An exception
        leaves the section out too, with its message in ``page["section_errors"]``.
    """
    _SECTIONS[name] = build


def run_page(run_id: str, store: Any = None) -> dict[str, Any]:
    """Everything the run page shows, as JSON-able data.

    Parameters
    ----------
    run_id : str
        A full run id.
    store : Store, optional
        Default: the current store.

    Returns
    -------
    dict
        ``run`` (attributes, params, metric summaries, tags), ``histories`` (``{key: {"step":
        [...], "value": [...]}}``, at most :data:`MAX_HISTORY_POINTS` each), ``code``, ``git``,
        ``environment``, ``datasets``, ``artifacts`` (each with a ``preview``), ``parent``,
        ``children`` and ``sections``.

    Raises
    ------
    NotFound
        No run ``run_id``.
    """
    from jupyter_mlops.store import get_store

    store = store or get_store()
    doc = store.get_run(run_id)
    experiments = {e["experiment_id"]: e["name"] for e in store.list_experiments()}
    doc = {**doc, "experiment": experiments.get(doc["experiment_id"], "")}
    tags = dict(doc.get("tags") or {})
    artifacts = dict(doc.get("artifacts") or {})
    page = {
        "run": _run_summary(doc, tags),
        "histories": _histories(store, run_id, doc),
        "code": _code(store, run_id, artifacts),
        "git": _git(store, run_id, tags, artifacts),
        "environment": _environment(store, run_id, tags, artifacts),
        "datasets": list(doc.get("datasets") or []),
        "artifacts": [_artifact(store, run_id, p, r) for p, r in sorted(artifacts.items())],
        "parent": _parent(store, doc, experiments),
        "children": _children(store, run_id, experiments),
    }
    page.update(_extra_sections(doc))
    return page


def _run_summary(doc: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    start, end = doc.get("start_time"), doc.get("end_time")
    return {
        "run_id": doc["run_id"],
        "run_name": doc.get("run_name", ""),
        "experiment": doc.get("experiment", ""),
        "experiment_id": doc["experiment_id"],
        "status": doc.get("status", "RUNNING"),
        "start_time": start,
        "end_time": end,
        "duration_s": (end - start) / 1000 if start is not None and end is not None else None,
        "parent_run_id": doc.get("parent_run_id"),
        "params": dict(doc.get("params") or {}),
        "metrics": dict(doc.get("metrics") or {}),
        "tags": tags,
        "uri": f"runs:/{doc['run_id']}",
    }


def _histories(store: Any, run_id: str, doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for key in sorted(doc.get("metrics") or {}):
        points = store.get_metric_history(run_id, key)
        steps = np.fromiter((p[2] for p in points), float, len(points))
        values = np.fromiter((p[1] for p in points), float, len(points))
        steps, values = _thin(steps, values)
        out[key] = {
            "step": [int(s) for s in steps],
            "value": [None if v != v or v in (np.inf, -np.inf) else float(v) for v in values],
        }
    return out


def _thin(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most :data:`MAX_HISTORY_POINTS` points, by step, keeping each bucket's extremes."""
    from jupyter_mlops.viz.charts import _downsample

    order = np.argsort(steps, kind="stable")
    steps, values = steps[order], values[order]
    return _downsample(steps, values, MAX_HISTORY_POINTS)


def _read(store: Any, run_id: str, path: str, limit: int) -> tuple[str, bool] | None:
    """The first ``limit`` bytes of an artifact as text, and whether it was cut."""
    try:
        local = store.artifact_file(run_id, path)
        with open(local, "rb") as fh:
            data = fh.read(limit + 1)
    except (OSError, LookupError, ValueError):
        return None
    return data[:limit].decode("utf-8", errors="replace"), len(data) > limit


def text_preview(store: Any, run_id: str, path: str, limit: int = TEXT_PREVIEW_BYTES) -> Any:
    """``{"text": ..., "truncated": bool}`` of an artifact, or ``None`` when it cannot be read."""
    read = _read(store, run_id, path, limit)
    return None if read is None else {"text": read[0], "truncated": read[1]}


def _code(store: Any, run_id: str, artifacts: dict[str, Any]) -> dict[str, Any] | None:
    for path in CODE_ARTIFACTS:
        if path in artifacts:
            read = _read(store, run_id, path, CODE_BYTES)
            if read is None:
                continue
            text, cut = read
            if path.endswith(".ipynb"):
                text = _notebook_code(text)
            return {"path": path, "text": text, "truncated": cut}
    return None


def _notebook_code(text: str) -> str:
    try:
        cells = json.loads(text).get("cells", [])
    except ValueError:
        return text
    sources = ["".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code"]
    return "\n\n".join(f"# [{i + 1}]\n{s}" for i, s in enumerate(sources))


def _git(store: Any, run_id: str, tags: dict[str, str], artifacts: dict[str, Any]) -> Any:
    prefix = "mlops.source.git."
    git = {k[len(prefix) :]: v for k, v in tags.items() if k.startswith(prefix)}
    if not git:
        return None
    if DIFF_ARTIFACT in artifacts:
        git["diff"] = text_preview(store, run_id, DIFF_ARTIFACT, CODE_BYTES)
    return git


def _environment(store: Any, run_id: str, tags: dict[str, str], artifacts: dict[str, Any]) -> Any:
    env = {
        "python": tags.get("mlops.python_version"),
        "platform": tags.get("mlops.platform"),
        "source": tags.get("mlops.source.name"),
        "user": tags.get("mlops.user") or tags.get("mlflow.user"),
    }
    env = {k: v for k, v in env.items() if v}
    if REQUIREMENTS_ARTIFACT in artifacts:
        env["requirements"] = text_preview(store, run_id, REQUIREMENTS_ARTIFACT, 20_000)
    return env or None


def _artifact(store: Any, run_id: str, path: str, record: dict[str, Any]) -> dict[str, Any]:
    name = os.path.basename(path)
    ext = os.path.splitext(name)[1].lower()
    preview: dict[str, Any] | None = None
    if ext in IMAGE_TYPES:
        preview = {"kind": "image", "mime": IMAGE_TYPES[ext]}
    elif ext in TABLE_TYPES:
        preview = _table_preview(store, run_id, path, "\t" if ext == ".tsv" else ",")
    elif name in MODEL_FILES or "/" in path and path.split("/")[0] == "model":
        preview = {"kind": "model", "model": path.split("/")[0]}
    elif ext in TEXT_TYPES or name in TEXT_TYPES:
        text = text_preview(store, run_id, path)
        preview = None if text is None else {"kind": "text", **text}
    return {"path": path, "size": record.get("size"), "sha256": record.get("sha256"),
            "preview": preview}  # fmt: skip


def _table_preview(store: Any, run_id: str, path: str, sep: str) -> dict[str, Any] | None:
    read = _read(store, run_id, path, TEXT_PREVIEW_BYTES * 4)
    if read is None:
        return None
    lines = read[0].splitlines()
    if read[1]:
        lines = lines[:-1]  # the last line may be cut
    rows = [line.split(sep) for line in lines[: TABLE_PREVIEW_ROWS + 1]]
    if not rows:
        return None
    return {"kind": "table", "columns": rows[0], "rows": rows[1:], "truncated": len(lines) > 9}


def _link(doc: dict[str, Any], experiments: dict[str, str]) -> dict[str, Any]:
    metrics = doc.get("metrics") or {}
    return {
        "run_id": doc["run_id"],
        "run_name": doc.get("run_name", ""),
        "experiment": experiments.get(doc["experiment_id"], ""),
        "status": doc.get("status", "RUNNING"),
        "start_time": doc.get("start_time"),
        "metrics": {k: m.get("last") for k, m in metrics.items()},
    }


def _parent(store: Any, doc: dict[str, Any], experiments: dict[str, str]) -> Any:
    parent = doc.get("parent_run_id")
    if not parent:
        return None
    try:
        return _link(store.get_run(parent), experiments)
    except LookupError:
        return {"run_id": parent, "run_name": "", "missing": True}


def _children(store: Any, run_id: str, experiments: dict[str, str]) -> list[dict[str, Any]]:
    kids = [r for r in store.list_runs(None) if r.get("parent_run_id") == run_id]
    kids.sort(key=lambda r: r.get("start_time") or 0)
    return [_link(r, experiments) for r in kids[:MAX_CHILDREN]]


def _extra_sections(doc: dict[str, Any]) -> dict[str, Any]:
    sections: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, build in list(_SECTIONS.items()):
        try:
            value = build(doc)
        except Exception as e:  # another feature's section must not break the page
            errors[name] = f"{type(e).__name__}: {e}"
            continue
        if value is not None:
            sections[name] = value
    return {"sections": sections, "section_errors": errors}


def _fit_section(doc: dict[str, Any]) -> Any:
    """Overfitting and underfitting flags (:mod:`jupyter_mlops.viz.fit_diagnosis`)."""
    from jupyter_mlops.viz.fit_diagnosis import fit_section

    return fit_section(doc)


register_section("Fit", _fit_section)
