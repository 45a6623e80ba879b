"""Column kinds and the per-column samples the drift methods work on.

A column's kind decides which methods apply and how its values are prepared:

``numeric``
    Integer and float columns (``bool`` excluded). Values become ``float64``.
``datetime``
    ``datetime64`` columns (timezone-aware ones are converted to UTC first). Values become
    seconds since the Unix epoch (``float64``), then are treated exactly like ``numeric``.
``boolean``
    ``bool`` / ``boolean`` columns and object columns that hold only ``True``/``False``.
``categorical``
    Strings, ``category`` and any other object column: each distinct value is a category.
``identifier``
    An integer or string column whose name looks like an ID (``id``, ``user_id``, ``orderId``,
    ``uuid``...) and whose reference values are all distinct. It is never tested: its status
    is ``"skipped: identifier"``.

Missing values are ``None``, ``NaN``, ``NaT``, ``pd.NA`` and, in numeric and datetime columns,
``+inf`` and ``-inf``: they are counted (``Sample.n_missing``) and dropped before any test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

KINDS = ("numeric", "datetime", "boolean", "categorical", "identifier")
#: Kinds whose values are numbers on a line (KS, Wasserstein... apply).
NUMERIC_KINDS = frozenset({"numeric", "datetime"})
#: Kinds that can be tested at all.
TESTABLE_KINDS = frozenset({"numeric", "datetime", "boolean", "categorical"})

_ID_NAME = re.compile(r"(?i:(?:^|[_\W])(?:id|uuid|guid)$)|[a-z0-9](?:Id|ID|Uuid|UUID)$")
_EPOCH = np.datetime64(0, "s")


@dataclass(frozen=True)
class Sample:
    """One side (reference or current) of one column, ready for the methods.

    Attributes
    ----------
    n_rows : int
        Rows of the frame, missing values included.
    n_missing : int
        Missing values (``None``, ``NaN``, ``NaT``, ``±inf``), dropped from the test.
    values : numpy.ndarray or None
        Numeric and datetime kinds: the non-missing values as sorted ``float64``.
    counts : pandas.Series or None
        Boolean and categorical kinds: count of each non-missing value (index = value).
    """

    n_rows: int
    n_missing: int
    values: np.ndarray | None = None
    counts: pd.Series | None = None

    @property
    def n_values(self) -> int:
        """Values that take part in the test."""
        return self.n_rows - self.n_missing

    @property
    def category_counts(self) -> pd.Series:
        """``counts``, for a boolean or categorical sample."""
        if self.counts is None:
            raise TypeError("A numeric sample has values, not category counts.")
        return self.counts

    @property
    def missing_share(self) -> float:
        """Share of missing values (0.0 for an empty column)."""
        return self.n_missing / self.n_rows if self.n_rows else 0.0


def infer_kind(series: pd.Series, name: Any = None) -> str:
    """The kind of a column, from its dtype, its values and its name.

    Parameters
    ----------
    series : pandas.Series
        The column (its reference side: that is what defines the kind).
    name : object, optional
        The column name (default: ``series.name``), used to recognize identifiers.

    Returns
    -------
    str
        One of :data:`KINDS`.
    """
    name = series.name if name is None else name
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        if pd.api.types.is_integer_dtype(dtype) and _looks_like_id(series, name):
            return "identifier"
        return "numeric"
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if _only_booleans(series):
        return "boolean"
    if _looks_like_id(series, name):
        return "identifier"
    return "categorical"


def _looks_like_id(series: pd.Series, name: Any) -> bool:
    if not isinstance(name, str) or not _ID_NAME.search(name):
        return False
    values = series.dropna()
    if len(values) < 2:
        return False
    try:
        return bool(values.is_unique)
    except TypeError:  # unhashable cells
        return False


def _only_booleans(series: pd.Series) -> bool:
    if not pd.api.types.is_object_dtype(series.dtype):
        return False
    present = series.notna().to_numpy()
    if not present.any() or not isinstance(series.iloc[int(present.argmax())], (bool, np.bool_)):
        return False
    return all(isinstance(v, (bool, np.bool_)) for v in series.dropna().unique())


def compatible(kind: str, series: pd.Series) -> bool:
    """Whether ``series`` (the current side) can be read as a column of an inferred ``kind``."""
    if kind not in NUMERIC_KINDS or series.isna().all():
        return True
    dtype = series.dtype
    if kind == "datetime":
        return pd.api.types.is_datetime64_any_dtype(dtype)
    if pd.api.types.is_bool_dtype(dtype):
        return False
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return True
    if not pd.api.types.is_object_dtype(dtype):
        return False
    return all(_is_number(v) for v in series.dropna().unique())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def prepare(series: pd.Series, kind: str) -> Sample:
    """The :class:`Sample` of one side of a column of ``kind``.

    Numeric and datetime values are copied once (only the finite ones) and sorted in place;
    categories are counted with ``value_counts``. Nothing else of the frame is copied.
    """
    if kind == "datetime" and not pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = pd.to_datetime(series, errors="coerce", utc=True)  # a forced kind
    if kind in NUMERIC_KINDS:
        return _numeric_sample(series)
    if pd.api.types.is_object_dtype(series.dtype):
        series = series.replace([np.inf, -np.inf], np.nan)
    counts = series.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]
    n_values = int(counts.sum())
    return Sample(len(series), len(series) - n_values, counts=counts)


def _numeric_sample(series: pd.Series) -> Sample:
    raw = as_float(series)
    finite = np.isfinite(raw)
    values = raw[finite] if not finite.all() else raw.copy()
    values.sort()
    return Sample(len(raw), len(raw) - len(values), values=values)


def as_float(series: pd.Series) -> np.ndarray:
    """A column's values as ``float64`` (datetimes as epoch seconds, missing as ``NaN``).

    A ``float64`` column comes back as a view of the frame's data, not a copy.
    """
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if getattr(dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        stamps = series.to_numpy(dtype="datetime64[ns]")
        return (stamps - _EPOCH) / np.timedelta64(1, "s")
    if pd.api.types.is_timedelta64_dtype(dtype):
        return series.to_numpy(dtype="timedelta64[ns]") / np.timedelta64(1, "s")
    if dtype == np.float64:
        return series.to_numpy()
    if not pd.api.types.is_numeric_dtype(dtype):  # strings of a column forced to numeric
        series = pd.to_numeric(series, errors="coerce")
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def sorted_categories(values: Iterable[Any]) -> list[Any]:
    """The categories in a reproducible order: natural order, else by ``repr``."""
    items = list(values)
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


HISTOGRAM_BINS = 30
TOP_CATEGORIES = 20
OTHER = "(other)"


def distribution(ref: Sample, cur: Sample) -> dict[str, Any]:
    """Chart data of one column: a shared-bins histogram or bars of the top categories.

    Returns
    -------
    dict
        ``{"type": "histogram", "edges": [...31 floats], "reference": [...30 counts],
        "current": [...]}`` for numeric and datetime columns (equal-width bins over the range of
        both sides, last bin closed like ``numpy.histogram``), or ``{"type": "bars",
        "categories": [...], "reference": [...], "current": [...]}`` with the
        :data:`TOP_CATEGORIES` most frequent values and ``"(other)"`` for the rest.
    """
    if ref.values is not None and cur.values is not None:
        return _histogram(ref.values, cur.values)
    return _bars(ref.counts, cur.counts)


def _histogram(ref: np.ndarray, cur: np.ndarray) -> dict[str, Any]:
    ends = [a[i] for a in (ref, cur) if len(a) for i in (0, -1)]
    lo, hi = (min(ends), max(ends)) if ends else (0.0, 1.0)
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
    return {
        "type": "histogram",
        "edges": edges.tolist(),
        "reference": _counts_in(ref, edges),
        "current": _counts_in(cur, edges),
    }


def _counts_in(values: np.ndarray, edges: np.ndarray) -> list[int]:
    bounds = np.searchsorted(values, edges, "left")
    bounds[-1] = len(values)  # the last bin is closed on the right
    return np.diff(bounds).tolist()


def _bars(ref: pd.Series | None, cur: pd.Series | None) -> dict[str, Any]:
    empty = pd.Series(dtype="int64")
    table = pd.concat(
        {"r": empty if ref is None else ref, "c": empty if cur is None else cur}, axis=1
    )
    table = table.fillna(0).astype("int64")
    order = (table["r"] + table["c"]).sort_values(ascending=False, kind="stable").index
    top, rest = order[:TOP_CATEGORIES], order[TOP_CATEGORIES:]
    categories = [str(c) for c in top]
    ref_counts, cur_counts = table.loc[top, "r"].tolist(), table.loc[top, "c"].tolist()
    if len(rest):
        categories.append(OTHER)
        ref_counts.append(int(table.loc[rest, "r"].sum()))
        cur_counts.append(int(table.loc[rest, "c"].sum()))
    return {
        "type": "bars",
        "categories": categories,
        "reference": ref_counts,
        "current": cur_counts,
    }
