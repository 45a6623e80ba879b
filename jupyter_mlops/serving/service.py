"""A model behind the scoring protocol, independent of any web framework.

:class:`ModelService` loads a model by URI (hash-verified), answers invocations, health,
metadata and Prometheus metrics, logs predictions off the request path, and — for
``models:/name@alias`` — follows the alias: when it moves, the new version is loaded beside the
old one and swapped in with one assignment, so requests in flight never fail.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
import warnings
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from typing import Any

from jupyter_mlops.errors import InvalidInput, MlopsError
from jupyter_mlops.serving import scoring
from jupyter_mlops.tracking.models import model_files as resolve_model_files

BUCKETS_MS = (0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
MAX_PENDING_LOG_ROWS = 200_000
KEEP_LOG_ROWS = 100_000


@dataclass(frozen=True)
class LoadedModel:
    """One loaded model version."""

    model: Any
    name: str
    version: int | None
    uri: str
    signature: dict[str, Any] | None
    loaded_at: float
    takes_array: bool = False
    contract: Any = None  # a contracts.enforce.RequestChecker, when the version recorded one
    output_datatype: str = "FP64"  # the V2 datatype of its predictions (on the stored example)


class Metrics:
    """Request counters and a latency histogram, rendered in Prometheus text format."""

    def __init__(self) -> None:
        self.by_status: dict[int, int] = {}
        self.buckets = [0] * (len(BUCKETS_MS) + 1)
        self.latency_sum_ms = 0.0
        self.rows = 0
        self.dropped_log_rows = 0
        self.logged_rows = 0
        self._lock = threading.Lock()

    def observe(self, status: int, latency_ms: float, rows: int = 0) -> None:
        with self._lock:
            self.by_status[status] = self.by_status.get(status, 0) + 1
            self.buckets[bisect_left(BUCKETS_MS, latency_ms)] += 1
            self.latency_sum_ms += latency_ms
            self.rows += rows

    def render(self, model: LoadedModel, started: float) -> str:
        labels = f'model="{_label(model.name)}",version="{model.version or ""}"'
        lines = [
            "# HELP mlops_requests_total Invocation requests by HTTP status.",
            "# TYPE mlops_requests_total counter",
        ]
        with self._lock:
            for status, count in sorted(self.by_status.items()):
                lines.append(f'mlops_requests_total{{{labels},status="{status}"}} {count}')
            lines += [
                "# HELP mlops_request_latency_ms Invocation latency in milliseconds.",
                "# TYPE mlops_request_latency_ms histogram",
            ]
            total = 0
            for bound, count in zip([*BUCKETS_MS, "+Inf"], self.buckets, strict=True):
                total += count
                lines.append(f'mlops_request_latency_ms_bucket{{{labels},le="{bound}"}} {total}')
            lines.append(f"mlops_request_latency_ms_sum{{{labels}}} {self.latency_sum_ms:.3f}")
            lines.append(f"mlops_request_latency_ms_count{{{labels}}} {total}")
            lines.append(f"mlops_predicted_rows_total{{{labels}}} {self.rows}")
            lines.append(f"mlops_dropped_log_rows_total{{{labels}}} {self.dropped_log_rows}")
            lines.append(f"mlops_logged_rows_total{{{labels}}} {self.logged_rows}")
        lines.append(f"mlops_uptime_seconds{{{labels}}} {time.time() - started:.1f}")
        return "\n".join(lines) + "\n"


def _label(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


class PredictionLog:
    """Predictions queued on the request path, written to the store by a background thread.

    The log keeps the newest ``keep_rows`` rows (``JUPYTER_MLOPS_LOG_ROWS``, 100,000 by default):
    once it holds a fifth more than that, the oldest rows are dropped in one rewrite.

    Rows are written every ``interval`` seconds (``JUPYTER_MLOPS_LOG_INTERVAL_S``, 0.25 by
    default) and on :meth:`close`, which waits for a write in progress: a server stopped with
    SIGTERM loses none. A server killed with SIGKILL loses the rows it answered since the last
    completed write: about ``interval`` seconds of traffic while the writer keeps up, and never
    more than the ``MAX_PENDING_LOG_ROWS`` a log queues.
    """

    def __init__(
        self,
        store: Any,
        deployment: str,
        metrics: Metrics,
        interval: float | None = None,
        keep_rows: int | None = None,
    ):
        self.store = store
        self.stream = f"predictions/{deployment}"
        self.metrics = metrics
        self.interval = interval or float(os.environ.get("JUPYTER_MLOPS_LOG_INTERVAL_S", 0.25))
        self.keep_rows = keep_rows or int(os.environ.get("JUPYTER_MLOPS_LOG_ROWS", KEEP_LOG_ROWS))
        self._rows = store.count_records(self.stream)
        self._queue: deque[tuple[Any, ...]] = deque()
        self._pending_rows = 0
        self._count_lock = threading.Lock()  # the request path and the writer both count
        self._flush_lock = threading.Lock()  # one write at a time: close() waits for the last
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mlops-prediction-log", daemon=True)
        self._thread.start()

    def add(
        self,
        frame: Any,
        predictions: list[Any],
        model: LoadedModel,
        latency_ms: float,
        checked: Any = None,
    ) -> None:
        """Queue a request's rows and predictions (converted to records later, off the path)."""
        with self._count_lock:
            if self._pending_rows + len(predictions) > MAX_PENDING_LOG_ROWS:
                self.metrics.dropped_log_rows += len(predictions)
                return
            self._pending_rows += len(predictions)
        request = (time.time(), uuid.uuid4().hex[:16], model, latency_ms, checked)
        self._queue.append((request, frame, predictions))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        """Write every queued row now (waiting for a write in progress)."""
        with self._flush_lock:
            records = []
            while self._queue:
                request, frame, predictions = self._queue.popleft()
                with self._count_lock:
                    self._pending_rows -= len(predictions)
                records += _rows(request, frame, predictions)
            if records:
                self._write(records)

    def _write(self, records: list[dict[str, Any]]) -> None:
        try:
            self.store.append_records(self.stream, records)
            self.metrics.logged_rows += len(records)
            self._rows += len(records)
            if self._rows > self.keep_rows * 1.2:
                self._rows = self.store.trim_records(self.stream, self.keep_rows)
        except Exception:  # the log must never take the server down
            self.metrics.dropped_log_rows += len(records)

    def close(self) -> None:
        """Stop the writer thread and write what is left (the requests have all ended)."""
        self._stop.set()
        self._thread.join()
        self.flush()


