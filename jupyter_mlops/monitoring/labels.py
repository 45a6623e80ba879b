"""What monitoring reads: a deployment's prediction log, its labels, its versions' references.

Every model server started with a deployment name writes each predicted row to the store stream
``predictions/<deployment>`` as ``{"ts": ms, "request_id", "version", "inputs": {column: value},
"prediction"}`` (:class:`~jupyter_mlops.serving.service.PredictionLog`, flushed every second).
All rows of one request share its ``request_id``; their order in the log is their order in the
request, so ``(request_id, row)`` names one prediction.

Labels
------
The scoring protocol answers ``{"predictions": [...]}`` and nothing else (MLflow's clients rely on
that), so a client learns request ids from the log: :func:`prediction_log` gives one row per
prediction with its ``request_id``, ``row``, time, inputs and prediction. When the truth is
known, :func:`log_labels` takes those ids and the true values; the ``k``-th occurrence of a
request id in ``ids`` labels the ``k``-th row of that request, so passing
``log.request_id`` of a slice of the log labels exactly those rows. Labels go to the stream
``labels/<deployment>``; a later label for the same prediction replaces an earlier one.

With one client sending requests one after another (a test, a batch job), the log's order is the
sending order. With many clients, match the log's ``inputs`` (or its ``ts``) to your records.

References
----------
:class:`ServedVersions` loads, once per served version, the model (hash-verified) and the
reference sample stored with it (``register_model(..., reference_data=X)``), and the model's
predictions on that sample, which prediction drift compares each window's predictions with.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from jupyter_mlops.errors import InvalidInput, NotFound

META = ("ts", "request_id", "row", "version", "prediction")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _store() -> Any:
    from jupyter_mlops.store import get_store

    return get_store()


def log_stream(deployment: str) -> str:
    """The store stream that holds ``deployment``'s predictions."""
    return f"predictions/{deployment}"


def label_stream(deployment: str) -> str:
    """The store stream that holds ``deployment``'s labels."""
    return f"labels/{deployment}"


def deployment_doc(name: Any) -> dict[str, Any]:
    """The stored record of deployment ``name``; ``NotFound`` lists the known ones."""
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"Name a deployment, e.g. monitor('churn-prod'), not {name!r}.")
    found = _store().get_deployment(name)
    if found is None:
        names = sorted(d.name for d in _store().list_deployments())
        known = ", ".join(names) or "none yet (start one with deploy() or %mlops_deploy)"
        raise NotFound(f"No deployment named {name!r} (deployments: {known}).")
    return found.to_doc()


def parse_duration(text: Any) -> int:
    """``"15m"``, ``"1h"``, ``"1d"`` (units s, m, h, d, w) or a timedelta, in milliseconds.

    Raises
    ------
    InvalidInput
        Anything else, or a duration that is not positive.
    """
    if isinstance(text, (pd.Timedelta, np.timedelta64)) or hasattr(text, "total_seconds"):
        ms = int(pd.Timedelta(text).total_seconds() * 1000)
    else:
        match = _DURATION.match(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidInput(
                f"Cannot read the window {text!r}: write a number and a unit, e.g. '15m', '1h' "
                "or '1d' (units: s, m, h, d, w)."
            )
        ms = int(float(match[1]) * UNIT_SECONDS[match[2]] * 1000)
    if ms <= 0:
        raise InvalidInput(f"A window must be longer than zero, got {text!r}.")
    return ms


def parse_time(value: Any) -> int | None:
    """A point in time as epoch milliseconds (``None`` stays ``None``).

    Accepts epoch milliseconds, ISO text, a ``datetime``/``Timestamp`` (naive means UTC), or a
    duration such as ``"30m"`` meaning that long ago.
    """
    if value is None:
        return None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and _DURATION.match(value):
        return int(time.time() * 1000) - parse_duration(value)
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        stamp = pd.NaT
    if stamp is pd.NaT:
        raise InvalidInput(
            f"Cannot read {value!r} as a time: use ISO text ('2026-03-01T12:00'), a datetime, "
            "epoch milliseconds, or a duration such as '30m' (that long ago)."
        )
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.timestamp() * 1000)


@dataclass(frozen=True)
class LogFrames:
    """A deployment's logged predictions, one row per prediction, in log order.

    Attributes
    ----------
    meta : pandas.DataFrame
        ``ts`` (epoch ms), ``request_id``, ``row`` (position within the request), ``version``,
        ``prediction``.
    inputs : pandas.DataFrame
        The inputs of each prediction, one column per input (same index as ``meta``).
    """

    meta: pd.DataFrame
    inputs: pd.DataFrame

    def __len__(self) -> int:
        return len(self.meta)


