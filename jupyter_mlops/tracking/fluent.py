"""The tracking API, named as in MLflow: ``start_run``, ``log_metric``, ``search_runs``...

A process has a stack of active runs (nested runs push onto it). Metric points go through a
:class:`~jupyter_mlops.tracking.buffer.MetricBuffer`; everything else is written at once.
"""

from __future__ import annotations

import functools
import getpass
import os
import random
import socket
import sys
import time
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.processes import process_start_time
from jupyter_mlops.store import get_store
from jupyter_mlops.tracking.session import MetricListener, session

if TYPE_CHECKING:
    import pandas as pd

    from jupyter_mlops.store.base import Store

STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")
MAX_PARAM_CHARS = 6000
MAX_KEY_CHARS = 250
DEFAULT_EXPERIMENT = "Default"
_ADJECTIVES = "amber bold brave calm clever eager fast gentle keen lucid merry noble quick sharp steady swift tidy vivid wise".split()  # noqa: E501
"""Called as ``listener(run_id, key, value, step)`` after each ``log_metric`` point is queued."""
_ANIMALS = "ant bee cat crane deer dove eel fox hare hawk ibis lynx mole newt owl puma seal wolf yak".split()  # noqa: E501


@dataclass(frozen=True)
class Run:
    """A run as stored: its attributes, params, metrics (last values), tags and records."""

    id: str
    name: str
    experiment: str
    experiment_id: str
    status: str
    start_time: int
    end_time: int | None = None
    parent_run_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    datasets: list[dict[str, Any]] = field(default_factory=list)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_doc(cls, doc: dict[str, Any], experiment: str) -> Run:
        """Build from a store document."""
        return cls(
            id=doc["run_id"],
            name=doc.get("run_name", ""),
            experiment=experiment,
            experiment_id=doc["experiment_id"],
            status=doc.get("status", "RUNNING"),
            start_time=doc.get("start_time", 0),
            end_time=doc.get("end_time"),
            parent_run_id=doc.get("parent_run_id"),
            params=dict(doc.get("params", {})),
            metrics={k: m.get("last") for k, m in doc.get("metrics", {}).items()},
            tags=dict(doc.get("tags", {})),
            datasets=list(doc.get("datasets", [])),
            artifacts=dict(doc.get("artifacts", {})),
        )

    @property
    def uri(self) -> str:
        """``runs:/<id>`` — append an artifact path to point inside the run."""
        return f"runs:/{self.id}"


class ActiveRun:
    """The handle ``start_run`` returns; a context manager that ends the run on exit.

    An exception inside the ``with`` block marks the run FAILED (KILLED for Ctrl-C), records the
    error in the ``mlops.error`` tag, and still propagates.
    """

    def __init__(self, run_id: str, name: str, experiment: str):
        self.id = run_id
        self.name = name
        self.experiment = experiment

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            status = "FINISHED"
        else:
            status = "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED"
            if _tracker.current(self.id) is not None:
                set_tag("mlops.error", f"{exc_type.__name__}: {exc}"[:MAX_PARAM_CHARS])
        end_run(status, run_id=self.id)

    @property
    def info(self) -> Run:
        """The run as stored now."""
        return get_run(self.id)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.name!r} id={self.id} experiment={self.experiment!r}>"


_tracker = session()
"""The tracking session (kept under its old name; use :func:`~.session.session`)."""
_valid_keys: set[str] = set()


# -- experiments ----------------------------------------------------------------------------
def set_experiment(name: str) -> dict[str, Any]:
    """Make ``name`` the experiment of runs started from now on (created if missing)."""
    _check_name(name, "experiment name")
    experiment = get_store().get_or_create_experiment(name)
    _tracker.experiment = name
    return experiment


def _experiment_name(explicit: str | None) -> str:
    return (
        explicit
        or _tracker.experiment
        or os.environ.get("JUPYTER_MLOPS_EXPERIMENT")
        or DEFAULT_EXPERIMENT
    )