def _rows(request: tuple[Any, ...], frame: Any, predictions: list[Any]) -> list:
    import pandas as pd

    ts, request_id, model, latency_ms, checked = request
    if isinstance(frame, pd.DataFrame):
        rows = frame.to_dict(orient="records")
    else:
        names = [c.get("name") for c in (model.signature or {}).get("inputs", [])]
        if names and None not in names and len(names) == frame.shape[1]:
            rows = [dict(zip(names, r, strict=True)) for r in frame.tolist()]
        else:
            rows = [{"values": list(r)} for r in frame.tolist()]
    ms = int(ts * 1000)
    records = [
        {
            "ts": ms,
            "request_id": request_id,
            "version": model.version,
            "latency_ms": round(latency_ms, 3),
            "inputs": row,
            "prediction": pred,
        }
        for row, pred in zip(rows, predictions, strict=False)
    ]
    if checked is not None:  # the contract's verdict per row: [] for a clean row
        marks = checked.per_row or ((),) * len(records)
        for record, broken in zip(records, marks, strict=False):
            record["violations"] = list(broken)
    return records


def _contract_checker(files: Any) -> Any:
    """The served version's contract compiled for requests (``None`` when it has none)."""
    from jupyter_mlops.contracts.enforce import checker_for
    from jupyter_mlops.contracts.resolve import served_contract

    return checker_for(served_contract(files.uri), files.signature)


