"""Data drift between a reference and a current DataFrame, column by column.

:func:`detect_drift` infers each column's kind (:mod:`~jupyter_mlops.monitoring.kinds`), picks a
method (:mod:`~jupyter_mlops.monitoring.methods`), tests the column and returns a
:class:`~jupyter_mlops.monitoring.report.DriftReport`.

Automatic choice of method
--------------------------
Without ``method=``, each column gets Evidently's default ("data drift algorithm"), decided on
the non-missing values of the column:

- at most 1000 reference values: two-sample Kolmogorov-Smirnov (``ks``, drift when
  ``p <= 0.05``) for numeric columns with more than 5 distinct values; chi-square (``chisquare``,
  ``p < 0.05``) for categorical columns and numeric ones with at most 5 distinct values; the
  two-proportion z-test (``z``, ``p < 0.05``) when there are at most 2 distinct values;
- more than 1000: Wasserstein distance divided by the reference standard deviation
  (``wasserstein``, drift when ``>= 0.1``) for numeric columns with more than 5 distinct values;
  Jensen-Shannon distance, natural log (``jensenshannon``, ``>= 0.1``) for the others.

Datetimes count as numeric (epoch seconds); booleans as categorical. The dataset drifts when the
share of drifted columns among the tested ones reaches ``drift_share`` (0.5).

Statuses
--------
``ok``; ``constant`` (one and the same value on both sides: not tested, not drifted);
``skipped: identifier``; ``skipped: only in reference`` / ``only in current``;
``skipped: no rows in ...`` / ``all missing in ...``; ``skipped: kind differs ...`` (a numeric
reference against non-numeric current values); ``skipped: too few values ...``; ``skipped:
<reason>`` when the method cannot test the data (a z-test on three values); ``error: ...`` when
scipy fails. Only ``ok`` and ``constant`` columns count in the drift share. Missing values
(``None``, ``NaN``, ``NaT``, and ``±inf`` in numeric columns) are dropped before the test;
``missing_ref``, ``missing_cur`` give their share on each side and ``missing_share_change`` the
difference, a signal of its own.

Speed and memory
----------------
Columns are processed one at a time: a numeric column is copied once (its finite values) and
sorted in place, a categorical one is counted with ``value_counts``; nothing else of the frames
is copied. KS and Wasserstein merge the two sorted arrays (a stable argsort of two sorted runs
is linear) and count the empirical CDFs with a cumulative sum, where scipy re-sorts and
binary-searches; the results are scipy's, bit for bit.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.monitoring import kinds as _kinds
from jupyter_mlops.monitoring.methods import (
    N_BINS,
    DriftMethod,
    NotApplicable,
    bin_counts,
    choose_method,
    distinct_sorted,
    get_method,
    nonempty,
)
from jupyter_mlops.monitoring.report import DriftReport

ProgressCallback = Callable[[int, int, str], Any]
PROGRESS_AFTER_S = 2.0


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Iterable[Any] | None = None,
    method: str | DriftMethod | Mapping[Any, str | DriftMethod] | None = None,
    threshold: float | Mapping[Any, float] | None = None,
    drift_share: float = 0.5,
    column_kinds: Mapping[Any, str] | None = None,
    progress: bool | ProgressCallback | None = None,
) -> DriftReport:
    """Test every column of ``current`` for drift away from ``reference``.

    Parameters
    ----------
    reference, current : pandas.DataFrame
        The two samples (a Series is taken as a one-column frame).
    columns : iterable, optional
        Columns to test (default: the columns of ``reference``, then those only in ``current``).
    method : str, DriftMethod or dict, optional
        A method name for every column, or a dict from column names or kinds (``"numeric"``,
        ``"categorical"``, ``"boolean"``, ``"datetime"``) to method names; a column name wins
        over its kind. Columns left out get the automatic choice (module docstring).
    threshold : float or dict, optional
        The drift threshold for every column, or by column name or kind (default: the
        method's: 0.05 for p-values, 0.1 for distances).
    drift_share : float
        Share of drifted columns (among the tested ones) at which the dataset drifts.
    column_kinds : dict, optional
        Kind overrides by column: one of ``numeric``, ``datetime``, ``boolean``,
        ``categorical``, ``identifier`` (an identifier is skipped).
    progress : bool or callable, optional
        ``None``: text progress on stderr once the run takes more than 2 s. ``True``: always;
        ``False``: never. A callable gets ``(done, total, column)`` after each column.

    Returns
    -------
    DriftReport
        ``.dataset_drift``, ``.drift_share`` and one row per column in ``.columns``.

    Raises
    ------
    InvalidInput
        Frames that are not DataFrames, duplicate or unknown columns, an unknown method or
        kind, a method that does not apply to a column's kind, or a bad threshold or share.

    Examples
    --------
    >>> report = detect_drift(train_df, live_df)  # doctest: +SKIP
    >>> report.columns[report.columns.drifted]  # doctest: +SKIP
    """
    reference, current = _frame(reference, "reference"), _frame(current, "current")
    names = _column_names(reference, current, columns)
    plan = _Plan(names, method, threshold, column_kinds, drift_share)
    kinds = plan.check_kinds(reference, current, names)
    tracker = _Progress(progress, len(names))
    rows, charts = [], {}
    try:
        for done, name in enumerate(names, 1):
            row, chart = _test_column(name, kinds[name], reference, current, plan)
            rows.append(row)
            if chart is not None:
                charts[str(name)] = chart
            tracker.step(done, str(name))
    finally:
        tracker.close()
    return DriftReport.build(rows, charts, drift_share, len(reference), len(current))


def _frame(data: Any, label: str) -> pd.DataFrame:
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(
            f"The {label} data must be a pandas DataFrame, not {type(data).__name__}."
        )
    if not data.columns.is_unique:
        dupes = sorted({str(c) for c in data.columns[data.columns.duplicated()]})
        raise InvalidInput(f"The {label} frame has duplicate columns: {', '.join(dupes)}.")
    return data


def _column_names(ref: pd.DataFrame, cur: pd.DataFrame, columns: Iterable[Any] | None) -> list:
    if columns is None:
        return list(ref.columns) + [c for c in cur.columns if c not in ref.columns]
    if isinstance(columns, (str, bytes)):
        columns = [columns]
    names = list(dict.fromkeys(columns))
    unknown = [str(c) for c in names if c not in ref.columns and c not in cur.columns]
    if unknown:
        raise InvalidInput(f"Columns in neither frame: {', '.join(unknown)}.")
    return names


class _Choice:
    """A per-column setting: one value for every column, or a dict by column name or kind."""

    def __init__(self, label: str, spec: Any, names: list, check: Callable[[Any], Any]):
        self.names, self.everywhere, self.by_key = set(names), None, {}
        if isinstance(spec, Mapping):
            _check_keys(label, spec, names, allow_kinds=True)
            self.by_key = {key: check(value) for key, value in spec.items()}
        elif spec is not None:
            self.everywhere = check(spec)

    def get(self, name: Any, kind: str) -> Any:
        """The value for column ``name`` of ``kind``: by name, else by kind, else for all."""
        if name in self.by_key:
            return self.by_key[name]
        if kind in self.by_key and kind not in self.names:
            return self.by_key[kind]
        return self.everywhere


class _Plan:
    """The caller's choices, checked once: kind, method and threshold of each column."""

    def __init__(self, names, method, threshold, column_kinds, drift_share):
        if (
            isinstance(drift_share, bool)
            or not isinstance(drift_share, (int, float))
            or not (0 < drift_share <= 1)
        ):
            raise InvalidInput(f"drift_share must be a number in (0, 1], got {drift_share!r}.")
        self.kinds = dict(column_kinds or {})
        _check_keys("column_kinds", self.kinds, names, allow_kinds=False)
        bad = {k: v for k, v in self.kinds.items() if v not in _kinds.KINDS}
        if bad:
            raise InvalidInput(f"Unknown kinds {bad}; use one of: {', '.join(_kinds.KINDS)}.")
        self.methods = _Choice("method", method, names, get_method)
        self.thresholds = _Choice("threshold", threshold, names, _check_threshold)

    def check_kinds(self, ref: pd.DataFrame, cur: pd.DataFrame, names: list) -> dict[Any, Any]:
        """Each column's kind (``None`` when in one frame only), checked against its method."""
        found: dict[Any, Any] = {}
        for name in names:
            if name not in ref.columns or name not in cur.columns:
                found[name] = None
                continue
            found[name] = self.kinds.get(name) or _infer(name, ref[name], cur[name])
            if found[name] in _kinds.TESTABLE_KINDS:
                self.method_for(name, found[name])
        return found

    def method_for(self, name: Any, kind: str) -> DriftMethod | None:
        """The method the caller chose for this column (``None``: the automatic choice)."""
        method = self.methods.get(name, kind)
        if method is not None and kind not in method.kinds:
            raise InvalidInput(
                f"Method {method.name!r} does not apply to {kind} column {name!r} (it applies to "
                f"{', '.join(sorted(method.kinds))}); give a method per kind, e.g. "
                f"method={{'numeric': {method.name!r}}}."
            )
        return method

    def threshold_for(self, name: Any, kind: str, method: DriftMethod) -> float:
        """The caller's threshold for this column, else the method's default."""
        value = self.thresholds.get(name, kind)
        return method.default_threshold if value is None else value


def _check_keys(label: str, spec: Mapping, names: list, allow_kinds: bool) -> None:
    allowed = set(names) | (set(_kinds.TESTABLE_KINDS) if allow_kinds else set())
    unknown = [str(k) for k in spec if k not in allowed]
    if unknown:
        hint = " or kinds (numeric, categorical, boolean, datetime)" if allow_kinds else ""
        raise InvalidInput(
            f"{label} names unknown columns: {', '.join(unknown)}; its keys must be tested "
            f"columns{hint}."
        )


def _check_threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"A drift threshold must be a finite number, got {value!r}.")
    return float(value)