def read_log(deployment: str, since_ms: int | None = None, inputs: bool = True) -> LogFrames:
    """The predictions ``deployment`` logged (from ``since_ms`` on), as :class:`LogFrames`.

    With ``inputs=False`` the inputs frame is left empty (cheaper, for looking up ids).
    """
    records, _ = _store().read_records(log_stream(deployment), 0)
    return _frames(records, since_ms, inputs)


def _frames(records: list[dict[str, Any]], since_ms: int | None, with_inputs: bool) -> LogFrames:
    meta = pd.DataFrame(
        {
            "ts": pd.array([r.get("ts") for r in records], dtype="Int64"),
            "request_id": pd.Series([r.get("request_id") for r in records], dtype=object),
            "version": pd.Series([r.get("version") for r in records], dtype=object),
            "prediction": pd.Series([r.get("prediction") for r in records], dtype=object),
            # the data contract's verdict per row (None: served without a contract)
            "violations": pd.Series([r.get("violations") for r in records], dtype=object),
        }
    )
    meta.insert(2, "row", meta.groupby("request_id", sort=False).cumcount().astype("int64"))
    rows = [r.get("inputs") or {} for r in records] if with_inputs else []
    inputs = pd.DataFrame.from_records(rows, index=meta.index if with_inputs else None)
    keep = meta["ts"].notna() & (meta["ts"] >= (since_ms or 0))
    keep = keep.fillna(False).to_numpy(dtype=bool)
    meta = meta[keep]
    inputs = inputs[keep] if with_inputs else inputs
    return LogFrames(meta.reset_index(drop=True), inputs.reset_index(drop=True))


def read_labels(deployment: str) -> pd.DataFrame:
    """Labels of ``deployment``: ``request_id``, ``row``, ``y_true`` (the latest per prediction)."""
    records, _ = _store().read_records(label_stream(deployment), 0)
    frame = pd.DataFrame(
        {
            "request_id": pd.Series([r.get("request_id") for r in records], dtype=object),
            "row": pd.Series([r.get("row") for r in records], dtype="int64"),
            "y_true": pd.Series([r.get("y_true") for r in records], dtype=object),
        }
    )
    return frame.drop_duplicates(["request_id", "row"], keep="last").reset_index(drop=True)


def prediction_log(deployment: str, since: Any = None, labels: bool = True) -> pd.DataFrame:
    """One row per logged prediction of ``deployment``, oldest first.

    Parameters
    ----------
    deployment : str
        The deployment's name.
    since : optional
        Only predictions from this time on: epoch ms, ISO text, a datetime, or ``"30m"``.
    labels : bool
        Add ``y_true`` (missing where no label was logged).

    Returns
    -------
    pandas.DataFrame
        ``ts`` (UTC), ``request_id``, ``row`` (position within the request), ``version``,
        ``prediction``, ``y_true``, ``violations`` (the data-contract rules the row broke,
        ``["age:range"]``; ``[]`` for a clean row, missing when served without a contract), then
        one column per input (prefixed ``input.`` if its name is one of the former).
    """
    deployment_doc(deployment)
    log = read_log(deployment, parse_time(since))
    frame = log.meta.copy()
    frame["ts"] = pd.to_datetime(frame["ts"].astype("float64"), unit="ms", utc=True)
    if labels:
        found = read_labels(deployment)
        frame = frame.merge(found, how="left", on=["request_id", "row"], validate="one_to_one")
    frame = frame[[c for c in frame.columns if c != "violations"] + ["violations"]]
    inputs = log.inputs.rename(columns=lambda c: f"input.{c}" if c in frame.columns else c)
    return pd.concat([frame, inputs], axis=1)


