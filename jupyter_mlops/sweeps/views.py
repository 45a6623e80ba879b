"""A sweep as the panels and the sidebar show it, read from the store (no Optuna needed).

Trials are the child runs tagged ``mlops.sweep.role=trial``; the parent run carries the metric,
direction, space and state. One :class:`SweepView` feeds the kernel panel, its static fallback
and the ``GET sweeps/<name>`` route alike: best so far, optimization history, parallel
coordinates, parameter importances, train/validation gaps and the overfitting flags.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.errors import NotFound
from jupyter_mlops.sweeps import overfit
from jupyter_mlops.tracking import fluent

MIN_IMPORTANCE_TRIALS = 4


@dataclass(frozen=True)
class TrialRow:
    """One trial as stored."""

    number: int
    run_id: str
    run_name: str
    state: str
    status: str
    value: float | None
    params: dict[str, str]
    metrics: dict[str, float]
    duration_s: float | None
    start_time: int
    gap: float | None = None
    overfit: str = ""
    error: str = ""


@dataclass(frozen=True)
class SweepView:
    """Everything the sweep views draw."""

    name: str
    experiment: str
    parent_run_id: str
    metric: str
    direction: str
    state: str
    budget: int | None
    space: dict[str, str]
    trials: tuple[TrialRow, ...]
    pair: overfit.MetricPair | None = None
    importances: dict[str, float] = field(default_factory=dict)

    @property
    def best(self) -> TrialRow | None:
        """The best complete trial."""
        done = [t for t in self.trials if t.state == "complete" and t.value is not None]
        if not done:
            return None
        pick = min if self.direction == "minimize" else max
        return pick(done, key=lambda t: t.value)  # type: ignore[arg-type, return-value]

    def counts(self) -> dict[str, int]:
        """Trials per state."""
        out: dict[str, int] = {}
        for t in self.trials:
            out[t.state] = out.get(t.state, 0) + 1
        return out

    def history(self) -> list[dict[str, Any]]:
        """Per trial in order: its value and the best value so far (complete trials)."""
        best: float | None = None
        out = []
        better = (lambda a, b: a < b) if self.direction == "minimize" else (lambda a, b: a > b)
        for t in sorted(self.trials, key=lambda t: t.number):
            if t.state == "complete" and t.value is not None:
                best = t.value if best is None or better(t.value, best) else best
            out.append({"number": t.number, "state": t.state, "value": t.value, "best": best})
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON the sidebar reads (same keys as the attributes)."""
        best = self.best
        return {
            "name": self.name,
            "experiment": self.experiment,
            "parent_run_id": self.parent_run_id,
            "metric": self.metric,
            "direction": self.direction,
            "state": self.state,
            "budget": self.budget,
            "space": self.space,
            "counts": self.counts(),
            "best": None if best is None else _row_dict(best),
            "history": self.history(),
            "importances": self.importances,
            "pair": None if self.pair is None else vars(self.pair),
            "trials": [_row_dict(t) for t in self.trials],
        }


def list_sweeps(experiment: str | None = None) -> list[dict[str, Any]]:
    """Every sweep (its parent run): name, experiment, state, metric, trial count, best value."""
    query = "tags.`mlops.sweep.role` = 'parent'"
    try:
        parents = fluent.find_runs(None if experiment is None else [experiment], query)
    except NotFound:
        return []
    out = []
    for doc in sorted(parents, key=lambda r: r.get("start_time") or 0, reverse=True):
        tags, metrics = doc.get("tags", {}), doc.get("metrics", {})
        metric = tags.get("mlops.sweep.metric", "")
        out.append(
            {
                "name": tags.get("mlops.sweep.name", doc.get("run_name", "")),
                "experiment": doc.get("experiment", ""),
                "parent_run_id": doc["run_id"],
                "state": _parent_state(doc),
                "metric": metric,
                "direction": tags.get("mlops.sweep.direction", "minimize"),
                "budget": _int(tags.get("mlops.sweep.trials")),
                "best_value": _last(metrics.get(metric)),
                "start_time": doc.get("start_time"),
            }
        )
    return out


def load_sweep(name: str, experiment: str | None = None, importances: bool = True) -> SweepView:
    """The sweep ``name`` with every trial (``NotFound`` names the sweeps there are)."""
    from jupyter_mlops.sweeps.runner import find_parent

    parent = find_parent(name, experiment)
    if parent is None:
        known = ", ".join(sorted({s["name"] for s in list_sweeps()})) or "none yet"
        raise NotFound(f"No sweep named {name!r} (sweeps: {known}). Start one with %%mlops_sweep.")
    tags = parent.get("tags", {})
    metric = tags.get("mlops.sweep.metric", "")
    query = f"tags.`mlops.sweep.name` = '{name}' and tags.`mlops.sweep.role` = 'trial'"
    docs = fluent.find_runs([parent["experiment"]], query)
    docs = [d for d in docs if d.get("parent_run_id") in (None, parent["run_id"])]
    pair = overfit.find_pair({k for d in docs for k in d.get("metrics", {})})
    rows = tuple(sorted((_row(d, metric, pair) for d in docs), key=lambda t: t.number))
    view = SweepView(
        name=name,
        experiment=parent["experiment"],
        parent_run_id=parent["run_id"],
        metric=metric,
        direction=tags.get("mlops.sweep.direction", "minimize"),
        state=_parent_state(parent),
        budget=_int(tags.get("mlops.sweep.trials")),
        space=_space(tags.get("mlops.sweep.space")),
        trials=rows,
        pair=pair,
    )
    if importances:
        view = SweepView(**{**vars(view), "importances": param_importances(view)})
    return view