# --- one column ------------------------------------------------------------------------------


def _test_column(name: Any, kind: str | None, ref_frame, cur_frame, plan: _Plan) -> tuple:
    row = {**_empty_row(name), "kind": kind}
    if kind is None:
        side = "reference" if name in ref_frame.columns else "current"
        return {**row, "status": f"skipped: only in {side}"}, None
    if kind == "identifier":
        return {**row, "status": "skipped: identifier"}, None
    ref_col, cur_col = ref_frame[name], cur_frame[name]
    if name not in plan.kinds and not _kinds.compatible(kind, cur_col):
        other = _infer(name, cur_col, ref_col)
        return {
            **row,
            "status": f"skipped: kind differs ({kind} in reference, {other} in current)",
        }, None
    try:
        ref, cur = _kinds.prepare(ref_col, kind), _kinds.prepare(cur_col, kind)
        row.update(_missing(ref, cur))
        status = _sample_status(ref, cur)
        row.update({"status": status} if status else _run_method(name, kind, ref, cur, plan))
        return row, _kinds.distribution(ref, cur)
    except InvalidInput:
        raise
    except Exception as e:  # noqa: BLE001 - one odd column must not end the report
        return {**row, "status": f"error: {type(e).__name__}: {e}"}, None


def _empty_row(name: Any) -> dict[str, Any]:
    nan = float("nan")
    return {
        "column": str(name), "kind": None, "method": None, "statistic": nan, "p_value": nan,
        "threshold": nan, "drifted": None, "status": "ok", "missing_ref": nan,
        "missing_cur": nan, "missing_share_change": nan, "n_ref": None, "n_cur": None,
    }  # fmt: skip