def log_labels(deployment: str, ids: Iterable[Any], y_true: Iterable[Any]) -> int:
    """Record the true values of logged predictions, for per-window model metrics.

    Parameters
    ----------
    deployment : str
        The deployment's name.
    ids : iterable of str
        Request ids from :func:`prediction_log`; the ``k``-th occurrence of an id labels the
        ``k``-th row of that request (so ``prediction_log(...).request_id`` fits as it is).
    y_true : iterable
        The true value of each of those predictions (same length as ``ids``).

    Returns
    -------
    int
        The number of labels stored.

    Raises
    ------
    InvalidInput
        Lengths differ, nothing to store, a missing value in ``y_true``, or ids (or more rows
        of a request) that the prediction log does not hold.
    """
    deployment_doc(deployment)
    ids = [str(i) for i in _values(ids, "ids")]
    values = _values(y_true, "y_true")
    if len(ids) != len(values):
        raise InvalidInput(f"log_labels got {len(ids)} ids but {len(values)} values of y_true.")
    if not ids:
        raise InvalidInput("log_labels got no ids: pass request ids from prediction_log().")
    if any(v is None or (isinstance(v, float) and v != v) for v in values):
        raise InvalidInput("y_true has missing values; label only the predictions you know.")
    rows = pd.Series(ids).groupby(ids, sort=False).cumcount().tolist()
    _check_known(deployment, ids, rows)
    now = int(time.time() * 1000)
    records = [
        {"request_id": i, "row": r, "y_true": v, "ts": now}
        for i, r, v in zip(ids, rows, values, strict=True)
    ]
    _store().append_records(label_stream(deployment), records)
    return len(records)


def _values(data: Any, label: str) -> list[Any]:
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise InvalidInput(f"{label} must be a list, an array or a Series, not {data!r}.")
    return pd.Series(list(data), dtype=object).map(_python_value).tolist()


