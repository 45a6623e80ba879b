"""Contract checks on the request path of the model server.

A :class:`RequestChecker` compiles a contract once (at model load) into one small function per
column, so a request of a few rows is checked with plain Python comparisons on the values the
request already holds — no DataFrame, no numpy pass per column. Requests of more than
:data:`VECTOR_ROWS` rows use the vectorised :func:`~jupyter_mlops.contracts.validate.check_frame`
instead. Only row rules apply to requests (``type``, ``not_null``, ``range``, ``categories``,
``present``): ``max_missing`` and ``unique`` are about batches, see ``validate``.

:class:`ViolationCounter` keeps the counts the server shows in ``/metrics``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jupyter_mlops.contracts.model import ColumnContract, DataContract
from jupyter_mlops.errors import InvalidInput

VECTOR_ROWS = 64
ON_VIOLATION = ("count", "reject")
_Check = Callable[[Any], "str | None"]


def check_on_violation(value: Any) -> str:
    """``value`` if it is ``"count"`` or ``"reject"``, else one clear error."""
    if value not in ON_VIOLATION:
        raise InvalidInput(
            f"on_violation must be 'count' (serve and count violations) or 'reject' (answer "
            f"4xx naming the column and rule), not {value!r}."
        )
    return str(value)


@dataclass(frozen=True)
class Violation:
    """The first value of a request breaking one rule of one column."""

    column: str
    rule: str
    row: int
    value: Any
    rule_text: str

    @property
    def message(self) -> str:
        """The 4xx message: which column, which rule, which value."""
        return (
            f"Column {self.column!r} breaks its data contract: {self.value!r} (row {self.row}) "
            f"fails {self.rule} — {self.rule_text}."
        )


@dataclass(frozen=True)
class RequestCheck:
    """What one request broke.

    Attributes
    ----------
    rows : int
        Rows checked.
    counts : dict
        ``(column, rule) → violating rows``.
    per_row : tuple of tuple of str or None
        For each row the ``"column:rule"`` it breaks (for the prediction log); ``None`` when
        the request is clean.
    first : Violation or None
        The first violation, for the error message.
    """

    rows: int
    counts: dict[tuple[str, str], int]
    per_row: tuple[tuple[str, ...], ...] | None = None
    first: Violation | None = None

    @property
    def ok(self) -> bool:
        """No rule broken."""
        return self.first is None

    @property
    def message(self) -> str:
        """The first violation in words, plus how many more."""
        if self.first is None:
            return "The request keeps the data contract."
        more = sum(self.counts.values()) - 1
        extra = f" ({more} more violation{'s' * (more != 1)} in this request)" if more > 0 else ""
        return self.first.message + extra


class RequestChecker:
    """A contract compiled for requests.

    Parameters
    ----------
    contract : DataContract
        The served version's contract.
    order : list of str, optional
        Column names of unnamed rows (``instances`` as lists, arrays): the signature's order;
        default the contract's.
    """

    def __init__(self, contract: DataContract, order: list[str] | None = None) -> None:
        self.contract = contract
        self.order = list(order) if order else contract.columns
        self._checks = [(c.name, _compile(c), c) for c in contract]

    def check(self, data: Any, columns: list[Any] | None = None) -> RequestCheck:
        """Check a request: rows as lists (``columns`` names them), an array or a DataFrame."""
        import numpy as np
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            if len(data) > VECTOR_ROWS:
                return self._vectorised(data)
            return self.check_rows(frame_rows(data), list(data.columns))
        if isinstance(data, np.ndarray):
            if len(data) > VECTOR_ROWS:
                return self._vectorised(pd.DataFrame(data, columns=self.order[: data.shape[1]]))
            return self.check_rows(data.tolist(), None)
        names = columns if columns is not None else getattr(data, "columns", None)
        return self.check_rows(data, names)

    def check_rows(self, rows: list[Any], columns: list[Any] | None) -> RequestCheck:
        """Check rows given as lists of values in ``columns`` order (default :attr:`order`)."""
        names = self.order if columns is None else [str(c) for c in columns]
        position = {n: i for i, n in enumerate(names)}
        counts: dict[tuple[str, str], int] = {}
        per_row: list[tuple[str, ...]] = []
        first: Violation | None = None
        for r, row in enumerate(rows):
            broken: list[str] = []
            for name, check, column in self._checks:
                i = position.get(name)
                if i is None or not isinstance(row, (list, tuple)) or i >= len(row):
                    rule = None if column.is_optional else "present"
                    value = None
                else:
                    value = row[i]
                    rule = check(value)
                if rule is None:
                    continue
                broken.append(f"{name}:{rule}")
                counts[(name, rule)] = counts.get((name, rule), 0) + 1
                if first is None:
                    first = Violation(name, rule, r, value, _rule_text(column, rule))
            per_row.append(tuple(broken))
        if first is None:
            return RequestCheck(len(rows), {})
        return RequestCheck(len(rows), counts, tuple(per_row), first)

    def _vectorised(self, frame: Any) -> RequestCheck:
        import numpy as np

        from jupyter_mlops.contracts.validate import column_checks

        by_name = {str(c): i for i, c in enumerate(frame.columns)}
        counts: dict[tuple[str, str], int] = {}
        marks: list[list[str]] = [[] for _ in range(len(frame))]
        first: Violation | None = None
        for column in self.contract:
            i = by_name.get(column.name)
            series = None if i is None else frame.iloc[:, i]
            for result, mask in column_checks(series, column, frame.index, batch_rules=False):
                if result.passed or mask is None:
                    continue
                counts[(column.name, result.check)] = result.failed
                for r in np.flatnonzero(mask):
                    marks[r].append(f"{column.name}:{result.check}")
                if first is None:
                    example: dict[str, Any] = (
                        result.examples[0] if result.examples else {"row": 0, "value": None}
                    )
                    first = Violation(
                        column.name,
                        result.check,
                        int(example["row"]),
                        example["value"],
                        result.rule,
                    )
        if first is None:
            return RequestCheck(len(frame), {})
        return RequestCheck(len(frame), counts, tuple(map(tuple, marks)), first)


def frame_rows(frame: Any) -> list[list[Any]]:
    """A small DataFrame's rows as lists of Python values, cheaply.

    Reading pandas' blocks column by column is several times faster than
    ``frame.to_numpy(dtype=object)`` for a one-row mixed frame (the cost of every
    ``dataframe_records`` request); any surprise in the block layout falls back to it.
    """
    columns: list[Any] = [None] * frame.shape[1]
    try:
        for block in frame._mgr.blocks:
            values, locs = block.values, block.mgr_locs.as_array
            if getattr(values, "ndim", 1) == 1:
                columns[int(locs[0])] = values.tolist()
            else:
                for loc, column in zip(locs, values.tolist(), strict=True):
                    columns[int(loc)] = column
        if any(c is None or len(c) != len(frame) for c in columns):
            raise ValueError("unexpected block layout")
        return [list(row) for row in zip(*columns, strict=True)]
    except Exception:
        return frame.to_numpy(dtype=object).tolist()


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return value != value  # NaN, NaT
    except Exception:  # pd.NA refuses to be a bool; an array is not a missing scalar
        return type(value).__name__ == "NAType"


def _compile(column: ColumnContract) -> _Check:
    """One function ``value → broken rule or None`` for ``column``'s row rules."""
    body = _KIND_CHECKS.get(column.kind, _any_value)(column)
    allow_null = column.allow_null

    def check(value: Any) -> str | None:
        if _missing(value):
            return None if allow_null else "not_null"
        return body(value)

    return check


