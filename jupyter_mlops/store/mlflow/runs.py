"""Experiments, runs, params, tags and dataset inputs on MLflow's tracking API."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from jupyter_mlops.errors import Conflict, InvalidInput, NotFound
from jupyter_mlops.processes import process_alive
from jupyter_mlops.store.base import iter_batches, param_conflict
from jupyter_mlops.store.mlflow.client import (
    INTERNAL_EXPERIMENT,
    PAGE,
    PARAMS_TAGS_PER_BATCH,
    MlflowBase,
)
from jupyter_mlops.store.mlflow.codec import (
    experiment_doc,
    fit_tags,
    id_order,
    run_doc,
    system_tags,
)


class Runs(MlflowBase):
    """Experiments and runs: MLflow's own, with our extra fields in tags."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self._experiments: dict[str, str] = {}  # id -> name

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
        return experiment_doc(exp)

    def find_experiment(self, name: str) -> dict[str, Any] | None:
        if name == INTERNAL_EXPERIMENT:
            return None
        exp = self._call("get experiment", self.client.get_experiment_by_name, name)
        if exp is None or exp.lifecycle_stage != "active":
            return None
        self._experiments[exp.experiment_id] = exp.name
        return experiment_doc(exp)

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
        docs = [experiment_doc(e) for e in self._experiment_list()]
        return [
            {**d, "run_count": counts.get(d["experiment_id"], 0)}
            for d in sorted(docs, key=lambda d: id_order(d["experiment_id"]))
        ]

    def _experiment_name(self, exp_id: str) -> str:
        if exp_id not in self._experiments:
            exp = self._call("get experiment", self.client.get_experiment, exp_id)
            self._experiments[exp_id] = exp.name
        return self._experiments[exp_id]

    # -- runs -----------------------------------------------------------------------------------

    def create_run(self, run: dict[str, Any]) -> dict[str, Any]:
        tags = {**run.get("tags", {}), **system_tags(run)}
        for key in ("pid", "proc_start", "host"):
            if run.get(key) is not None:
                tags[f"mlops.{key}"] = str(run[key])
        created = self._call(
            "create run",
            self.client.create_run,
            run["experiment_id"],
            start_time=run.get("start_time"),
            tags=fit_tags(tags),
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
        return self._doc(run)

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
        return [self._doc(r) for r in found]

    def _doc(self, run: Any) -> dict[str, Any]:
        return self._effective(run_doc(run, self._experiment_name(run.info.experiment_id)))

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

        mirrored = {**tags, **system_tags({"tags": tags})}
        entries = [RunTag(k, v) for k, v in fit_tags(mirrored).items()]
        for batch in iter_batches(entries, PARAMS_TAGS_PER_BATCH):
            self._call("set tags", self.client.log_batch, run_id, tags=batch)

    # -- metrics --------------------------------------------------------------------------------

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
