"""The MLflow backend: an MLflow tracking server (or any MLflow tracking URI) as the store.

``JUPYTER_MLOPS_STORE=mlflow+http://host:5000`` (or ``mlflow+https://...``, ``mlflow+sqlite:///...``,
``mlflow+databricks`` — anything MLflow's client accepts after the ``mlflow+``) makes every part of
jupyter_mlops use that server through MLflow's own client, imported only here. Everything lands
where MLflow users look for it:

==========================  ==================================================================
jupyter_mlops               MLflow
==========================  ==================================================================
experiment, run             experiment, run (status, start and end time, name)
params, tags                params, tags; plus the system tags ``mlflow.runName``,
                            ``mlflow.source.name`` (the notebook), ``mlflow.source.type``
                            (``NOTEBOOK``), ``mlflow.source.git.commit``, ``mlflow.parentRunId``,
                            ``mlflow.user``
metric points               metrics with steps, sent with ``log_batch`` (≤ 1,000 per call) by
                            the tracking buffer's thread
datasets                    run inputs (name, digest, context; our full record in the profile)
artifacts                   run artifacts; each one's sha256 and size in a ``mlops.artifact.*``
                            tag, checked before a downloaded file is used
registered models,          the model registry (models, versions, aliases); our extra fields
versions, aliases           (sha256, flavor, signature, lineage, validations, status) in the
                            version's ``mlops.doc`` tag
everything else             documents (alias history, deployments, drift reports, monitor
                            windows) and record streams (prediction logs, labels) as runs of
                            the experiment ``_jupyter_mlops``: a document's JSON in
                            ``mlops.doc.<n>`` tags, a stream's records in artifact chunks
==========================  ==================================================================

So a second machine pointed at the same server sees everything, runs and models made with MLflow's
own client show up in our panels, and ``mlflow.pyfunc.load_model("models:/NAME@ALIAS")`` loads
the models we register (``log_model`` writes an ``MLmodel`` file beside ours).

Guarantees differ from the embedded store where MLflow has no equivalent: a :meth:`transact`
callback runs on a snapshot and its writes are sent in order once it returns (nothing is written
when it raises), serialized within the process, but not atomic against other machines; metric
summaries hold the last value only (MLflow keeps no min/max/count).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from jupyter_mlops.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    NotFound,
    PartialWrite,
    StoreError,
)
from jupyter_mlops.store.base import MetricPoint, Store, StoreView, iter_batches, param_conflict
from jupyter_mlops.store.embedded import (
    check_stream,
    clean_artifact_path,
    process_alive,
    summarize,
)

PREFIX = "mlflow+"
INTERNAL_EXPERIMENT = "_jupyter_mlops"
"""Where documents and record streams live; hidden from every list of experiments."""

REGISTRY_TABLES = ("registered_models", "model_versions", "aliases")
TAG_CHUNK = 7_500  # MLflow keeps run tag values up to 8,000 characters
PARAMS_TAGS_PER_BATCH = 100
METRICS_PER_BATCH = 1_000
SENDERS = 4  # log_batch calls in flight at once (an MLflow server runs 4 workers by default)
PAGE = 50_000  # the most runs MLflow returns per search page
MAX_CHUNKS = 64  # a record stream is compacted into one artifact beyond this many
HIDDEN_TAG_PREFIXES = ("mlops.artifact.", "mlops.summary.", "mlops.pid", "mlops.proc_start")
_SYSTEM_TAGS = {  # our tag -> MLflow's system tag with the same meaning
    "mlops.source.name": "mlflow.source.name",
    "mlops.source.git.commit": "mlflow.source.git.commit",
    "mlops.source.git.branch": "mlflow.source.git.branch",
    "mlops.user": "mlflow.user",
}
_UNREACHABLE = re.compile(
    r"connection refused|max retries exceeded|failed to establish|timed out|name or service",
    re.IGNORECASE,
)
_READABLE_KEY = re.compile(r"^[\w\-./ ]{1,200}$")
# MLflow's own client retries a dead server for minutes; ours gives up sooner and retries later.
_CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise InvalidInput(
            "The mlflow+ store needs MLflow's client: pip install mlflow-skinny (the [mlflow] "
            "extra of jupyter_mlops), or unset JUPYTER_MLOPS_STORE to use the embedded store."
        ) from None
    return mlflow


class MlflowStore(Store):
    """A :class:`Store` on an MLflow tracking server, through ``mlflow.MlflowClient``."""

    remote = True
    metric_batch = 50_000  # the buffer's share per call; this store batches and sends it

    def __init__(self, uri: str) -> None:
        if not uri.startswith(PREFIX) or not uri[len(PREFIX) :]:
            raise InvalidInput(
                f"An MLflow store URI looks like mlflow+http://host:5000, not {uri!r}."
            )
        for key, value in _CLIENT_ENV.items():
            os.environ.setdefault(key, value)
        mlflow = _mlflow()
        self.uri = uri
        self.tracking_uri = uri[len(PREFIX) :]
        self.client = mlflow.MlflowClient(
            tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
        )
        self._lock = threading.RLock()  # transactions, internal-run creation
        self._experiments: dict[str, str] = {}  # id -> name
        self._internal_id: str | None = None
        self._summaries: dict[str, dict[str, Any]] = {}  # run id -> metric summaries
        self._stale_summaries: dict[str, set[str]] = {}  # run id -> keys whose tags are behind
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._streams: dict[str, str] = {}  # record stream -> the run holding its chunks
        self._host = _hostname()

    @property
    def _cache(self) -> str:
        """Downloaded artifacts by sha256 (``JUPYTER_MLOPS_CACHE``, else ~/.cache/jupyter-mlops)."""
        root = os.environ.get("JUPYTER_MLOPS_CACHE") or os.path.expanduser("~/.cache/jupyter-mlops")
        return os.path.join(root, "blobs")

    def __repr__(self) -> str:
        return f"MlflowStore({self.uri!r})"

    # -- calls ----------------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` with MLflow's errors turned into ours."""
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except MlflowException as e:
            code = getattr(e, "error_code", "")
            message = str(getattr(e, "message", e)).splitlines()[0][:500]
            if code == "RESOURCE_DOES_NOT_EXIST":
                raise NotFound(f"{what}: {message}") from None
            if code == "RESOURCE_ALREADY_EXISTS":
                raise Conflict(f"{what}: {message}") from None
            if code == "INVALID_PARAMETER_VALUE":
                raise InvalidInput(f"{what}: {message}") from None
            unreachable = _UNREACHABLE.search(message)
            if unreachable:
                raise self._unreachable(what, unreachable.group(0)) from None
            raise StoreError(
                f"{what} failed on the MLflow server {self.tracking_uri}: {message}"
            ) from None
        except OSError as e:  # connection refused, timeouts (requests' errors are OSErrors)
            raise self._unreachable(what, e.__class__.__name__) from None

    def _unreachable(self, what: str, why: str) -> StoreError:
        return StoreError(
            f"{what}: cannot reach the MLflow server {self.tracking_uri} ({why.lower()}). "
            "Is it running? Start it with `mlflow server`, or unset JUPYTER_MLOPS_STORE to "
            "work on the embedded store (and `jupyter mlops sync` later)."
        )

    # -- experiments ----------------------------------------------------------------------------
    def get_or_create_experiment(self, name: str) -> dict[str, Any]:
        if name == INTERNAL_EXPERIMENT:
            raise InvalidInput(f"The experiment name {name!r} is reserved by jupyter_mlops.")
        exp = self._call("get experiment", self.client.get_experiment_by_name, name)
        if exp is None or exp.lifecycle_stage != "active":
            try:
                exp_id = self._call("create experiment", self.client.create_experiment, name)
            except Conflict:  # another process created it meanwhile (or it is deleted)
                exp = self._call("get experiment", self.client.get_experiment_by_name, name)
                if exp is None:
                    raise
                exp_id = exp.experiment_id
            exp = self._call("get experiment", self.client.get_experiment, exp_id)
        self._experiments[exp.experiment_id] = exp.name
        return _experiment_doc(exp)

    def find_experiment(self, name: str) -> dict[str, Any] | None:
        if name == INTERNAL_EXPERIMENT:
            return None
        exp = self._call("get experiment", self.client.get_experiment_by_name, name)
        if exp is None or exp.lifecycle_stage != "active":
            return None
        self._experiments[exp.experiment_id] = exp.name
        return _experiment_doc(exp)

    def _experiment_list(self) -> list[Any]:
        from mlflow.entities import ViewType

        found = self._paged(
            lambda token: self.client.search_experiments(
                view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token
            ),
            "list experiments",
        )
        self._experiments.update({e.experiment_id: e.name for e in found})
        return [e for e in found if e.name != INTERNAL_EXPERIMENT]

    def list_experiments(self) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for run in self.list_runs():
            counts[run["experiment_id"]] = counts.get(run["experiment_id"], 0) + 1
        docs = [_experiment_doc(e) for e in self._experiment_list()]
        return [
            {**d, "run_count": counts.get(d["experiment_id"], 0)}
            for d in sorted(docs, key=lambda d: _id_order(d["experiment_id"]))
        ]

    def _experiment_name(self, exp_id: str) -> str:
        if exp_id not in self._experiments:
            exp = self._call("get experiment", self.client.get_experiment, exp_id)
            self._experiments[exp_id] = exp.name
        return self._experiments[exp_id]

    # -- runs -----------------------------------------------------------------------------------
    def create_run(self, run: dict[str, Any]) -> dict[str, Any]:
        tags = {**run.get("tags", {}), **_system_tags(run)}
        for key in ("pid", "proc_start", "host"):
            if run.get(key) is not None:
                tags[f"mlops.{key}"] = str(run[key])
        created = self._call(
            "create run",
            self.client.create_run,
            run["experiment_id"],
            start_time=run.get("start_time"),
            tags=_fit_tags(tags),
            run_name=run.get("run_name"),
        )
        run_id = created.info.run_id
        if run.get("params"):
            self.log_params(run_id, run["params"])
        if run.get("status", "RUNNING") != "RUNNING":
            self.update_run(run_id, status=run["status"], end_time=run.get("end_time"))
        return {**run, "run_id": run_id}

    def get_run(self, run_id: str) -> dict[str, Any]:
        try:
            run = self._call("get run", self.client.get_run, run_id)
        except (NotFound, InvalidInput):
            raise NotFound(
                f"No run with id {run_id!r} on the MLflow server {self.tracking_uri}. "
                "List runs with %mlops_runs or `jupyter mlops runs`."
            ) from None
        return self._effective(self._run_doc(run))

    def list_runs(
        self, experiment_ids: Iterable[str] | None = None, hint: str | None = None
    ) -> list[dict[str, Any]]:
        from mlflow.entities import ViewType

        if experiment_ids is None:
            ids = [e.experiment_id for e in self._experiment_list()]
        else:
            ids = list(experiment_ids)
        if not ids:
            return []

        def search(flt: str) -> list[Any]:
            return self._paged(
                lambda token: self.client.search_runs(
                    ids, flt, ViewType.ACTIVE_ONLY, max_results=PAGE, page_token=token
                ),
                "search runs",
            )

        try:
            found = search(hint or "")
        except InvalidInput:  # a server that reads the hint otherwise: fetch every run
            found = search("")
        return [self._effective(self._run_doc(r)) for r in found]

    def _run_doc(self, run: Any) -> dict[str, Any]:
        info, data = run.info, run.data
        tags = data.tags
        metrics = {
            m.key: {"last": m.value, "step": m.step, "timestamp": m.timestamp}
            for m in getattr(data, "_metric_objs", [])
        } or {k: {"last": v} for k, v in data.metrics.items()}
        for key, metric in metrics.items():
            summary = tags.get(f"mlops.summary.{key}")
            if summary:
                try:
                    metric.update(json.loads(summary))
                except (ValueError, TypeError):
                    pass
        artifacts = {}
        for key, value in tags.items():
            if key.startswith("mlops.artifact."):
                try:
                    record = json.loads(value)
                    artifacts[record["path"]] = {"sha256": record["sha256"], "size": record["size"]}
                except (ValueError, KeyError, TypeError):
                    continue
        inputs = getattr(run, "inputs", None)
        return {
            "run_id": info.run_id,
            "run_name": info.run_name or tags.get("mlflow.runName", ""),
            "experiment_id": info.experiment_id,
            "experiment": self._experiment_name(info.experiment_id),
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "parent_run_id": tags.get("mlflow.parentRunId"),
            "params": dict(data.params),
            "metrics": metrics,
            "tags": {
                k: v
                for k, v in tags.items()
                if k not in ("mlflow.runName", "mlflow.parentRunId")
                and not k.startswith(HIDDEN_TAG_PREFIXES)
            },
            "datasets": [_dataset_doc(d) for d in (inputs.dataset_inputs if inputs else [])],
            "artifacts": artifacts,
            "pid": _int(tags.get("mlops.pid")),
            "host": tags.get("mlops.host"),
            "proc_start": _int(tags.get("mlops.proc_start")),
        }

    def _effective(self, run: dict[str, Any]) -> dict[str, Any]:
        """RUNNING with a dead process on this host is shown KILLED, as on the embedded store."""
        if run["status"] != "RUNNING" or run.get("host") != self._host or run.get("pid") is None:
            return run
        if process_alive(run["pid"], run.get("proc_start")):
            return run
        return {**run, "status": "KILLED"}

    def update_run(self, run_id: str, **fields: Any) -> None:
        status, end_time, name = (
            fields.get("status"),
            fields.get("end_time"),
            fields.get("run_name"),
        )
        if status is not None and status != "RUNNING":
            self._call(
                "end run", self.client.set_terminated, run_id, status=status, end_time=end_time
            )
        elif status is not None:
            self._call("update run", self.client.update_run, run_id, status=status)
        if name is not None:
            self._call("rename run", self.client.update_run, run_id, name=str(name))
            self.set_tags(run_id, {"mlflow.runName": str(name)})
        owner = {f"mlops.{k}": str(fields[k]) for k in ("pid", "proc_start", "host") if k in fields}
        if owner:  # a resumed run's new process (start_run(run_id=...))
            self.set_tags(run_id, owner)

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        run = self.get_run(run_id)
        old = run.get("params", {})
        for key, value in params.items():
            if key in old and old[key] != value:
                raise param_conflict(run, key, old[key], value)
        new = [Param(k, v) for k, v in params.items() if k not in old]
        for batch in iter_batches(new, PARAMS_TAGS_PER_BATCH):
            self._call("log params", self.client.log_batch, run_id, params=batch)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        mirrored = {**tags, **_system_tags({"tags": tags})}
        entries = [RunTag(k, v) for k, v in _fit_tags(mirrored).items()]
        for batch in iter_batches(entries, PARAMS_TAGS_PER_BATCH):
            self._call("set tags", self.client.log_batch, run_id, tags=batch)

    # -- metrics --------------------------------------------------------------------------------
    def log_metric_points(self, run_id: str, points: list[MetricPoint]) -> None:
        """Points in ``log_batch`` calls of 1,000, a few in flight at once, then the summaries.

        An MLflow server spends most of a batch's time storing it and runs several workers, so
        ``SENDERS`` concurrent batches move a backlog about twice as fast as one after another.
        MLflow keeps only each metric's latest value; the summaries the embedded store keeps
        (min, max, count) follow as ``mlops.summary.<key>`` tags, from this process' copy (the
        buffer is the only writer of a run's metrics, so one read per run suffices). MLflow
        applies each call whole, so when some batches fail only their points are handed back
        (:class:`PartialWrite`) and retrying never duplicates a point.
        """
        from mlflow.entities import RunTag

        if not points:
            return
        known = self._summaries.get(run_id)
        if known is None:  # runs logged by other clients may have a last value only
            metrics = self.get_run(run_id)["metrics"]
            known = {k: {"count": 0, "min": None, "max": None, **m} for k, m in metrics.items()}
            self._summaries[run_id] = known
        batches = list(iter_batches(points, METRICS_PER_BATCH))

        def send(batch: list[MetricPoint]) -> None:
            self._call("log metrics", self._post_metrics, run_id, batch)

        unsent: list[MetricPoint] = []
        error: Exception | None = None
        try:
            outcomes = list(self._senders().map(_attempt(send), batches))
        except RuntimeError:  # interpreter exit: no new threads, send one after another
            outcomes = [_attempt(send)(batch) for batch in batches]
        for batch, outcome in zip(batches, outcomes, strict=True):
            if outcome is None:
                known.update(summarize(known, batch))
                self._stale_summaries.setdefault(run_id, set()).update(k for k, *_ in batch)
            else:
                unsent.extend(batch)
                error = outcome
        stale = self._stale_summaries.pop(run_id, set())
        tags = [
            RunTag(
                f"mlops.summary.{k}", json.dumps({f: known[k][f] for f in ("min", "max", "count")})
            )
            for k in sorted(stale)
            if len(k) <= 230
        ]
        try:
            for tag_batch in iter_batches(tags, PARAMS_TAGS_PER_BATCH):
                self._call("log metrics", self.client.log_batch, run_id, tags=tag_batch)
        except Exception:
            self._stale_summaries.setdefault(run_id, set()).update(stale)  # sent next time
            raise
        if error is not None:
            raise PartialWrite(str(error), unsent) from error

    def _post_metrics(self, run_id: str, batch: list[MetricPoint]) -> None:
        """One ``runs/log-batch`` request, its JSON built directly.

        MLflow's client builds an entity, a protobuf message and then JSON for every point;
        this thread shares the GIL with the user's training loop (and, on a small machine, the
        CPU with the server), so the body is made with ``json.dumps`` instead: same REST call,
        same authentication and retries (MLflow's ``http_request``). Stores that are not
        behind MLflow's REST API (``mlflow+sqlite:...``) go through the client.
        """
        get_host_creds = getattr(self._rest_store(), "get_host_creds", None)
        if get_host_creds is None:
            from mlflow.entities import Metric

            metrics = [Metric(k, float(v), int(t), int(s)) for k, v, s, t in batch]
            self.client.log_batch(run_id, metrics=metrics)
            return
        from mlflow.utils.rest_utils import http_request, verify_rest_response

        body = json.dumps(
            {
                "run_id": run_id,
                "metrics": [
                    {"key": k, "value": _json_double(v), "timestamp": int(t), "step": int(s)}
                    for k, v, s, t in batch
                ],
            }
        )
        endpoint = "/api/2.0/mlflow/runs/log-batch"
        response = http_request(
            get_host_creds(),
            endpoint,
            "POST",
            data=body,
            extra_headers={"Content-Type": "application/json"},
        )
        verify_rest_response(response, endpoint)

    def _rest_store(self) -> Any:
        return self.client._tracking_client.store  # the REST store MLflow's client talks through

    def _senders(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                SENDERS, thread_name_prefix="jupyter-mlops-mlflow"
            )
        return self._pool

    def get_metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        self.get_run(run_id)
        history = self._call("metric history", self.client.get_metric_history, run_id, key)
        return [(m.key, m.value, m.step, m.timestamp) for m in history]

    # -- datasets -------------------------------------------------------------------------------
    def add_dataset(self, run_id: str, dataset: dict[str, Any]) -> None:
        from mlflow.entities import Dataset, DatasetInput, InputTag

        known = self.get_run(run_id).get("datasets", [])
        key = (dataset.get("digest"), dataset.get("context"))
        if any((d.get("digest"), d.get("context")) == key for d in known):
            return
        name = str(dataset.get("name") or "dataset")
        if any(d.get("name") == name and d.get("digest") == dataset.get("digest") for d in known):
            name = f"{name} [{dataset.get('context')}]"  # MLflow keeps one input per name+digest
        record = Dataset(
            name=name[:500],
            digest=str(dataset.get("digest") or "")[:36],
            source_type="jupyter_mlops",
            source=json.dumps({"name": dataset.get("name")}),
            schema=json.dumps({"columns": dataset.get("columns"), "dtypes": dataset.get("dtypes")}),
            profile=json.dumps(dataset, default=str),
        )
        tags = [InputTag("mlflow.data.context", str(dataset.get("context") or ""))]
        self._call(
            "log dataset", self.client.log_inputs, run_id, datasets=[DatasetInput(record, tags)]
        )

    # -- artifacts ------------------------------------------------------------------------------
    def put_artifact(self, run_id: str, path: str, source: str) -> dict[str, Any]:
        path = clean_artifact_path(path)
        sha, size = _sha256(source)
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
        self._call("record artifact", self.client.set_tag, run_id, _artifact_tag(path), record)
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
        if os.path.exists(cached) and _sha256(cached)[0] == record["sha256"]:
            return cached
        with tempfile.TemporaryDirectory(prefix="mlops-download-") as tmp:
            local = self._call(
                "download artifact", self.client.download_artifacts, run_id, path, tmp
            )
            sha, _ = _sha256(local)
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

    # -- the internal experiment: documents and record streams -----------------------------------
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

    def _internal_runs(self, tag: str, value: str) -> list[Any]:
        from mlflow.entities import ViewType

        flt = f"tags.`{tag}` = '{_quote(value)}'"
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

    # -- generic documents ----------------------------------------------------------------------
    def documents(self, table: str) -> dict[str, dict[str, Any]]:
        return {doc_id: doc for doc_id, (doc, _) in self._table(table).items()}

    def _table(self, table: str) -> dict[str, tuple[dict[str, Any], Any]]:
        """``{doc_id: (document, handle)}``; the handle is what a write needs (a run id...)."""
        if table == "experiments":
            return {e.experiment_id: (_experiment_doc(e), None) for e in self._experiment_list()}
        if table == "runs":
            return {r["run_id"]: (r, None) for r in self.list_runs()}
        if table in REGISTRY_TABLES:
            return self._registry_table(table)
        out = {}
        for run in self._internal_runs("mlops.table", table):
            tags = run.data.tags
            doc_id = tags.get("mlops.doc_id")
            doc = _join_doc(tags)
            if doc_id is not None and doc is not None:
                out[doc_id] = (doc, (run.info.run_id, _doc_keys(tags)))
        return out

    def transact(self, fn: Callable[[StoreView], Any]) -> Any:
        with self._lock:
            view = _View(self)
            result = fn(view)
            for op in view.ops:
                self._apply(view, *op)
            return result

    def _apply(self, view: _View, kind: str, table: str, doc_id: str, doc: Any) -> None:
        if table in ("experiments", "runs"):
            raise InvalidInput(f"The {table} table is written through the tracking API only.")
        if table in REGISTRY_TABLES:
            self._apply_registry(view, kind, table, doc_id, doc)
            return
        handles = view.handles(table)  # doc id -> (its run, the tags holding its JSON)
        if kind == "delete":
            if doc_id in handles:
                self._call("delete document", self.client.delete_run, handles.pop(doc_id)[0])
            return
        tags = _split_doc(doc)
        if doc_id not in handles:
            run_id = self._internal_run(
                f"{table}/{doc_id}"[:250], {**tags, "mlops.table": table, "mlops.doc_id": doc_id}
            )
            self._call("close document", self.client.set_terminated, run_id, "FINISHED")
            handles[doc_id] = (run_id, frozenset(tags))
            return
        from mlflow.entities import RunTag

        run_id, written = handles[doc_id]
        for batch in iter_batches([RunTag(k, v) for k, v in tags.items()], PARAMS_TAGS_PER_BATCH):
            self._call("write document", self.client.log_batch, run_id, tags=batch)
        for key in sorted(written - set(tags)):  # a document that got shorter
            self._call("write document", self.client.delete_tag, run_id, key)
        handles[doc_id] = (run_id, frozenset(tags))

    # -- the registry ---------------------------------------------------------------------------
    def _registry_table(self, table: str) -> dict[str, tuple[dict[str, Any], Any]]:
        if table == "model_versions":
            versions = self._paged(
                lambda token: self.client.search_model_versions(
                    max_results=10_000, page_token=token
                ),
                "list model versions",
            )
            return {f"{v.name}/{v.version}": (_version_doc(v), None) for v in versions}
        models = self._paged(
            lambda token: self.client.search_registered_models(max_results=1000, page_token=token),
            "list registered models",
        )
        if table == "aliases":
            return {
                f"{m.name}@{alias}": ({"name": m.name, "alias": alias, "version": int(v)}, None)
                for m in models
                for alias, v in (m.aliases or {}).items()
            }
        return {
            m.name: (
                {
                    "name": m.name,
                    "description": m.description or "",
                    "tags": {k: v for k, v in (m.tags or {}).items() if not k.startswith("mlops.")},
                    "creation_time": m.creation_timestamp or 0,
                    "last_updated": m.last_updated_timestamp or m.creation_timestamp or 0,
                },
                None,
            )
            for m in models
        }

    def _apply_registry(self, view: _View, kind: str, table: str, doc_id: str, doc: Any) -> None:
        c = self.client
        if table == "registered_models":
            if kind == "delete":
                self._call("delete model", c.delete_registered_model, doc_id)
            elif kind == "put" and doc_id not in view.before(table):
                self._call(
                    "register model",
                    c.create_registered_model,
                    doc_id,
                    tags=doc.get("tags") or None,
                    description=doc.get("description") or None,
                )
            else:
                self._sync_model(doc_id, view.before(table).get(doc_id, {}), doc)
            return
        if table == "aliases":
            name, alias = doc_id.rsplit("@", 1)
            if kind == "delete":
                self._call("delete alias", c.delete_registered_model_alias, name, alias)
            else:
                self._call(
                    "set alias", c.set_registered_model_alias, name, alias, str(doc["version"])
                )
            return
        name, number = doc_id.rsplit("/", 1)
        if kind == "delete":
            self._call("delete version", c.delete_model_version, name, number)
        elif doc_id not in view.before(table):
            self._create_version(name, int(number), doc)
        else:
            self._sync_version(name, number, view.before(table)[doc_id], doc)

    def _sync_model(self, name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        if new.get("description", "") != old.get("description", ""):
            self._call(
                "update model", self.client.update_registered_model, name, new["description"]
            )
        for key, value in (new.get("tags") or {}).items():
            if (old.get("tags") or {}).get(key) != value:
                self._call("tag model", self.client.set_registered_model_tag, name, key, value)

    def _create_version(self, name: str, number: int, doc: dict[str, Any]) -> None:
        run_id = doc.get("run_id")
        source = self._model_source(run_id, doc.get("artifact_path") or "model")
        created = self._call(
            "register version",
            self.client.create_model_version,
            name,
            source,
            run_id=run_id,
            tags={**(doc.get("tags") or {}), "mlops.doc": _version_extra(doc)},
            description=doc.get("description") or None,
        )
        if int(created.version) != number:
            raise Conflict(
                f"Another client registered a version of {name!r} at the same time: MLflow "
                f"numbered this one {created.version}, not {number}. Check the versions with "
                f"%mlops_models {name}."
            )

    def _model_source(self, run_id: str | None, path: str) -> str:
        if not run_id:
            raise InvalidInput("A model version needs the run its model was logged with.")
        run = self._call("get run", self.client.get_run, run_id)
        return f"{run.info.artifact_uri.rstrip('/')}/{path}"

    def _sync_version(
        self, name: str, number: str, old: dict[str, Any], new: dict[str, Any]
    ) -> None:
        c = self.client
        if new.get("description", "") != old.get("description", ""):
            self._call("update version", c.update_model_version, name, number, new["description"])
        for key, value in (new.get("tags") or {}).items():
            if (old.get("tags") or {}).get(key) != value:
                self._call("tag version", c.set_model_version_tag, name, number, key, value)
        extra = _version_extra(new)
        if extra != _version_extra(old):
            self._call("update version", c.set_model_version_tag, name, number, "mlops.doc", extra)

    # -- record streams -------------------------------------------------------------------------
    def _stream_run(self, stream: str, create: bool) -> str | None:
        """The run holding a stream's chunks (looked up once: a model server appends often)."""
        check_stream(stream)
        with self._lock:
            if stream not in self._streams:
                runs = self._internal_runs("mlops.stream", stream)
                if runs:
                    first = min(runs, key=lambda r: r.info.start_time)
                    self._streams[stream] = str(first.info.run_id)
                elif create:
                    tags = {"mlops.stream": stream}
                    self._streams[stream] = self._internal_run(f"stream/{stream}"[:250], tags)
            return self._streams.get(stream)

    def _chunks(self, run_id: str) -> list[str]:
        files = self._call("list records", self.client.list_artifacts, run_id, "records")
        return sorted(f.path for f in files if not f.is_dir and f.path.endswith(".jsonl"))

    def _read_chunks(self, run_id: str, chunks: list[str]) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        with tempfile.TemporaryDirectory(prefix="mlops-records-") as tmp:
            for chunk in chunks:
                local = self._call(
                    "read records", self.client.download_artifacts, run_id, chunk, tmp
                )
                with open(local, encoding="utf-8") as fh:
                    for line in fh:
                        try:
                            records.append(json.loads(line))
                        except ValueError:
                            continue
        return records

    def _write_chunk(self, run_id: str, records: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, separators=(",", ":"), default=str) + "\n" for r in records)
        name = f"records/{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.jsonl"
        self._call("append records", self.client.log_text, run_id, text, name)

    def _delete_chunks(self, run_id: str, chunks: list[str]) -> None:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        run = self._call("get run", self.client.get_run, run_id)
        repo = get_artifact_repository(run.info.artifact_uri, tracking_uri=self.tracking_uri)
        for chunk in chunks:
            self._call("trim records", repo.delete_artifacts, chunk)

    def append_records(self, stream: str, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        run_id = self._stream_run(stream, create=True)
        assert run_id is not None
        self._write_chunk(run_id, records)
        chunks = self._chunks(run_id)
        if len(chunks) > MAX_CHUNKS:
            with self._lock:
                self._write_chunk(run_id, self._read_chunks(run_id, chunks))
                self._delete_chunks(run_id, chunks)

    def read_records(self, stream: str, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        run_id = self._stream_run(stream, create=False)
        if run_id is None:
            return [], 0
        records = self._read_chunks(run_id, self._chunks(run_id))
        if offset > len(records):
            offset = 0  # trimmed since that offset was handed out
        return records[offset:], len(records)

    def count_records(self, stream: str) -> int:
        return len(self.read_records(stream)[0])

    def trim_records(self, stream: str, keep: int) -> int:
        run_id = self._stream_run(stream, create=False)
        if run_id is None:
            return 0
        with self._lock:
            chunks = self._chunks(run_id)
            records = self._read_chunks(run_id, chunks)
            if len(records) > keep:
                self._write_chunk(run_id, records[len(records) - keep :])
                self._delete_chunks(run_id, chunks)
            return min(len(records), keep)

    # -- helpers --------------------------------------------------------------------------------
    def _paged(self, page: Callable[[str | None], Any], what: str) -> list[Any]:
        out: list[Any] = []
        token = None
        while True:
            result = self._call(what, page, token)
            out.extend(result)
            token = getattr(result, "token", None)
            if not token:
                return out


class _View(StoreView):
    """A transaction's snapshot: tables read on first use, writes kept until the callback ends."""

    def __init__(self, store: MlflowStore) -> None:
        self.store = store
        self.ops: list[tuple[str, str, str, Any]] = []
        self._before: dict[str, dict[str, dict[str, Any]]] = {}
        self._handles: dict[str, dict[str, Any]] = {}
        self._now: dict[str, dict[str, dict[str, Any]]] = {}

    def _load(self, table: str) -> dict[str, dict[str, Any]]:
        if table not in self._now:
            loaded = self.store._table(table)
            self._before[table] = {k: doc for k, (doc, _) in loaded.items()}
            self._handles[table] = {k: handle for k, (_, handle) in loaded.items()}
            self._now[table] = dict(self._before[table])
        return self._now[table]

    def before(self, table: str) -> dict[str, dict[str, Any]]:
        self._load(table)
        return self._before[table]

    def handles(self, table: str) -> dict[str, Any]:
        self._load(table)
        return self._handles[table]

    def get(self, table: str, doc_id: str) -> dict[str, Any] | None:
        return self._load(table).get(doc_id)

    def table(self, table: str) -> dict[str, dict[str, Any]]:
        return self._load(table)

    def put(self, table: str, doc_id: str, doc: dict[str, Any]) -> None:
        self._load(table)[doc_id] = doc
        self.ops.append(("put", table, doc_id, doc))

    def merge(self, table: str, doc_id: str, fields: dict[str, Any]) -> None:
        current = self._load(table).get(doc_id)
        if current is None:
            raise NotFound(f"No document {doc_id!r} in {table}.")
        merged = dict(current)
        for key, value in fields.items():
            old = merged.get(key)
            merged[key] = (
                {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
            )
        self._now[table][doc_id] = merged
        self.ops.append(("merge", table, doc_id, merged))

    def delete(self, table: str, doc_id: str) -> None:
        self._load(table).pop(doc_id, None)
        self.ops.append(("delete", table, doc_id, None))


# -- mapping helpers -------------------------------------------------------------------------------
def _experiment_doc(exp: Any) -> dict[str, Any]:
    return {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "creation_time": exp.creation_time or 0,
    }


def _id_order(exp_id: str) -> tuple[int, int | str]:
    return (0, int(exp_id)) if exp_id.isdigit() else (1, exp_id)


def _system_tags(run: dict[str, Any]) -> dict[str, str]:
    """MLflow's system tags for what our tags say, so runs read naturally in MLflow's UI."""
    tags = run.get("tags", {})
    out = {mlflow_key: tags[ours] for ours, mlflow_key in _SYSTEM_TAGS.items() if ours in tags}
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


def _fit_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags cut to MLflow's 8,000-character limit (the cut is marked)."""
    return {k: v if len(v) <= 8000 else v[:7_980] + " …[truncated]" for k, v in tags.items()}


def _artifact_tag(path: str) -> str:
    if _READABLE_KEY.match(path):
        return f"mlops.artifact.{path}"
    return f"mlops.artifact.{hashlib.sha256(path.encode()).hexdigest()[:32]}"


def _split_doc(doc: dict[str, Any]) -> dict[str, str]:
    text = json.dumps(doc, separators=(",", ":"), default=str)
    parts = [text[i : i + TAG_CHUNK] for i in range(0, len(text), TAG_CHUNK)] or [""]
    return {f"mlops.doc.{i:04d}": part for i, part in enumerate(parts)}


def _doc_keys(tags: dict[str, str]) -> frozenset[str]:
    return frozenset(k for k in tags if k.startswith("mlops.doc."))


def _join_doc(tags: dict[str, str]) -> dict[str, Any] | None:
    keys = sorted(_doc_keys(tags))
    try:
        doc = json.loads("".join(tags[k] for k in keys))
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


_VERSION_OWN = ("name", "version", "run_id", "description", "tags")


def _version_extra(doc: dict[str, Any]) -> str:
    """Our fields of a model version that MLflow has no place for, as its ``mlops.doc`` tag."""
    return json.dumps(
        {k: v for k, v in doc.items() if k not in _VERSION_OWN}, sort_keys=True, default=str
    )


def _version_doc(version: Any) -> dict[str, Any]:
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
    return doc


def _dataset_doc(entry: Any) -> dict[str, Any]:
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


def _attempt(fn: Callable[[Any], None]) -> Callable[[Any], Exception | None]:
    """``fn`` returning its exception instead of raising it (for ``Executor.map``)."""

    def attempt(arg: Any) -> Exception | None:
        try:
            fn(arg)
        except Exception as e:
            return e
        return None

    return attempt


def _json_double(value: float) -> float | str:
    """A double as protobuf's JSON mapping writes it: NaN and infinities as strings."""
    value = float(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _sha256(path: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _hostname() -> str:
    import socket

    return socket.gethostname()
