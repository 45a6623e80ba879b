"""Comparing runs: param diffs, metric summaries, the best run per metric, the runs table.

Functions take run documents as :func:`jupyter_mlops.tracking.fluent.find_runs` returns them
(the shape in :mod:`jupyter_mlops.store.base`, plus an ``"experiment"`` name) and return pandas
DataFrames; only :func:`load_runs`, :func:`reload_runs` and :func:`load_histories` read the store.
No IPython, no ipywidgets: the notebook panels and any other front end present these tables.

Cells of a run that lacks a param or metric hold ``None``; a metric that was logged as NaN
holds NaN, so a table can tell "never logged" from "logged, not a number".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jupyter_mlops.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "STATS",
    "best_runs",
    "comparison_frame",
    "guess_direction",
    "load_histories",
    "load_runs",
    "metric_keys",
    "metric_summary",
    "param_diff",
    "param_keys",
    "reload_runs",
    "run_labels",
    "runs_table",
    "sort_table",
]

Run = dict[str, Any]
STATS = ("last", "min", "max")
MIN_WORDS = frozenset(
    "loss error err mae mse rmse mape logloss duration time latency perplexity".split()
)


# -- names -------------------------------------------------------------------------------------
def guess_direction(metric: str) -> str:
    """``"min"`` when lower reads as better from the metric's name, else ``"max"``.

    Names with a word such as loss, error, mae, mse, rmse, log_loss, duration (also err, mape,
    time, latency, perplexity, or a word ending in loss/error: ``val_loss``, ``logloss``,
    ``trainError``) are minimised; scikit-learn's ``neg_*`` scores and everything else
    (accuracy, f1, auc, r2...) are maximised.

    Examples
    --------
    >>> guess_direction("val_loss"), guess_direction("accuracy"), guess_direction("neg_mse")
    ('min', 'max', 'max')
    """
    words = _words(metric)
    if words[:1] == ["neg"]:
        return "max"
    lower = any(w in MIN_WORDS or w.endswith(("loss", "error")) for w in words)
    return "min" if lower else "max"


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def run_labels(runs: Sequence[Run]) -> dict[str, str]:
    """A display label per run id: the run name, with a short id added when names repeat."""
    names = [str(run.get("run_name") or run["run_id"][:8]) for run in runs]
    counts = Counter(names)
    return {
        run["run_id"]: name if counts[name] == 1 else f"{name} ({run['run_id'][:6]})"
        for run, name in zip(runs, names, strict=True)
    }


def param_keys(runs: Iterable[Run]) -> list[str]:
    """Every param key of the runs, sorted."""
    return sorted({str(k) for run in runs for k in _section(run, "params")})


def metric_keys(runs: Iterable[Run]) -> list[str]:
    """Every metric key of the runs, sorted."""
    return sorted({str(k) for run in runs for k in _section(run, "metrics")})


def _section(run: Run, name: str) -> dict[str, Any]:
    value = run.get(name)
    return value if isinstance(value, dict) else {}


def metric_stat(run: Run, metric: str, stat: str = "last") -> float | None:
    """One summary value (``last``, ``min`` or ``max``) of a run's metric; ``None`` if absent."""
    summary = _section(run, "metrics").get(metric)
    if not isinstance(summary, dict):  # a bare number, as some writers store it
        return _number(summary)
    return _number(summary.get(stat))


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None if value is None else float(value)
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


# -- comparison tables -------------------------------------------------------------------------
def param_diff(runs: Sequence[Run], only_differences: bool = False) -> pd.DataFrame:
    """Params side by side: a row per param key, a column per run (labelled by name).

    Parameters
    ----------
    runs : sequence of dict
        Run documents.
    only_differences : bool
        Keep only the params whose values are not the same in every run (a param that some
        runs lack counts as different).

    Returns
    -------
    pandas.DataFrame
        Text values, ``None`` where a run lacks the param; index named ``param``.
    """
    import pandas as pd

    labels = run_labels(runs)
    keys = param_keys(runs)
    data = {labels[r["run_id"]]: [_section(r, "params").get(k) for k in keys] for r in runs}
    frame = pd.DataFrame(data, index=pd.Index(keys, name="param", dtype=object), dtype=object)
    if only_differences and len(frame):
        frame = frame[differing_rows(frame)]
    return frame


def differing_rows(frame: pd.DataFrame) -> list[bool]:
    """For each row, whether its values are not all the same (``None`` counts as a value)."""
    return [len({_hashable(v) for v in row}) > 1 for row in frame.itertuples(index=False)]


def _hashable(value: Any) -> Any:
    return "__nan__" if isinstance(value, float) and math.isnan(value) else str(value)