def _numeric(column: ColumnContract) -> _Check:
    low = -math.inf if column.min_value is None else column.min_value
    high = math.inf if column.max_value is None else column.max_value
    integer, allowed = column.integer, _allowed(column)

    def check(value: Any) -> str | None:
        kind = type(value)
        if kind is not float and kind is not int and not _is_number(value):
            return "type"
        if integer and kind is not int and not float(value).is_integer():
            return "type"
        if not low <= value <= high:
            return "range"
        return _outside(value, allowed)

    return check


def _datetime(column: ColumnContract) -> _Check:
    import numpy as np

    low = None if column.min_value is None else np.datetime64(column.min_value, "ns")
    high = None if column.max_value is None else np.datetime64(column.max_value, "ns")

    def check(value: Any) -> str | None:
        stamp = _as_datetime(value)
        if stamp is None:
            return "type"
        if (low is not None and stamp < low) or (high is not None and stamp > high):
            return "range"
        return None

    return check


def _boolean(column: ColumnContract) -> _Check:
    import numpy as np

    allowed = _allowed(column)

    def check(value: Any) -> str | None:
        if type(value) is not bool and not isinstance(value, np.bool_):
            return "type"
        return _outside(value, allowed)

    return check


def _any_value(column: ColumnContract) -> _Check:
    allowed = _allowed(column)
    return lambda value: _outside(value, allowed)


def _allowed(column: ColumnContract) -> frozenset[Any] | None:
    return None if column.value_set is None else frozenset(column.value_set)


def _outside(value: Any, allowed: frozenset[Any] | None) -> str | None:
    if allowed is None:
        return None
    try:
        return None if value in allowed else "categories"
    except TypeError:  # unhashable
        return "categories"