def best_trial(name: str, experiment: str | None = None) -> fluent.Run:
    """The best complete trial of sweep ``name`` as a run (``.uri`` for ``%mlops_register``)."""
    view = load_sweep(name, experiment, importances=False)
    best = view.best
    if best is None:
        raise NotFound(f"Sweep {name!r} has no complete trial yet ({_counts_text(view)}).")
    return fluent.get_run(best.run_id)


def param_importances(view: SweepView) -> dict[str, float]:
    """How much each param explains the metric over the complete trials (sums to 1).

    A random forest's impurity importances on the params (log params on a log scale, a choice
    one-hot with its columns summed back), as optuna-dashboard's fANOVA view estimates them;
    deterministic (fixed seed). Empty below :data:`MIN_IMPORTANCE_TRIALS` trials.
    """
    done = [t for t in view.trials if t.state == "complete" and t.value is not None]
    names = list(view.space)
    if len(done) < MIN_IMPORTANCE_TRIALS or not names:
        return {}
    columns, owners = _encode(done, names, view.space)
    if not columns:
        return {}
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    x = np.array(columns, dtype=float).T
    y = np.array([t.value for t in done], dtype=float)
    if np.ptp(y) == 0:
        return {n: 0.0 for n in names}
    forest = RandomForestRegressor(n_estimators=64, max_depth=6, random_state=0, n_jobs=1)
    forest.fit(x, y)
    scores = dict.fromkeys(names, 0.0)
    for owner, score in zip(owners, forest.feature_importances_, strict=True):
        scores[owner] += float(score)
    total = sum(scores.values()) or 1.0
    return dict(sorted(((k, v / total) for k, v in scores.items()), key=lambda kv: -kv[1]))


def _encode(
    trials: list[TrialRow], names: list[str], space: dict[str, str]
) -> tuple[list[list[float]], list[str]]:
    columns: list[list[float]] = []
    owners: list[str] = []
    for name in names:
        values = [t.params.get(name) for t in trials]
        numbers = [_float(v) for v in values]
        if space.get(name, "").startswith("choice") or any(n is None for n in numbers):
            for level in sorted({str(v) for v in values}):
                columns.append([1.0 if str(v) == level else 0.0 for v in values])
                owners.append(name)
            continue
        log = space.get(name, "").startswith("log")
        known = [n or 0.0 for n in numbers]
        columns.append([math.log10(n) if log and n > 0 else n for n in known])
        owners.append(name)
    return columns, owners


def _row(doc: dict[str, Any], metric: str, pair: overfit.MetricPair | None) -> TrialRow:
    tags, metrics = doc.get("tags", {}), doc.get("metrics", {})
    last = {k: _last(v) for k, v in metrics.items()}
    state = tags.get("mlops.sweep.state", "running")
    if state == "running" and doc.get("status") in ("KILLED", "FAILED"):
        state = "interrupted" if doc.get("status") == "KILLED" else "failed"
    value = last.get(metric)
    gap = (
        None if pair is None else overfit.gap(pair, last.get(pair.train), last.get(pair.validation))
    )
    return TrialRow(
        number=_int(tags.get("mlops.sweep.trial")) or 0,
        run_id=doc["run_id"],
        run_name=doc.get("run_name", ""),
        state=state,
        status=doc.get("status", ""),
        value=value,
        params=dict(doc.get("params", {})),
        metrics={k: v for k, v in last.items() if v is not None},
        duration_s=last.get("duration_s"),
        start_time=doc.get("start_time") or 0,
        gap=gap,
        overfit=tags.get("mlops.sweep.overfit", ""),
        error=tags.get("mlops.error", "") or tags.get("mlops.sweep.pruned", ""),
    )


def _row_dict(row: TrialRow) -> dict[str, Any]:
    return dict(vars(row))


def _parent_state(doc: dict[str, Any]) -> str:
    state = doc.get("tags", {}).get("mlops.sweep.state", "running")
    if state == "running" and doc.get("status") != "RUNNING":
        return "interrupted"  # its kernel died mid-sweep: re-running the cell continues it
    return state


def _space(text: str | None) -> dict[str, str]:
    try:
        space = json.loads(text or "{}")
    except ValueError:
        return {}
    return space if isinstance(space, dict) else {}


def _counts_text(view: SweepView) -> str:
    return ", ".join(f"{n} {k}" for k, n in view.counts().items()) or "no trials"


def _last(summary: Any) -> float | None:
    if isinstance(summary, dict):
        summary = summary.get("last")
    return _float(summary)


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