def metric_summary(runs: Sequence[Run], metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Last, min and max of each metric, a column per run (labelled by name).

    Parameters
    ----------
    runs : sequence of dict
        Run documents; their metric summaries are read, not the histories.
    metrics : sequence of str, optional
        Default: every metric of the runs.

    Returns
    -------
    pandas.DataFrame
        Index ``(metric, stat)`` with stat in ``last, min, max``; ``None`` where a run lacks
        the metric.
    """
    import pandas as pd

    labels = run_labels(runs)
    metrics = metric_keys(runs) if metrics is None else list(metrics)
    index = pd.MultiIndex.from_product([metrics, STATS], names=["metric", "stat"])
    data = {
        labels[r["run_id"]]: [metric_stat(r, m, s) for m in metrics for s in STATS] for r in runs
    }
    return pd.DataFrame(data, index=index, dtype=object)


def best_runs(
    runs: Sequence[Run],
    metrics: Sequence[str] | None = None,
    directions: Mapping[str, str] | None = None,
    stat: str = "last",
) -> pd.DataFrame:
    """The best run for each metric.

    Parameters
    ----------
    runs : sequence of dict
        Run documents.
    metrics : sequence of str, optional
        Default: every metric of the runs.
    directions : mapping, optional
        ``{metric: "max" | "min"}``; metrics not named get :func:`guess_direction`.
    stat : str
        Which summary to rank by: ``last`` (default), ``min`` or ``max``.

    Returns
    -------
    pandas.DataFrame
        Index ``metric``; columns ``direction, run_id, run, value``. Runs without a numeric
        value are ignored; ``run_id`` is ``None`` when no run has one.
    """
    import pandas as pd

    if stat not in STATS:
        raise InvalidInput(f"stat must be one of {', '.join(STATS)}, not {stat!r}.")
    labels = run_labels(runs)
    metrics = metric_keys(runs) if metrics is None else list(metrics)
    rows = []
    for metric in metrics:
        direction = _direction(metric, directions)
        run = _best(runs, metric, direction, stat)
        value = None if run is None else metric_stat(run, metric, stat)
        run_id = None if run is None else run["run_id"]
        rows.append([direction, run_id, labels.get(run_id or ""), value])
    columns = ["direction", "run_id", "run", "value"]
    return pd.DataFrame(rows, index=pd.Index(metrics, name="metric", dtype=object), columns=columns)


def _direction(metric: str, directions: Mapping[str, str] | None) -> str:
    direction = (directions or {}).get(metric) or guess_direction(metric)
    if direction not in ("max", "min"):
        message = f"The direction of {metric!r} must be 'max' or 'min', not {direction!r}."
        raise InvalidInput(message)
    return direction


def _best(runs: Sequence[Run], metric: str, direction: str, stat: str) -> Run | None:
    scored: list[tuple[float, Run]] = []
    for run in runs:
        value = metric_stat(run, metric, stat)
        if value is not None and _present(value):
            scored.append((value, run))
    if not scored:
        return None
    pick = max if direction == "max" else min
    return pick(scored, key=lambda pair: pair[0])[1]


def comparison_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """A row per run (indexed by label): ``params.*`` (text), ``metrics.*`` (last), duration.

    The input of the parallel-coordinates and scatter charts; built by the ``search_runs``
    table builder, so the values are the ones ``search_runs`` shows.
    """
    from jupyter_mlops.tracking.search import runs_to_frame

    labels = run_labels(runs)
    frame = runs_to_frame(runs)
    keep = ["duration_s"] + [c for c in frame.columns if c.startswith(("params.", "metrics."))]
    frame = frame[keep]
    frame.index = [labels[r["run_id"]] for r in runs]
    return frame


# -- the runs table ----------------------------------------------------------------------------
def runs_table(
    runs: Sequence[Run], params: Sequence[str] = (), metrics: Sequence[str] = ()
) -> pd.DataFrame:
    """The runs panel's table: a row per run, in the given order.

    Parameters
    ----------
    runs : sequence of dict
        Run documents with ``"experiment"`` names.
    params : sequence of str
        Param keys to show, as ``params.<key>`` columns.
    metrics : sequence of str
        Metric keys to show, as ``metrics.<key>.last``, ``.min`` and ``.max`` columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``run_id, run_name, experiment, status, start_time`` (UTC datetimes),
        ``duration_s`` (NaN until the run ends), ``parent_run_id``, then params and metrics.
    """
    import pandas as pd

    texts = ("run_id", "run_name", "experiment", "status")
    columns: dict[str, Any] = {key: [run.get(key) for run in runs] for key in texts}
    start = [_ms(run.get("start_time")) for run in runs]
    end = [_ms(run.get("end_time")) for run in runs]
    columns["start_time"] = pd.to_datetime(start, unit="ms", utc=True)
    columns["duration_s"] = [
        math.nan if s is None or e is None else (e - s) / 1000.0
        for s, e in zip(start, end, strict=True)
    ]
    columns["parent_run_id"] = [run.get("parent_run_id") for run in runs]
    for key in params:
        columns[f"params.{key}"] = _objects([_section(run, "params").get(key) for run in runs])
    for key in metrics:
        for stat in STATS:
            values = [metric_stat(run, key, stat) for run in runs]
            columns[f"metrics.{key}.{stat}"] = _objects(values)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(runs)))


def _objects(values: list[Any]) -> pd.Series:
    """An object column: keeps ``None`` (missing) apart from NaN (logged as NaN)."""
    import pandas as pd

    return pd.Series(values, dtype=object, index=pd.RangeIndex(len(values)))


def _ms(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and abs(number) < 9.2e12 else None


def sort_table(frame: pd.DataFrame, column: str, ascending: bool = True) -> pd.DataFrame:
    """``frame`` ordered by one column; missing values last in both directions.

    A column whose values all read as numbers (params are text: ``"0.1"``, ``"10"``) is
    ordered numerically, any other text case-insensitively. The sort is stable.
    """
    order = _sort_key(frame[column]).sort_values(
        ascending=ascending, na_position="last", kind="stable"
    )
    return frame.loc[order.index]


def _sort_key(values: pd.Series) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_float_dtype(values):
        return values
    present = values.map(lambda v: _present(v) and not (isinstance(v, str) and not v.strip()))
    numbers = pd.to_numeric(values.where(present, None), errors="coerce")
    if numbers[present].notna().all():
        return numbers
    return values.where(present, None).map(lambda v: None if v is None else str(v).lower())


# -- reading the store -------------------------------------------------------------------------
def load_runs(refs: Iterable[str]) -> list[Run]:
    """The run documents named by ``refs``: run ids, unique id prefixes or unique run names.

    Raises
    ------
    NotFound
        A reference matches no run.
    InvalidInput
        A reference matches several runs, or none was given.
    """
    from jupyter_mlops.tracking import fluent

    refs = [str(ref) for ref in refs]
    if not refs:
        raise InvalidInput("Name at least one run to compare (a run id or a run name).")
    docs = fluent.find_runs()
    by_id = {doc["run_id"]: doc for doc in docs}
    found: dict[str, Run] = {}
    for ref in refs:
        doc = by_id.get(ref) or _resolve(ref, docs)
        found.setdefault(doc["run_id"], doc)
    return list(found.values())


def _resolve(ref: str, docs: Sequence[Run]) -> Run:
    matches = [doc for doc in docs if doc.get("run_name") == ref]
    if not matches and len(ref) >= 4:
        matches = [doc for doc in docs if str(doc["run_id"]).startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        ids = ", ".join(str(doc["run_id"])[:12] for doc in matches[:5])
        raise InvalidInput(f"{ref!r} matches {len(matches)} runs ({ids}...); give a run id.")
    raise NotFound(
        f"No run {ref!r} in the store: give a run id, an id prefix or a run name "
        "(list runs with %mlops_runs)."
    )


def reload_runs(runs: Sequence[Run]) -> list[Run]:
    """The same runs as stored now (a run deleted meanwhile keeps its old document)."""
    from jupyter_mlops.store import get_store
    from jupyter_mlops.tracking import fluent

    fluent.flush()
    store = get_store()
    fresh = []
    for run in runs:
        try:
            fresh.append({**store.get_run(run["run_id"]), "experiment": run.get("experiment", "")})
        except NotFound:
            fresh.append(run)
    return fresh


def load_histories(
    runs: Sequence[Run], metrics: Sequence[str]
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """``{run_id: {metric: (steps, values)}}`` for the metrics each run has.

    Reads the store's points directly (no DataFrame per history): a comparison of 20 runs
    with 3 metrics reads 60 histories.
    """
    import numpy as np

    from jupyter_mlops.store import get_store
    from jupyter_mlops.tracking import fluent

    fluent.flush()
    store = get_store()
    histories: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for run in runs:
        logged = _section(run, "metrics")
        per_run = histories[run["run_id"]] = {}
        for metric in metrics:
            if metric in logged:
                points = store.get_metric_history(run["run_id"], metric)
                steps = np.fromiter((p[2] for p in points), dtype=float, count=len(points))
                values = np.fromiter((p[1] for p in points), dtype=float, count=len(points))
                per_run[metric] = (steps, values)
    return histories