def _python_value(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _check_known(deployment: str, ids: list[str], rows: list[int]) -> None:
    meta = read_log(deployment, inputs=False).meta
    counts = meta.groupby("request_id", sort=False).size().to_dict()
    unknown = [f"{i}#{r}" for i, r in zip(ids, rows, strict=True) if r >= counts.get(i, 0)]
    if unknown:
        shown = ", ".join(unknown[:3]) + (" ..." if len(unknown) > 3 else "")
        raise InvalidInput(
            f"{len(unknown)} label(s) match no logged prediction of {deployment!r} (request#row: "
            f"{shown}); take the ids from prediction_log({deployment!r}).request_id (the log is "
            "written about once a second)."
        )


# -- what a window is compared with ---------------------------------------------------------
def align_inputs(inputs: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Inputs logged without column names (one ``values`` list) get the reference's names."""
    if list(inputs.columns) != ["values"]:
        return inputs.reset_index(drop=True)
    values = inputs["values"].tolist()
    width = len(values[0]) if values and isinstance(values[0], list) else 0
    names = list(reference.columns) if width == reference.shape[1] else list(range(width))
    return pd.DataFrame(values, columns=names)


def window_metrics(
    versions: ServedVersions, version: Any, rows: pd.DataFrame, inputs: pd.DataFrame, labels
) -> tuple[dict[str, float], int, tuple[str, ...]]:
    """Model metrics on a window's labelled rows: ``(metrics, labelled rows, notes)``.

    The metrics are the evaluation module's (:func:`~jupyter_mlops.evaluation.measure.measure`,
    the gate's and ``jupyter_mlops.evaluate``'s): the served version predicts the labelled rows
    again (the same model, so the same predictions), which also gives the probability metrics
    (log loss, ROC AUC) the log does not hold. A metric not defined for a window (ROC AUC with
    one class) is left out.
    """
    if labels.empty:
        return {}, 0, ()
    keys = rows[["request_id", "row"]].reset_index()
    found = keys.merge(labels, on=["request_id", "row"], how="inner")
    if found.empty:
        return {}, 0, ()
    from jupyter_mlops.evaluation.measure import measure

    model = versions.model(version)
    X = model.ordered(inputs.loc[found["index"]])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            measured = measure(model.model, X, found["y_true"].tolist())
            return measured.metrics, len(found), ()
    except Exception as e:  # noqa: BLE001 - bad labels must not hide the drift results
        return {}, len(found), (f"metrics not computed: {type(e).__name__}: {e}",)


@dataclass(frozen=True)
class ServedModel:
    """A served version's model and its input columns, in signature order when known."""

    model: Any
    inputs: list[str] | None

    def ordered(self, frame: pd.DataFrame) -> Any:
        """``frame`` as the model takes it: its columns in signature order, or an array.

        ``inputs`` is ``None`` for a model whose signature has no column names (fitted on an
        array), and empty when the model was stored without a signature.
        """
        if list(frame.columns) == ["values"]:  # logged without column names
            return np.asarray(frame["values"].tolist())
        if self.inputs is None:
            return frame.to_numpy()
        if self.inputs and all(c in frame.columns for c in self.inputs):
            return frame[self.inputs]
        return frame


@dataclass(frozen=True)
class Reference:
    """A reference sample and the served model's predictions on it (``None``: see status)."""

    frame: pd.DataFrame
    predictions: list[Any] | None
    prediction_status: str = "ok"

    def prediction_drift(self, predicted: pd.Series) -> dict[str, Any]:
        """Logged predictions against the predictions on the reference, tested as one column.

        Returns ``status, drifted, method, statistic, p_value, threshold`` (the automatic
        choice of method: chi-square or z for classes, K-S or Wasserstein for numbers).
        """
        from jupyter_mlops.jsonable import plain as _plain
        from jupyter_mlops.monitoring.drift import detect_drift

        if self.predictions is None:
            return {"status": self.prediction_status, "drifted": None}
        report = detect_drift(
            pd.DataFrame({"prediction": self.predictions}),
            pd.DataFrame({"prediction": predicted.tolist()}),
            progress=False,
        )
        row = {k: _plain(v) for k, v in report.columns.iloc[0].items()}
        keys = ("status", "drifted", "method", "statistic", "p_value", "threshold")
        return {k: row[k] for k in keys}


class ServedVersions:
    """Models and reference samples of the versions a deployment served, each loaded once.

    Parameters
    ----------
    doc : dict
        The deployment's record (``name``, ``model_uri``).
    override : DataFrame or str, optional
        A reference sample, or a model URI whose reference to use, for every version.
    """

    def __init__(self, doc: dict[str, Any], override: Any):
        self.doc, self.override = doc, override
        self._models: dict[Any, ServedModel] = {}
        self._references: dict[Any, Reference] = {}

    def uri(self, version: int | None) -> str:
        """The model URI of one served version."""
        from jupyter_mlops.store.refs import model_name_of

        uri = self.doc["model_uri"]
        name = model_name_of(uri)
        return uri if version is None or name is None else f"models:/{name}/{version}"

    def model(self, version: int | None) -> ServedModel:
        """The version's model (hash-verified) and its input column order."""
        if version not in self._models:
            from jupyter_mlops.tracking.models import load_model, model_files

            uri = self.uri(version)
            signature = model_files(uri).signature or {}
            names = [c.get("name") for c in signature.get("inputs", [])]
            self._models[version] = ServedModel(
                load_model(uri), names if None not in names else None
            )
        return self._models[version]

    def get(self, version: int | None) -> Reference:
        """The reference sample for ``version`` and the model's predictions on it."""
        if version not in self._references:
            frame = self._frame(version)
            model = self.model(version)
            try:
                predicted = model.model.predict(model.ordered(frame))
            except Exception as e:  # noqa: BLE001 - input drift can still be tested
                status = f"skipped: the model cannot predict on the reference ({e})"
                self._references[version] = Reference(frame, None, status)
            else:
                from jupyter_mlops.serving.scoring import predictions_json

                self._references[version] = Reference(frame, predictions_json(predicted))
        return self._references[version]

    def _frame(self, version: int | None) -> pd.DataFrame:
        from jupyter_mlops.tracking.models import load_reference

        if isinstance(self.override, pd.DataFrame):
            return self.override
        uri = self.override or self.uri(version)
        try:
            return load_reference(uri)
        except NotFound as e:
            if self.override is not None:
                raise
            raise NotFound(no_reference_message(self.doc["name"], uri)) from e


def no_traffic_message(doc: dict[str, Any], since: Any) -> str:
    """Why a monitoring result is empty, and what to do."""
    when = "" if since is None else f" since {since}"
    return (
        f"No predictions logged for deployment {doc['name']!r}{when} yet: send requests to "
        f"{doc.get('url', 'its URL')}/invocations (the server writes its log every second)."
    )


def no_reference_message(deployment: str, uri: str) -> str:
    """What to do when a served version was stored without a reference sample."""
    from jupyter_mlops.store.refs import model_name_of

    name = model_name_of(uri)
    how = (
        f"register_model(model, {name!r}, reference_data=X_train)"
        if name
        else "log_model(model, reference_data=X_train)"
    )
    return (
        f"Deployment {deployment!r} served {uri}, which was stored without a reference sample, "
        f"so its traffic has nothing to be compared with. Store one with {how} and deploy that "
        "version, or pass reference= (a DataFrame or a model URI) to monitor()."
    )
