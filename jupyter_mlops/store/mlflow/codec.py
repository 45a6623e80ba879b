"""How our documents are written as MLflow entities and read back (no calls to a server).

- a run: MLflow's run info, params, tags, metrics and inputs ↔ our run document
  (:func:`run_doc`), with MLflow's system tags for ours (:func:`system_tags`);
- a metric's summary (min, max, count, step, timestamp) in a ``mlops.summary.<key>`` tag;
- an artifact's sha256 and size in a ``mlops.artifact.<path>`` tag (:func:`artifact_tag`);
- a model version: MLflow's version ↔ :class:`~jupyter_mlops.entities.registry.ModelVersionDoc`,
  our fields MLflow has no place for in its ``mlops.doc`` tag (:func:`version_extra`);
- any other document: its JSON cut into ``mlops.doc.<n>`` tags of a run (:func:`split_doc`).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from jupyter_mlops.entities.registry import ModelVersionDoc, RegisteredModelDoc

TAG_CHUNK = 7_500  # MLflow keeps run tag values up to 8,000 characters
HIDDEN_TAG_PREFIXES = ("mlops.artifact.", "mlops.summary.", "mlops.pid", "mlops.proc_start")
SUMMARY_FIELDS = ("min", "max", "count", "step", "timestamp")
SYSTEM_TAGS = {  # our tag -> MLflow's system tag with the same meaning
    "mlops.source.name": "mlflow.source.name",
    "mlops.source.git.commit": "mlflow.source.git.commit",
    "mlops.source.git.branch": "mlflow.source.git.branch",
    "mlops.user": "mlflow.user",
}
_READABLE_KEY = re.compile(r"^[\w\-./ ]{1,200}$")
VERSION_OWN = ("name", "version", "run_id", "description", "tags")


# -- experiments and runs ------------------------------------------------------------------------
def experiment_doc(exp: Any) -> dict[str, Any]:
    """Our experiment document of an MLflow experiment."""
    return {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "creation_time": exp.creation_time or 0,
    }


def id_order(exp_id: str) -> tuple[int, int | str]:
    """Sort key: numeric ids in number order, others after them."""
    return (0, int(exp_id)) if exp_id.isdigit() else (1, exp_id)


def run_doc(run: Any, experiment: str) -> dict[str, Any]:
    """Our run document of an MLflow run (in the experiment called ``experiment``)."""
    info, data = run.info, run.data
    tags = data.tags
    inputs = getattr(run, "inputs", None)
    return {
        "run_id": info.run_id,
        "run_name": info.run_name or tags.get("mlflow.runName", ""),
        "experiment_id": info.experiment_id,
        "experiment": experiment,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "parent_run_id": tags.get("mlflow.parentRunId"),
        "params": dict(data.params),
        "metrics": metric_summaries(data.metrics, tags),
        "tags": {
            k: v
            for k, v in tags.items()
            if k not in ("mlflow.runName", "mlflow.parentRunId")
            and not k.startswith(HIDDEN_TAG_PREFIXES)
        },
        "datasets": [dataset_doc(d) for d in (inputs.dataset_inputs if inputs else [])],
        "artifacts": artifact_records(tags),
        "pid": to_int(tags.get("mlops.pid")),
        "host": tags.get("mlops.host"),
        "proc_start": to_int(tags.get("mlops.proc_start")),
    }


def metric_summaries(last: dict[str, float], tags: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each metric's last value (MLflow's) with the summary our ``mlops.summary.*`` tag keeps."""
    metrics: dict[str, dict[str, Any]] = {k: {"last": v} for k, v in last.items()}
    for key, metric in metrics.items():
        summary = tags.get(f"mlops.summary.{key}")
        if summary:
            try:
                metric.update(json.loads(summary))
            except (ValueError, TypeError):
                pass
    return metrics


def summary_tag(summary: dict[str, Any]) -> str:
    """The ``mlops.summary.<key>`` tag value of a metric's summary."""
    return json.dumps({f: summary.get(f) for f in SUMMARY_FIELDS})


def artifact_records(tags: dict[str, str]) -> dict[str, dict[str, Any]]:
    """``{path: {sha256, size}}`` from the ``mlops.artifact.*`` tags."""
    artifacts = {}
    for key, value in tags.items():
        if key.startswith("mlops.artifact."):
            try:
                record = json.loads(value)
                artifacts[record["path"]] = {"sha256": record["sha256"], "size": record["size"]}
            except (ValueError, KeyError, TypeError):
                continue
    return artifacts


