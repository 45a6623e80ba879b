"""``EvaluationReport``: what :func:`~jupyter_mlops.evaluation.core.evaluate` found."""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.evaluation.metrics import METRICS
from jupyter_mlops.evaluation.slices import COLUMNS


@dataclass
class EvaluationReport:
    """Metrics of one model on one data set, with slices, baseline, thresholds and plots.

    Attributes
    ----------
    name : str
        The data set's name (``test`` unless given), also the prefix of the logged metrics.
    task : str
        ``binary``, ``multiclass`` or ``regression``.
    metrics : dict
        ``{metric: value}`` as :mod:`~jupyter_mlops.evaluation.metrics` defines them.
    slices : pandas.DataFrame
        Per slice of the chosen columns, worst first (:mod:`~jupyter_mlops.evaluation.slices`).
    thresholds : list of dict
        One result per threshold: ``check, metric, passed, value, threshold, baseline, detail``.
    baseline : dict or None
        ``{"model": label, "metrics": {...}}`` of the baseline model on the same data.
    fit : dict or None
        Training against test metrics and learning-curve flags
        (:mod:`~jupyter_mlops.evaluation.fit`).
    production : dict or None
        The test set against a deployment's recent traffic
        (:func:`~jupyter_mlops.evaluation.production.compare_to_production`).
    notes : dict
        Why metrics of the task are missing (not defined for this data).
    plot_data : dict
        What :meth:`plot` draws (thinned curves; stored with the report).
    model, rows, run_id, evaluation_id, time
        The model's label or URI, the rows evaluated, the run the metrics were logged to, an
        id, and when (epoch ms).
    """

    name: str
    task: str
    metrics: dict[str, float]
    slices: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=COLUMNS))
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    baseline: dict[str, Any] | None = None
    fit: dict[str, Any] | None = None
    production: dict[str, Any] | None = None
    notes: dict[str, str] = field(default_factory=dict)
    plot_data: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    rows: int = 0
    run_id: str | None = None
    evaluation_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    time: int = field(default_factory=lambda: int(time.time() * 1000))

    @property
    def passed(self) -> bool:
        """Every threshold held (``True`` when none was given)."""
        return all(result["passed"] for result in self.thresholds)

    @property
    def flagged_slices(self) -> pd.DataFrame:
        """The slices flagged as falling short of the whole."""
        if self.slices.empty:
            return self.slices
        return self.slices[self.slices["flagged"].astype(bool)].reset_index(drop=True)

    @property
    def definitions(self) -> dict[str, str]:
        """How each reported metric is computed (its averaging), from the metric table."""
        return {
            name: METRICS[name].definition(self.task) for name in self.metrics if name in METRICS
        }

    def summary(self) -> str:
        """One line: the task, rows, the first metrics and the verdict on the thresholds."""
        shown = ", ".join(f"{k} {v:.4g}" for k, v in list(self.metrics.items())[:4])
        verdict = ""
        if self.thresholds:
            failed = sum(not r["passed"] for r in self.thresholds)
            verdict = "; passed" if not failed else f"; FAILED {failed} of {len(self.thresholds)}"
        return f"{self.name}: {self.task}, {self.rows} rows: {shown}{verdict}"

    def __repr__(self) -> str:
        return f"<EvaluationReport {self.summary()}>"

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON types (``None`` for missing values, never NaN)."""
        data = {k: v for k, v in self.__dict__.items() if k != "slices"}
        data["slices"] = [
            {k: _plain(v) for k, v in row.items()} for row in self.slices.to_dict("records")
        ]
        data["passed"] = self.passed
        data["definitions"] = self.definitions
        return _json(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationReport:
        """The report that :meth:`to_dict` gave ``data`` (as stored with a model version)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        slices = pd.DataFrame(data.get("slices") or [], columns=None)
        return cls(**{**known, "slices": slices if len(slices) else pd.DataFrame(columns=COLUMNS)})

    def plot(self, name: str | None = None) -> Any:
        """A matplotlib Figure (``name``: ``roc``, ``confusion_matrix``...) or all, by name."""
        from jupyter_mlops.evaluation import plots

        figures = plots.figures(self.plot_data) if name is None else None
        if figures is not None:
            return figures
        drawn = {key for key, (source, _) in plots.DRAW.items() if source in self.plot_data}
        if name not in drawn:
            raise InvalidInput(
                f"No plot {name!r} in this report (plots: {', '.join(sorted(drawn))})."
            )
        source, draw = plots.DRAW[name]
        return draw(self.plot_data[source])

    def _repr_html_(self) -> str:
        from jupyter_mlops.evaluation.html import report_html

        return report_html(self)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return _plain(value)