def _is_number(value: Any) -> bool:
    import numpy as np

    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _as_datetime(value: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(value, (int, float, bool)):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return np.datetime64(stamp.value, "ns")


_KIND_CHECKS: dict[str, Callable[[ColumnContract], _Check]] = {
    "numeric": _numeric,
    "datetime": _datetime,
    "boolean": _boolean,
}


def _rule_text(column: ColumnContract, rule: str) -> str:
    if rule == "present":
        return "the column is missing from the request"
    if rule == "not_null":
        return "no missing values allowed"
    if rule == "type":
        names = {"datetime": "dates/times", "boolean": "true/false"}
        names["numeric"] = "whole numbers" if column.integer else "numbers"
        return names.get(column.kind, column.kind)
    if rule == "range":
        low = "-inf" if column.min_value is None else column.min_value
        high = "inf" if column.max_value is None else column.max_value
        return f"allowed range [{low}, {high}]"
    values = list(column.value_set or [])
    shown = ", ".join(map(repr, values[:10])) + (", ..." if len(values) > 10 else "")
    return f"allowed categories {shown}"


class ViolationCounter:
    """Counts for ``/metrics``: rows checked, rows violating, violations per column and rule."""

    def __init__(self) -> None:
        self.rows_checked = 0
        self.rows_violating = 0
        self.rejected_requests = 0
        self.by_rule: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def add(self, result: RequestCheck, rejected: bool = False) -> None:
        """Count one checked request."""
        with self._lock:
            self.rows_checked += result.rows
            self.rejected_requests += int(rejected)
            if result.per_row is None:
                return
            self.rows_violating += sum(1 for marks in result.per_row if marks)
            for key, count in result.counts.items():
                self.by_rule[key] = self.by_rule.get(key, 0) + count

    def prometheus(self, labels: str = "") -> list[str]:
        """Prometheus text lines; ``labels`` (``'model="m",version="1"'``) go on each sample."""
        sep = "," if labels else ""
        with self._lock:
            lines = [
                "# HELP mlops_contract_violations_total Request values breaking the served "
                "version's data contract, by column and rule.",
                "# TYPE mlops_contract_violations_total counter",
            ]
            for (column, rule), count in sorted(self.by_rule.items()):
                lines.append(
                    f'mlops_contract_violations_total{{{labels}{sep}column="{_label(column)}",'
                    f'rule="{rule}"}} {count}'
                )
            for name, value, text in (
                ("rows_checked", self.rows_checked, "Request rows checked against the contract."),
                ("rows_violating", self.rows_violating, "Request rows breaking a contract rule."),
                (
                    "rejected_requests",
                    self.rejected_requests,
                    "Requests refused (on_violation=reject).",
                ),
            ):
                lines += [
                    f"# HELP mlops_contract_{name}_total {text}",
                    f"# TYPE mlops_contract_{name}_total counter",
                    f"mlops_contract_{name}_total{{{labels}}} {value}",
                ]
        return lines


def _label(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def checker_for(
    contract: DataContract | None, signature: dict[str, Any] | None
) -> RequestChecker | None:
    """A :class:`RequestChecker` for a served model (``None`` without a contract).

    Unnamed rows (``instances`` as lists, the array fast path) are in the signature's order.
    Only the columns the model takes are checked: a contract profiled from a wider frame (say,
    with the label) must not fail every request for a column no request carries.
    """
    if contract is None:
        return None
    names = [c.get("name") for c in (signature or {}).get("inputs", [])]
    if not names or None in names:
        return RequestChecker(contract)
    order = [str(n) for n in names]
    taken = [c for c in contract if c.name in set(order)]
    if len(taken) != len(contract):
        contract = DataContract(taken, rows=contract.rows, source=contract.source)
    return RequestChecker(contract, order)


class ContractGuard:
    """What a model server does with its contract: check, count, and reject if asked.

    Parameters
    ----------
    on_violation : {"count", "reject"}
        ``"count"`` serves every request and counts violations; ``"reject"`` answers a request
        that breaks a rule with a 4xx naming the column and the rule.
    """

    def __init__(self, on_violation: str = "count") -> None:
        self.on_violation = check_on_violation(on_violation)
        self.counter = ViolationCounter()

    def check(self, checker: RequestChecker | None, data: Any, frame: Any) -> RequestCheck | None:
        """Check one request (``data`` as parsed, ``frame`` as conformed to the signature)."""
        from jupyter_mlops.errors import ContractViolation

        if checker is None:
            return None
        result = checker.check(data if isinstance(data, list) else frame)
        rejected = not result.ok and self.on_violation == "reject"
        self.counter.add(result, rejected)
        if rejected:
            raise ContractViolation(result.message, result)
        return result

    def metrics(self, labels: str) -> list[str]:
        """The ``/metrics`` lines (see :meth:`ViolationCounter.prometheus`)."""
        return self.counter.prometheus(labels)