def _infer(name: Any, series: pd.Series, other: pd.Series) -> str:
    """The kind of ``series``, or of ``other`` when ``series`` is an object column of missing."""
    if pd.api.types.is_object_dtype(series.dtype) and series.isna().all() and other.notna().any():
        series = other
    return _kinds.infer_kind(series, name)


def _missing(ref: _kinds.Sample, cur: _kinds.Sample) -> dict[str, Any]:
    return {
        "missing_ref": ref.missing_share,
        "missing_cur": cur.missing_share,
        "missing_share_change": cur.missing_share - ref.missing_share,
        "n_ref": ref.n_values,
        "n_cur": cur.n_values,
    }


def _sample_status(ref: _kinds.Sample, cur: _kinds.Sample) -> str | None:
    for sample, side in ((ref, "reference"), (cur, "current")):
        if sample.n_rows == 0:
            return f"skipped: no rows in {side}"
    empty = [side for s, side in ((ref, "reference"), (cur, "current")) if s.n_values == 0]
    if empty:
        return f"skipped: all missing in {' and '.join(empty)}"
    return None


def _run_method(name, kind, ref: _kinds.Sample, cur: _kinds.Sample, plan: _Plan) -> dict:
    distinct = _distinct_values(ref, cur)
    method = plan.method_for(name, kind)
    if distinct == 1:
        return {"status": "constant", "drifted": False, "method": method and method.name}
    if method is None:
        method = choose_method(kind, ref.n_values, distinct)
    threshold = plan.threshold_for(name, kind, method)
    result = {"method": method.name, "threshold": threshold}
    fewest = min(ref.n_values, cur.n_values)
    if fewest < method.min_values:
        return {
            **result,
            "status": f"skipped: too few values ({fewest}; {method.name} "
            f"needs {method.min_values} on each side)",
        }
    return {**result, **_compute(method, _inputs(method, ref, cur), threshold)}


