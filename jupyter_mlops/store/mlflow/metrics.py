"""Metric points: ``log_batch`` calls of 1,000, a few in flight, and our summaries in tags."""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Callable
from typing import Any

from jupyter_mlops.errors import PartialWrite
from jupyter_mlops.store.base import MetricPoint, iter_batches
from jupyter_mlops.store.formats import summarize
from jupyter_mlops.store.mlflow.client import PARAMS_TAGS_PER_BATCH
from jupyter_mlops.store.mlflow.codec import json_double, summary_tag
from jupyter_mlops.store.mlflow.runs import Runs

METRICS_PER_BATCH = 1_000
SENDERS = 4  # log_batch calls in flight at once (an MLflow server runs 4 workers by default)


class Metrics(Runs):
    """Metric histories: MLflow's metrics, our min/max/count/step in ``mlops.summary.*`` tags."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self._summaries: dict[str, dict[str, Any]] = {}  # run id -> metric summaries
        self._stale_summaries: dict[str, set[str]] = {}  # run id -> keys whose tags are behind
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

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
        if not points:
            return
        known = self._known_summaries(run_id)
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
        self._send_summaries(run_id, known)
        if error is not None:
            raise PartialWrite(str(error), unsent) from error

    def _known_summaries(self, run_id: str) -> dict[str, dict[str, Any]]:
        """A run's metric summaries as this process knows them (read from the server once)."""
        known = self._summaries.get(run_id)
        if known is None:  # runs logged by other clients may have a last value only
            metrics = self.get_run(run_id)["metrics"]
            known = {k: {"count": 0, "min": None, "max": None, **m} for k, m in metrics.items()}
            self._summaries[run_id] = known
        return known

    def _send_summaries(self, run_id: str, known: dict[str, dict[str, Any]]) -> None:
        """The ``mlops.summary.<key>`` tags of the keys that got points (kept when it fails)."""
        from mlflow.entities import RunTag

        stale = self._stale_summaries.pop(run_id, set())
        tags = [
            RunTag(f"mlops.summary.{k}", summary_tag(known[k]))
            for k in sorted(stale)
            if len(k) <= 230
        ]
        try:
            for tag_batch in iter_batches(tags, PARAMS_TAGS_PER_BATCH):
                self._call("log metrics", self.client.log_batch, run_id, tags=tag_batch)
        except Exception:
            self._stale_summaries.setdefault(run_id, set()).update(stale)  # sent next time
            raise

    def _post_metrics(self, run_id: str, batch: list[MetricPoint]) -> None:
        """One ``runs/log-batch`` request, its JSON built directly.

        MLflow's client builds an entity, a protobuf message and then JSON for every point;
        this thread shares the GIL with the user's training loop (and, on a small machine, the
        CPU with the server), so the body is made with ``json.dumps`` instead: same REST call,
        same authentication and retries (MLflow's ``http_request``). Stores that are not
        behind MLflow's REST API (``mlflow+sqlite:...``, ``databricks``) go through the client.
        """
        creds = self._host_creds()
        if creds is None:
            from mlflow.entities import Metric

            metrics = [Metric(k, float(v), int(t), int(s)) for k, v, s, t in batch]
            self.client.log_batch(run_id, metrics=metrics)
            return
        from mlflow.utils.rest_utils import http_request, verify_rest_response

        body = json.dumps(
            {
                "run_id": run_id,
                "metrics": [
                    {"key": k, "value": json_double(v), "timestamp": int(t), "step": int(s)}
                    for k, v, s, t in batch
                ],
            }
        )
        endpoint = "/api/2.0/mlflow/runs/log-batch"
        response = http_request(
            creds,
            endpoint,
            "POST",
            data=body,
            extra_headers={"Content-Type": "application/json"},
        )
        verify_rest_response(response, endpoint)

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


def _attempt(fn: Callable[[Any], None]) -> Callable[[Any], Exception | None]:
    """``fn`` returning its exception instead of raising it (for ``Executor.map``)."""

    def attempt(arg: Any) -> Exception | None:
        try:
            fn(arg)
        except Exception as e:
            return e
        return None

    return attempt