def _takes_array(model: Any, example: Any, signature: dict[str, Any] | None) -> bool:
    """Whether ``model`` predicts the same from a plain array as from a DataFrame.

    Checked once at load on the stored example (which also warms the model up). When it does,
    requests skip building a DataFrame and pandas' conversion inside ``predict``: the columns were
    already checked against the signature, in order.
    """
    import json

    import numpy as np

    if not isinstance(example, dict):
        return False
    try:
        body = json.dumps({"dataframe_split": example}).encode()
        frame = scoring.read_request(body, signature)[1]
        array = scoring.read_request(body, signature, as_array=True)[1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            same = np.array_equal(
                np.asarray(model.predict(frame)), np.asarray(model.predict(array))
            )
        return bool(same) and isinstance(array, np.ndarray)
    except Exception:  # any doubt: the DataFrame path is always right
        return False


def _output_datatype(model: Any, example: Any, signature: dict[str, Any] | None) -> str:
    """The V2 datatype of ``model``'s predictions on the stored example (FP64 without one)."""
    import json

    from jupyter_mlops.serving import v2

    if not isinstance(example, (dict, list)) or not example:
        return "FP64"
    key = "dataframe_split" if isinstance(example, dict) else "instances"
    try:
        frame = scoring.read_request(json.dumps({key: example}).encode(), signature)[1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            predictions = scoring.predictions_json(model.predict(frame))
        return v2.output_tensor(predictions)["datatype"]
    except Exception:  # an example the model cannot take says nothing about its outputs
        return "FP64"


class ModelService:
    """Everything the model server does, as plain method calls."""

    def __init__(
        self,
        model_uri: str,
        deployment: str | None = None,
        store: Any = None,
        on_violation: str = "count",
    ):
        from jupyter_mlops.contracts.enforce import ContractGuard
        from jupyter_mlops.store import get_store

        self.contracts = ContractGuard(on_violation)
        self.model_uri = model_uri
        self.deployment = deployment
        self.store = store or get_store()
        self.started = time.time()
        self.metrics = Metrics()
        self.current = self._load()
        self.log = PredictionLog(self.store, deployment, self.metrics) if deployment else None
        self._reload_lock = threading.Lock()

    def _load(self) -> LoadedModel:
        from jupyter_mlops.tracking.models import load_files

        files = resolve_model_files(self.model_uri)
        model = load_files(files)
        example = files.descriptor.get("input_example")
        takes_array = _takes_array(model, example, files.signature)
        return LoadedModel(
            model, files.name, files.version, files.uri, files.signature, time.time(), takes_array,
            _contract_checker(files), _output_datatype(model, example, files.signature),
        )  # fmt: skip

    # -- requests -----------------------------------------------------------------------------
    def invoke(self, body: bytes, csv: bool = False) -> dict[str, Any]:
        """Predictions for a scoring body (JSON or CSV); ``InvalidInput`` names any problem."""
        started = time.perf_counter()
        model = self.current  # one read: a reload swapping models mid-request is harmless
        data, frame = scoring.read_request(body, model.signature, model.takes_array, csv)
        return {"predictions": self.predict(model, data, frame, started)}

    def predict(self, model: LoadedModel, data: Any, frame: Any, started: float) -> list[Any]:
        """``model``'s predictions for a checked request, as JSON-able values (and logged)."""
        checked = self.contracts.check(model.contract, data, frame)
        try:
            if model.takes_array:
                with warnings.catch_warnings():  # names were checked against the signature
                    warnings.simplefilter("ignore", UserWarning)
                    predicted = model.model.predict(frame)
            else:
                predicted = model.model.predict(frame)
        except Exception as e:
            raise InvalidInput(f"The model could not predict on this input: {e}") from e
        predictions = scoring.predictions_json(predicted)
        if self.log is not None:
            self.log.add(frame, predictions, model, (time.perf_counter() - started) * 1000, checked)
        return predictions

    def health(self) -> dict[str, Any]:
        m = self.current
        return {"status": "ok", "model": m.name, "version": m.version, "uri": self.model_uri}

    def metadata(self) -> dict[str, Any]:
        m = self.current
        return {
            "model_uri": self.model_uri,
            "name": m.name,
            "version": m.version,
            "resolved_uri": m.uri,
            "signature": m.signature,
            "deployment": self.deployment,
            "loaded_at": int(m.loaded_at * 1000),
            "started_at": int(self.started * 1000),
            "contract": None
            if m.contract is None
            else {
                "columns": m.contract.contract.columns,
                "on_violation": self.contracts.on_violation,
            },
        }

    def metrics_text(self) -> str:
        text = self.metrics.render(self.current, self.started)
        if self.current.contract is None:
            return text
        m = self.current
        labels = f'model="{_label(m.name)}",version="{m.version or ""}"'
        return text + "\n".join(self.contracts.metrics(labels)) + "\n"

    # -- alias following -------------------------------------------------------------------------
    def follows_alias(self) -> bool:
        from jupyter_mlops.store.refs import MODELS

        return self.model_uri.startswith(MODELS) and "@" in self.model_uri

    def reload_if_moved(self) -> LoadedModel | None:
        """Load and swap in the alias's new version if it moved; return it (else ``None``)."""
        if not self.follows_alias() or not self._reload_lock.acquire(blocking=False):
            return None
        try:
            from jupyter_mlops.store import refs

            try:
                version = refs.resolve_version(self.store, self.model_uri).version
            except MlopsError:
                return None  # alias deleted: keep serving what we have
            if version == self.current.version:
                return None
            self.current = self._load()
            return self.current
        finally:
            self._reload_lock.release()

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