def _distinct_values(ref: _kinds.Sample, cur: _kinds.Sample) -> int:
    """Distinct non-missing values on both sides, exact up to ``N_BINS``, else ``N_BINS + 1``."""
    if ref.values is not None and cur.values is not None:
        ref_u, cur_u = distinct_sorted(ref.values, N_BINS), distinct_sorted(cur.values, N_BINS)
        if ref_u is None or cur_u is None:
            return N_BINS + 1
        return len(np.union1d(ref_u, cur_u))
    return len(_categories(ref, cur))


def _categories(ref: _kinds.Sample, cur: _kinds.Sample) -> set[Any]:
    return set(ref.category_counts.index) | set(cur.category_counts.index)


def _inputs(method: DriftMethod, ref: _kinds.Sample, cur: _kinds.Sample) -> tuple:
    if method.input == "values":
        return ref.values, cur.values
    if ref.values is not None and cur.values is not None:
        return bin_counts(ref.values, cur.values)
    categories = _kinds.sorted_categories(_categories(ref, cur))
    aligned = [
        s.category_counts.reindex(categories, fill_value=0).to_numpy(np.int64) for s in (ref, cur)
    ]
    return nonempty(*aligned)


def _compute(method: DriftMethod, inputs: tuple, threshold: float) -> dict[str, Any]:
    try:
        statistic, p_value = method.compute(*inputs)
    except NotApplicable as e:
        return {"status": f"skipped: {e}"}
    except Exception as e:  # noqa: BLE001 - a column's failure must not end the report
        return {"status": f"error: {type(e).__name__}: {e}"}
    p_value = float("nan") if p_value is None else float(p_value)
    if not math.isfinite(method.score(statistic, p_value)):
        return {"statistic": statistic, "p_value": p_value, "status": "error: score is not finite"}
    drifted = method.is_drift(statistic, p_value, threshold)
    return {"statistic": float(statistic), "p_value": p_value, "drifted": drifted}


# --- progress --------------------------------------------------------------------------------


class _Progress:
    """Progress after each column: a callback, or one rewritten line of text on stderr."""

    def __init__(self, progress: bool | ProgressCallback | None, total: int):
        self.callback = progress if callable(progress) else None
        self.text = progress is not False and self.callback is None
        self.delay = 0.0 if progress is True else PROGRESS_AFTER_S
        self.total, self.start, self.shown = total, time.monotonic(), False

    def step(self, done: int, column: str) -> None:
        if self.callback is not None:
            self.callback(done, self.total, column)
            return
        elapsed = time.monotonic() - self.start
        if self.text and elapsed >= self.delay:
            line = f"\rdrift: {done}/{self.total} columns, {elapsed:.1f} s ({column[:40]})"
            print(line.ljust(72), end="", file=sys.stderr, flush=True)
            self.shown = True

    def close(self) -> None:
        if self.shown:
            print(file=sys.stderr, flush=True)