def system_tags(run: dict[str, Any]) -> dict[str, str]:
    """MLflow's system tags for what our tags say, so runs read naturally in MLflow's UI."""
    tags = run.get("tags", {})
    out = {mlflow_key: tags[ours] for ours, mlflow_key in SYSTEM_TAGS.items() if ours in tags}
    source = tags.get("mlops.source.name")
    if tags.get("mlops.source.type"):
        out["mlflow.source.type"] = tags["mlops.source.type"]
    elif source:
        out["mlflow.source.type"] = "NOTEBOOK" if source.endswith(".ipynb") else "LOCAL"
    if run.get("run_name"):
        out["mlflow.runName"] = str(run["run_name"])
    parent = run.get("parent_run_id") or tags.get("mlops.parentRunId")
    if parent:
        out["mlflow.parentRunId"] = parent
    return out


def fit_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags cut to MLflow's 8,000-character limit (the cut is marked)."""
    return {k: v if len(v) <= 8000 else v[:7_980] + " …[truncated]" for k, v in tags.items()}


def artifact_tag(path: str) -> str:
    """The tag recording an artifact (its path, or a hash of a path MLflow cannot take)."""
    if _READABLE_KEY.match(path):
        return f"mlops.artifact.{path}"
    return f"mlops.artifact.{hashlib.sha256(path.encode()).hexdigest()[:32]}"


def dataset_doc(entry: Any) -> dict[str, Any]:
    """Our dataset record of an MLflow dataset input (the full record is in its profile)."""
    dataset = entry.dataset
    try:
        doc = json.loads(dataset.profile or "{}")
    except ValueError:
        doc = {}
    if not isinstance(doc, dict) or not doc:
        doc = {"name": dataset.name, "digest": dataset.digest}
    context = next((t.value for t in entry.tags if t.key == "mlflow.data.context"), None)
    doc.setdefault("context", context)
    return doc


# -- documents in tags ---------------------------------------------------------------------------
def split_doc(doc: dict[str, Any]) -> dict[str, str]:
    """A document's JSON as ``mlops.doc.<n>`` tags of at most ``TAG_CHUNK`` characters."""
    text = json.dumps(doc, separators=(",", ":"), default=str)
    parts = [text[i : i + TAG_CHUNK] for i in range(0, len(text), TAG_CHUNK)] or [""]
    return {f"mlops.doc.{i:04d}": part for i, part in enumerate(parts)}


def doc_keys(tags: dict[str, str]) -> frozenset[str]:
    """The tags holding a document."""
    return frozenset(k for k in tags if k.startswith("mlops.doc."))


def join_doc(tags: dict[str, str]) -> dict[str, Any] | None:
    """The document :func:`split_doc` wrote (``None`` when it does not read)."""
    keys = sorted(doc_keys(tags))
    try:
        doc = json.loads("".join(tags[k] for k in keys))
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


# -- the registry ---------------------------------------------------------------------------
def version_extra(version: ModelVersionDoc) -> str:
    """Our fields of a model version that MLflow has no place for, as its ``mlops.doc`` tag."""
    doc = version.to_doc()
    return json.dumps(
        {k: v for k, v in doc.items() if k not in VERSION_OWN}, sort_keys=True, default=str
    )


def version_doc(version: Any) -> ModelVersionDoc:
    """Our model version of an MLflow model version (defaults for one MLflow's client made)."""
    tags = dict(version.tags or {})
    try:
        extra = json.loads(tags.pop("mlops.doc", "{}"))
    except ValueError:
        extra = {}
    run_id = version.run_id or ""
    doc = {
        "source": f"runs:/{run_id}/model" if run_id else version.source,
        "artifact_path": "model",
        "sha256": "",
        "status": "READY",
        "flavor": "mlflow",
        "signature": None,
        "input_example": None,
        "creation_time": version.creation_timestamp or 0,
        "lineage": {"run_id": run_id},
        "validations": [],
        **(extra if isinstance(extra, dict) else {}),
    }
    doc.update(
        name=version.name,
        version=int(version.version),
        run_id=run_id,
        description=version.description or "",
        tags={k: v for k, v in tags.items() if not k.startswith("mlops.")},
    )
    return ModelVersionDoc.from_doc(doc)


def model_doc(model: Any) -> RegisteredModelDoc:
    """Our registered model of an MLflow registered model."""
    return RegisteredModelDoc(
        name=model.name,
        description=model.description or "",
        tags={k: v for k, v in (model.tags or {}).items() if not k.startswith("mlops.")},
        creation_time=model.creation_timestamp or 0,
        last_updated=model.last_updated_timestamp or model.creation_timestamp or 0,
    )


# -- values ------------------------------------------------------------------------------------
def json_double(value: float) -> float | str:
    """A double as protobuf's JSON mapping writes it: NaN and infinities as strings."""
    value = float(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def quote(value: str) -> str:
    """``value`` inside single quotes of MLflow's filter dialect."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def sha256_file(path: str) -> tuple[str, int]:
    """The sha256 and size of a file."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def to_int(value: Any) -> int | None:
    """``int(value)``, ``None`` when it is not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
