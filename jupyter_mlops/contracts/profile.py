"""``profile(df)``: a data contract inferred from the data, so that every row of it passes.

Per column: the kind (as drift monitoring infers it,
:func:`~jupyter_mlops.monitoring.kinds.infer_kind`) and dtype; ``nullable`` when any value is
missing; the observed range of numeric and datetime columns (infinite values widen it to
``±inf``); the allowed categories of string, category and object columns with at most
``max_categories`` distinct values (declared categories of a ``category`` dtype win over
observed ones); ``unique`` for identifiers whose values are all distinct. The profile beside
the rules records the missing share, the distinct count, the quantiles, mean and standard
deviation, or the most frequent values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from jupyter_mlops.contracts.model import ColumnContract, DataContract
from jupyter_mlops.errors import InvalidInput

MAX_CATEGORIES = 50
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
TOP_VALUES = 10


def as_frame(data: Any, what: str = "the data") -> pd.DataFrame:
    """``data`` (DataFrame, Series, 2-D array or list of rows) as a DataFrame."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if not isinstance(data, np.ndarray):
        try:
            return pd.DataFrame(data)  # lists of rows or of records, dicts of columns
        except Exception as e:
            raise InvalidInput(f"Cannot read {what} ({type(data).__name__}) as a table.") from e
    array = data
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise InvalidInput(f"{what} must be a table (2-D), not an array of shape {array.shape}.")
    return pd.DataFrame(array)


def profile(
    data: Any, name: str | None = None, max_categories: int = MAX_CATEGORIES
) -> DataContract:
    """Infer a :class:`DataContract` from ``data``; every row of ``data`` satisfies it.

    Parameters
    ----------
    data : pandas.DataFrame, Series, 2-D array or list of rows
        The data to learn from — for a model, the whole training data.
    name : str, optional
        The dataset's name, kept in ``contract.source``.
    max_categories : int, default 50
        Columns with more distinct values get no ``categories`` rule.

    Returns
    -------
    DataContract
        Edit it in place (``contract["age"].range(0, 120)``) and save it with ``.save(path)``.

    Examples
    --------
    >>> contract = mlops.profile(train_df)
    >>> contract["age"].range(0, 120)
    >>> contract.save("contract.yaml")
    """
    if (
        isinstance(max_categories, bool)
        or not isinstance(max_categories, int)
        or max_categories < 0
    ):
        raise InvalidInput(f"max_categories must be a whole number ≥ 0, not {max_categories!r}.")
    frame = as_frame(data)
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise InvalidInput(f"The data has column {twice!r} twice; rename one before profiling.")
    columns = [
        profile_column(frame.iloc[:, i], names[i], max_categories) for i in range(len(names))
    ]
    source = {"dataset": name} if name else {}
    return DataContract(columns, rows=len(frame), source=source)


def profile_column(
    series: pd.Series, name: str, max_categories: int = MAX_CATEGORIES
) -> ColumnContract:
    """The :class:`ColumnContract` of one column, rules and profile."""
    from jupyter_mlops.monitoring.kinds import infer_kind

    kind = infer_kind(series, name)
    missing = int(series.isna().sum())
    rows = len(series)
    stats: dict[str, Any] = {
        "rows": rows,
        "missing": missing,
        "missing_share": round(missing / rows, 6) if rows else 0.0,
    }
    column = ColumnContract(
        name=name,
        kind=kind,
        dtype=str(series.dtype),
        integer=kind == "numeric" and pd.api.types.is_integer_dtype(series.dtype),
        allow_null=missing > 0,
        stats=stats,
    )
    distinct: int | None
    if kind == "numeric":
        distinct = _numeric(series, column)
    elif kind == "datetime":
        distinct = _datetime(series, column)
    elif kind == "identifier":
        distinct = _distinct(series)
    else:
        distinct = _categorical(series, column, max_categories)
    stats["distinct"] = distinct
    stats["unique"] = distinct is not None and distinct == rows - missing
    if kind == "identifier":
        column.is_unique = bool(stats["unique"]) and rows - missing > 1
    return column


def _distinct(series: pd.Series) -> int | None:
    try:
        return int(series.nunique(dropna=True))
    except TypeError:  # unhashable cells (lists, dicts)
        return None


def _numeric(series: pd.Series, column: ColumnContract) -> int:
    """Range and statistics; returns the distinct count (one sort serves both)."""
    from jupyter_mlops.monitoring.kinds import as_float

    values = as_float(series)
    present = np.sort(values[~np.isnan(values)])
    if not len(present):
        return 0
    distinct = int(np.count_nonzero(present[1:] != present[:-1])) + 1
    finite = present[np.isfinite(present)]
    low, high = float(present[0]), float(present[-1])
    if column.integer:
        column.range(int(low), int(high))
    else:
        column.range(low, high)
    if len(finite):
        qs = _sorted_quantiles(finite, QUANTILES)
        column.stats.update(
            min=column.min_value,
            max=column.max_value,
            mean=round(float(finite.mean()), 6),
            std=round(float(finite.std()), 6),
            quantiles={
                f"p{round(q * 100):02d}": float(v) for q, v in zip(QUANTILES, qs, strict=True)
            },
        )
    return distinct


def _sorted_quantiles(values: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """Numpy's default (linear) quantiles of already sorted ``values``, without a new pass."""
    at = np.asarray(qs) * (len(values) - 1)
    below = np.floor(at).astype(int)
    above = np.minimum(below + 1, len(values) - 1)
    return values[below] + (values[above] - values[below]) * (at - below)


def _datetime(series: pd.Series, column: ColumnContract) -> int | None:
    present = series.dropna()
    if len(present):
        column.range(present.min(), present.max())
        column.stats.update(min=column.min_value, max=column.max_value)
    return _distinct(present)


def _categorical(series: pd.Series, column: ColumnContract, cap: int) -> int | None:
    """Top values and the allowed categories; returns the distinct count."""
    try:
        counts = series.value_counts(dropna=True)
    except TypeError:  # unhashable cells (lists, dicts)
        return None
    counts = counts[counts > 0]
    column.stats["top"] = {str(k): int(v) for k, v in counts.head(TOP_VALUES).items()}
    if column.kind == "boolean":
        return len(counts)
    declared = series.cat.categories if isinstance(series.dtype, pd.CategoricalDtype) else None
    values = list(declared) if declared is not None and len(declared) <= cap else list(counts.index)
    if len(values) <= cap and _all_scalars(values):
        from jupyter_mlops.monitoring.kinds import sorted_categories

        column.categories(sorted_categories(values))
    return len(counts)


def _all_scalars(values: list[Any]) -> bool:
    return all(
        isinstance(v.item() if hasattr(v, "item") else v, (str, int, float, bool)) for v in values
    )
