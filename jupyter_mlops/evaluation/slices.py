"""Metrics per slice of the evaluation data: where the model is weakest.

A slice is the rows holding one value of a column (categorical columns, booleans, and numeric
columns with at most :data:`MAX_VALUES` distinct values), or one quantile bin of a numeric column
(:data:`QUANTILE_BINS` bins, ``pandas.qcut``; equal edges merged); missing values are a slice of
their own. Each slice gets the task's slice metrics, as the metric table defines them:
``accuracy`` then ``f1`` for classes (accuracy first: it still means something in a slice
without positives, where F1 is 0), ``rmse`` then ``mae`` for regression. Its **shortfall** is
how far its primary metric (the first) falls below the whole data's, in the metric's own
direction (positive = worse). Slices are ordered by shortfall, worst first.

A slice is **flagged** when its shortfall exceeds :data:`FLAG_SHARE` (10 %) of the whole's
value (for a whole of 0, any shortfall) and it has at least :data:`MIN_ROWS` rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.evaluation import metrics as _m

MAX_VALUES = 10
QUANTILE_BINS = 4
FLAG_SHARE = 0.10
MIN_ROWS = 20
SLICE_METRICS = {
    "binary": ("accuracy", "f1"),
    "multiclass": ("accuracy", "f1"),
    "regression": ("rmse", "mae"),
}
COLUMNS = ["column", "slice", "rows", "share", "metric", "value", "whole", "shortfall", "flagged"]


def slice_table(
    X: Any, columns: Iterable[Any], task: str, labels: _m.Labels, whole: dict[str, float]
) -> pd.DataFrame:
    """The slices of ``columns``, worst first.

    One row per slice: ``column, slice, rows, share, metric, value, whole, shortfall, flagged``
    and the other slice metrics.
    """
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
    names = SLICE_METRICS[task]
    rows = []
    for column in _columns(frame, columns):
        for label, mask in groups(frame[column]):
            rows.append(_row(column, label, mask, task, labels, whole, names))
    table = pd.DataFrame(rows, columns=[*COLUMNS, *names[1:]])
    if table.empty:
        return table
    return table.sort_values("shortfall", ascending=False, kind="stable").reset_index(drop=True)


def _columns(frame: pd.DataFrame, columns: Iterable[Any]) -> list[Any]:
    wanted = [columns] if isinstance(columns, (str, int)) else list(columns)
    known = {str(c): c for c in frame.columns}
    out = []
    for name in wanted:
        if name in frame.columns:
            out.append(name)
        elif str(name) in known:
            out.append(known[str(name)])
        else:
            shown = ", ".join(map(str, list(frame.columns)[:20]))
            raise InvalidInput(f"Cannot slice by {name!r}: X has no such column ({shown}).")
    return out


def groups(series: pd.Series) -> list[tuple[str, np.ndarray]]:
    """``(label, row mask)`` per slice of one column (values or quantile bins, then missing)."""
    values = series.to_numpy()
    missing = series.isna().to_numpy()
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    distinct = series.nunique(dropna=True)
    if numeric and distinct > MAX_VALUES:
        groups = _bins(series)
    else:
        groups = [
            (f"= {value}", (values == value) & ~missing)
            for value in sorted(series.dropna().unique().tolist(), key=_order)
        ]
    if missing.any():
        groups.append(("is missing", missing))
    return [(label, mask) for label, mask in groups if mask.any()]


def _order(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))


def _bins(series: pd.Series) -> list[tuple[str, np.ndarray]]:
    codes, edges = pd.qcut(series, QUANTILE_BINS, labels=False, retbins=True, duplicates="drop")
    codes = codes.to_numpy()
    out = []
    for i in range(len(edges) - 1):
        close = "]" if i == len(edges) - 2 else ")"
        out.append((f"in [{edges[i]:.4g}, {edges[i + 1]:.4g}{close}", codes == i))
    return out


def _row(
    column: Any,
    label: str,
    mask: np.ndarray,
    task: str,
    labels: _m.Labels,
    whole: dict[str, float],
    names: tuple[str, ...],
) -> dict[str, Any]:
    values, _ = _m.compute(task, labels.subset(mask), names)
    primary = names[0]
    value, base = values.get(primary, float("nan")), whole.get(primary, float("nan"))
    better = _m.METRICS[primary].greater_is_better
    shortfall = (base - value) if better else (value - base)
    size = int(mask.sum())
    limit = FLAG_SHARE * abs(base)
    flagged = bool(size >= MIN_ROWS and shortfall > limit) if shortfall == shortfall else False
    row = {
        "column": str(column),
        "slice": label,
        "rows": size,
        "share": size / len(mask),
        "metric": primary,
        "value": value,
        "whole": base,
        "shortfall": shortfall,
        "flagged": flagged,
    }
    row.update({name: values.get(name, float("nan")) for name in names[1:]})
    return row