# -- runs -----------------------------------------------------------------------------------
def start_run(
    name: str | None = None,
    experiment: str | None = None,
    tags: dict[str, Any] | None = None,
    nested: bool = False,
    run_id: str | None = None,
    system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a run and make it active; use it as ``with start_run(...) as run:``.

    Parameters
    ----------
    name : str, optional
        Run name; a readable one (``swift-owl-42``) is generated when omitted.
    experiment : str, optional
        Experiment name (default: the parent's for a nested run, else ``set_experiment``'s,
        then ``Default``).
    tags : dict, optional
        Tags to set at once.
    nested : bool
        Start a child of the active run. Without it, an active run is finished first, with a
        notice, instead of failing with "already active".
    run_id : str, optional
        Resume this existing run instead (as MLflow's ``run_id=``): it is RUNNING again and
        active; ``name`` and ``experiment`` are ignored, ``tags`` are added.
    system_metrics : bool, optional
        Sample CPU, memory, disk, network and GPU in the background while the run is active
        (:mod:`jupyter_mlops.tracking.system_metrics`; needs psutil).
    """
    if system_metrics:
        from jupyter_mlops.tracking.system_metrics import require_psutil

        require_psutil()  # before the run exists: a missing package leaves nothing behind
    if run_id is not None:
        active = _resume_run(str(run_id), tags or {})
        _start_extras(active, bool(system_metrics))
        return active
    parent = _tracker.current()
    if parent is not None and not nested:
        print(
            f"jupyter_mlops: finished run {parent.name!r} ({parent.id}) before starting a new one"
        )
        end_run()
        parent = None
    if nested and parent is None:
        raise InvalidInput("start_run(nested=True) needs an active run to nest under.")
    exp_name = _experiment_name(experiment or (parent.experiment if parent else None))
    _check_name(exp_name, "experiment name")
    store = get_store()
    exp = store.get_or_create_experiment(exp_name)
    run_id = uuid.uuid4().hex
    run_name = str(name) if name else generate_run_name()
    doc = {
        "run_id": run_id,
        "run_name": run_name,
        "experiment_id": exp["experiment_id"],
        "experiment": exp_name,  # denormalized (experiments are never renamed): search reads it
        "status": "RUNNING",
        "start_time": _now_ms(),
        "end_time": None,
        "parent_run_id": parent.id if parent else None,
        "params": {},
        "metrics": {},
        "tags": {**_default_tags(), **_stringify(tags or {}, "tag")},
        "datasets": [],
        "artifacts": {},
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "proc_start": process_start_time(os.getpid()),
    }
    if parent:
        doc["tags"]["mlops.parentRunId"] = parent.id
    run_id = store.create_run(doc)["run_id"]  # a server backend assigns its own ids
    active = ActiveRun(run_id, run_name, exp_name)
    _tracker.stack.append(active)
    for hook in list(_tracker.run_hooks):
        try:
            extra = hook(active)
        except Exception as e:  # a context probe must never stop a run from starting
            warnings.warn(f"jupyter_mlops: run context capture failed: {e}", stacklevel=2)
        else:
            if extra:
                store.set_tags(run_id, extra)
    _start_extras(active, bool(system_metrics))
    return active


def _resume_run(run_id: str, tags: dict[str, Any]) -> ActiveRun:
    store = get_store()
    doc = store.get_run(run_id)
    pid = os.getpid()  # this process owns it now: a dead one's run is shown KILLED
    store.update_run(
        run_id,
        status="RUNNING",
        end_time=None,
        pid=pid,
        host=socket.gethostname(),
        proc_start=process_start_time(pid),
    )
    if tags:
        store.set_tags(run_id, _stringify(tags, "tag"))
    name = doc.get("experiment") or _experiment_names(store).get(doc["experiment_id"], "")
    active = ActiveRun(run_id, doc.get("run_name", ""), name)
    _tracker.stack.append(active)
    return active


def _start_extras(run: ActiveRun, system_metrics: bool) -> None:
    """Hooks of other modules (SummaryWriter capture: ``session().start_hooks``), system metrics."""
    for hook in list(_tracker.start_hooks):
        hook()
    if system_metrics:
        from jupyter_mlops.tracking import system_metrics as monitor

        monitor.start(run.id)


def active_run() -> ActiveRun | None:
    """The innermost active run, or ``None``."""
    return _tracker.current()


def end_run(status: str = "FINISHED", run_id: str | None = None) -> None:
    """End the active run (or ``run_id`` and any runs nested in it) with ``status``."""
    status = str(status).upper()
    if status not in STATUSES[1:]:
        raise InvalidInput(f"Status must be one of FINISHED, FAILED, KILLED, not {status!r}.")
    target = _tracker.current(run_id)
    if target is None:
        return
    store = get_store()
    ended = []
    while _tracker.stack:
        run = _tracker.stack.pop()
        ended.append(run.id)
        if run is target:
            break
    end_time = _now_ms()
    monitor = sys.modules.get("jupyter_mlops.tracking.system_metrics")
    if monitor is not None:
        monitor.stop(ended)
    if store.remote:  # sent after the run's points, by the flush thread: a slow server can wait
        buffer = _tracker.buffer()
        for run_id in ended:
            buffer.defer(
                functools.partial(store.update_run, run_id, status=status, end_time=end_time)
            )
        _tracker.flush(remote_wait=0)
        return
    _tracker.flush()
    for run_id in ended:
        store.update_run(run_id, status=status, end_time=end_time)


def active_or_start_run() -> ActiveRun:
    """The active run, or a new one (what every ``log_*`` call logs into)."""
    run = _tracker.current()
    return run if run is not None else start_run()


_active_or_start = active_or_start_run


def get_run(run_id: str) -> Run:
    """A run by id, with its params, metrics (last values) and tags."""
    _tracker.flush()
    store = get_store()
    doc = store.get_run(str(run_id))
    name = doc.get("experiment") or _experiment_names(store).get(doc["experiment_id"], "")
    return Run.from_doc(doc, name)


def _experiment_names(store: Store) -> dict[str, str]:
    return {exp_id: e["name"] for exp_id, e in store.documents("experiments").items()}


# -- params, tags ---------------------------------------------------------------------------
def log_param(key: str, value: Any) -> Any:
    """Log a param of the active run; params are write-once (same value again is fine)."""
    log_params({key: value})
    return value


def log_params(params: dict[str, Any]) -> None:
    """Log several params at once."""
    run = _active_or_start()
    get_store().log_params(run.id, _stringify(params, "param"))


def set_tag(key: str, value: Any) -> None:
    """Set a tag of the active run (tags can be overwritten)."""
    set_tags({key: value})


def set_tags(tags: dict[str, Any]) -> None:
    """Set several tags at once."""
    run = _active_or_start()
    get_store().set_tags(run.id, _stringify(tags, "tag"))


def _text(key: str, value: Any, what: str) -> str:
    try:
        return str(value)
    except ValueError as e:  # an integer of more than 4,300 digits, for one
        raise InvalidInput(f"The {what} {key!r} cannot be written as text: {e}.") from None


def _stringify(values: dict[str, Any], what: str) -> dict[str, str]:
    if not isinstance(values, dict):
        raise InvalidInput(f"{what}s must be given as a dict, not {type(values).__name__}.")
    out = {}
    for key, value in values.items():
        _check_key(key, what)
        text = value if isinstance(value, str) else _text(key, value, what)
        if len(text) > MAX_PARAM_CHARS:
            raise InvalidInput(
                f"The value of {what} {key!r} has {len(text)} characters (limit {MAX_PARAM_CHARS}, "
                "as in MLflow). Log long text with log_text() instead."
            )
        out[key] = text
    return out


# -- metrics --------------------------------------------------------------------------------
def log_metric(
    key: str, value: float, step: int | None = None, timestamp: int | None = None
) -> None:
    """Log one metric point (buffered: microseconds per call).

    ``step`` defaults to the number of points already logged for ``key`` in this run, so a
    metric logged once per epoch gets steps 0, 1, 2... (MLflow would log them all at step 0).
    ``timestamp`` is in milliseconds since the epoch (default: now).
    """
    run = _tracker.stack[-1] if _tracker.stack else _active_or_start()
    if key not in _valid_keys:
        _check_key(key, "metric")
        _valid_keys.add(key)
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"Metric {key!r} must be a number, not {value!r:.60}.") from None
    except OverflowError:
        raise InvalidInput(f"Metric {key!r} is out of range for a 64-bit float.") from None
    counter = (run.id, key)
    if step is None:
        step = _tracker.steps.get(counter, 0)
    elif not isinstance(step, int):
        step = _as_int(step, "step")
    _tracker.steps[counter] = step + 1
    ts = int(time.time() * 1000) if timestamp is None else _as_int(timestamp, "timestamp")
    _tracker.buffer().add(run.id, (key, value, step, ts))
    for listener in _tracker.metric_listeners:
        listener(run.id, key, value, step)


def add_metric_listener(listener: MetricListener) -> None:
    """Call ``listener(run_id, key, value, step)`` after every ``log_metric`` point.

    A listener may raise to stop the caller (a sweep's pruner raises ``TrialPruned`` this way);
    the point is queued before it is called.
    """
    if listener not in _tracker.metric_listeners:
        _tracker.metric_listeners.append(listener)


def remove_metric_listener(listener: MetricListener) -> None:
    """Undo :func:`add_metric_listener` (no error when it was not added)."""
    if listener in _tracker.metric_listeners:
        _tracker.metric_listeners.remove(listener)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Log several metrics at the same step."""
    for key, value in metrics.items():
        log_metric(key, value, step=step)


def get_metric_history(run_id: str, key: str) -> pd.DataFrame:
    """Every point of a metric as a DataFrame with columns ``step, value, timestamp``."""
    import pandas as pd

    _tracker.flush()
    points = get_store().get_metric_history(str(run_id), key)
    return pd.DataFrame(
        {
            "step": [p[2] for p in points],
            "value": [p[1] for p in points],
            "timestamp": [p[3] for p in points],
        },
        columns=["step", "value", "timestamp"],
    )


def flush() -> None:
    """Write buffered metric points now (runs ending and cells ending do this too).

    On a remote store (an MLflow server) this waits ``REMOTE_WAIT_S`` at most; what is not
    through by then keeps going in the background.
    """
    _tracker.flush()


def flush_soon() -> None:
    """Start writing buffered points without waiting for a remote store (a cell's end)."""
    _tracker.flush(remote_wait=0)


# -- search ---------------------------------------------------------------------------------
def search_runs(
    experiments: str | Iterable[str] | None = None,
    filter: str | None = None,  # noqa: A002 - MLflow's name
    order_by: str | list[str] | None = None,
    max_results: int | None = None,
) -> pd.DataFrame:
    """Runs matching a filter in MLflow's dialect (plus OR, parentheses, IN, IS NULL).

    Returns a DataFrame with ``run_id, experiment, run_name, status, start_time, end_time,
    duration_s`` then ``params.*``, ``metrics.*`` and ``tags.*`` columns.
    """
    from jupyter_mlops.tracking import search

    return search.runs_to_frame(find_runs(experiments, filter, order_by, max_results))


def find_runs(
    experiments: str | Iterable[str] | None = None,
    filter: str | None = None,  # noqa: A002 - MLflow's name
    order_by: str | list[str] | None = None,
    max_results: int | None = None,
) -> list[dict[str, Any]]:
    """Like :func:`search_runs`, but the matching run documents (each with ``experiment``)."""
    from jupyter_mlops.tracking import search

    _tracker.flush()
    store = get_store()
    ids = None if experiments is None else _experiment_ids(store, experiments)
    hint = search.server_filter(filter) if store.remote else None
    rows = store.list_runs(ids, hint)
    if any("experiment" not in r for r in rows):  # runs written before names were stored
        names = _experiment_names(store)
        rows = [
            r if "experiment" in r else {**r, "experiment": names.get(r["experiment_id"], "")}
            for r in rows
        ]
    if max_results is not None and (not isinstance(max_results, int) or max_results < 0):
        raise InvalidInput(f"max_results must be a non-negative integer, not {max_results!r}.")
    return search.search(rows, filter, order_by, max_results)


def _experiment_ids(store: Store, experiments: str | Iterable[str]) -> list[str]:
    wanted = [experiments] if isinstance(experiments, str) else list(experiments)
    ids = []
    for name in wanted:
        found = store.find_experiment(name)
        if found is None:
            known = ", ".join(sorted(_experiment_names(store).values())) or "none yet"
            raise NotFound(f"No experiment named {name!r} (experiments: {known}).")
        ids.append(found["experiment_id"])
    return ids


# -- helpers --------------------------------------------------------------------------------
def _default_tags() -> dict[str, str]:
    tags = {"mlops.user": _user(), "mlops.host": socket.gethostname()}
    argv0 = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if argv0 and argv0 not in ("ipykernel_launcher.py", "-c"):
        tags["mlops.source.name"] = os.path.abspath(sys.argv[0])
        tags["mlops.source.type"] = "LOCAL"
    return tags


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return str(os.getuid())


def _check_key(key: Any, what: str = "key") -> None:
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput(f"A {what} key must be a non-empty string, not {key!r}.")
    if len(key) > MAX_KEY_CHARS or any(c in key for c in "\t\n\r"):
        raise InvalidInput(
            f"Invalid {what} key {key[:60]!r}: at most {MAX_KEY_CHARS} characters, "
            "no tabs or line breaks."
        )


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"The {what} must be a non-empty string, not {name!r}.")


def _as_int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"The metric {what} must be an integer, not {value!r}.") from None


def generate_run_name() -> str:
    """A readable random run name (``brave-otter-42``)."""
    rng = random.Random()
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_ANIMALS)}-{rng.randint(1, 999)}"


def _now_ms() -> int:
    return int(time.time() * 1000)
