"""MLflow's scoring protocol: request bodies to DataFrames, checked against a signature.

Accepted bodies: CSV (``text/csv``, a header row then one row per line, as
``DataFrame.to_csv`` writes it, read by pandas), or JSON with exactly one of:

- ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}``
- ``{"dataframe_records": [{"col": value, ...}, ...]}``
- ``{"instances": [...]}`` — rows as objects, or as lists for a model without column names
- ``{"inputs": ...}`` — like ``instances``, or ``{"col": [values...]}``

Columns are MLflow's: a model whose signature names its columns takes rows as lists only with
those names (``dataframe_split``'s ``columns``; bare rows in ``instances``/``inputs`` name no
column and are refused, except a flat list of values for a one-column signature), a missing
column is named, and an extra column is ignored.

:func:`read_request` is the one place where a request is parsed and checked: every problem
raises :class:`~jupyter_mlops.errors.InvalidInput` with a message naming it, which the HTTP
layer turns into a 400 JSON body (MLflow's ``BAD_REQUEST``) — a
:class:`~jupyter_mlops.errors.SchemaError` (MLflow's ``INVALID_PARAMETER_VALUE``) when the
body's columns or shape do not fit the signature (a missing column, bare rows, no rows).
Numbers must fit a 64-bit float (a 1,000-digit integer, ``1e999`` or ``Infinity`` is refused),
``NaN`` is a missing value where a column may have one (not in ``long``, ``integer`` or
``boolean`` columns), and values of integer columns must be whole and within their type's range.
JSON nested deeper than the decoder allows is refused too.
"""

from __future__ import annotations

import json
import math
from typing import Any

from jupyter_mlops.errors import InvalidInput, SchemaError

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
NUMERIC = {"double", "float", "long", "integer"}
INTEGER_RANGE = {"long": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}
_MAX_DIGITS = 300  # 1e308 is the largest double


def read_request(
    body: bytes, signature: dict[str, Any] | None, as_array: bool = False, csv: bool = False
) -> tuple[Any, Any]:
    """The parsed request and what ``predict`` takes from it, checked against ``signature``.

    Parameters
    ----------
    csv : bool
        The body is CSV (``text/csv``), not JSON.

    Returns
    -------
    (data, frame)
        ``data`` as :func:`parse_request` (or :func:`parse_csv`) reads it, for the request's
        contract checks, and ``frame``, what :func:`conform` makes of it for ``predict``.

    Raises
    ------
    InvalidInput
        The body is not JSON (or CSV) or not one of the formats; a ``SchemaError`` when it does
        not fit the signature. The message names the problem (and the column).
    """
    try:
        data = parse_csv(body) if csv else parse_request(body)
    except InvalidInput:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError) as e:  # numpy's and pandas' own
        raise InvalidInput(f"Cannot read the request as a table: {e}.") from None
    return data, conform_checked(data, signature, as_array)


def conform_checked(data: Any, signature: dict[str, Any] | None, as_array: bool = False) -> Any:
    """:func:`conform`, numpy's and pandas' own errors an ``InvalidInput`` naming the problem.

    As in MLflow, a value that does not convert to its column's type is an ``InvalidInput``
    (``BAD_REQUEST``); a request whose columns or shape do not fit is a ``SchemaError``
    (``INVALID_PARAMETER_VALUE``).
    """
    try:
        return conform(data, signature, as_array)
    except InvalidInput:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError) as e:  # numpy's and pandas' own
        raise InvalidInput(f"The request does not fit the model's signature: {e}.") from None


def parse_csv(body: bytes) -> Any:
    """A CSV body (header row first) as a DataFrame, read by pandas as MLflow reads it."""
    import io

    import pandas as pd

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidInput(f"The CSV body is not UTF-8: {e}.") from None
    try:
        return pd.read_csv(io.StringIO(text))
    except ValueError as e:  # pandas' ParserError and EmptyDataError are ValueErrors
        raise InvalidInput(
            "Cannot read the CSV body as a table (a header row, then one row per line, as "
            f"DataFrame.to_csv writes it): {str(e).strip()}"
        ) from None


def _big_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > _MAX_DIGITS:
        raise InvalidInput(
            f"The number {text[:12]}… has {digits:,} digits: numbers must fit in a 64-bit "
            "float (at most about 1.8e308)."
        )
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidInput(f"The number {text[:40]} is out of range for a 64-bit float.")
    return value


def _constant(name: str) -> float:
    if name == "NaN":
        return math.nan
    raise InvalidInput(f"{name} is not a number the model can take: send a finite number.")


def load_json(body: bytes) -> Any:
    """A JSON body with the protocol's number rules (finite 64-bit floats, bounded digits)."""
    try:
        return json.loads(
            body, parse_int=_big_int, parse_float=_finite_float, parse_constant=_constant
        )
    except InvalidInput:
        raise
    except RecursionError:
        raise InvalidInput("The request body is JSON nested too deeply.") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"The request body is not valid JSON: {e}.") from None


def parse_request(body: bytes) -> Any:
    """The request as a DataFrame (or a 2-D array for models without column names)."""
    payload = load_json(body)
    if not isinstance(payload, dict):
        raise InvalidInput(
            f"The request body must be a JSON object with one of {', '.join(FORMATS)}."
        )
    keys = [k for k in FORMATS if k in payload]
    if len(keys) != 1:
        found = ", ".join(sorted(payload)) or "none"
        raise InvalidInput(
            f"The request must contain exactly one of {', '.join(FORMATS)} (found keys: {found})."
        )
    return _to_frame(keys[0], payload[keys[0]])


def _to_frame(kind: str, value: Any) -> Any:
    import pandas as pd

    try:
        if kind == "dataframe_split":
            if not isinstance(value, dict) or not isinstance(value.get("data"), list):
                raise InvalidInput(
                    'dataframe_split needs {"columns": [...], "data": [[...], ...]}.'
                )
            columns = value.get("columns")
            if columns is not None and not isinstance(columns, list):
                raise InvalidInput("dataframe_split's columns must be a list of names.")
            if columns is not None and any(
                not isinstance(row, list) or len(row) != len(columns) for row in value["data"]
            ):
                raise InvalidInput(
                    f"Each row of dataframe_split must be a list of {len(columns)} values."
                )
            return RowList(value["data"], columns)
        if kind == "dataframe_records":
            if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
                raise InvalidInput("dataframe_records needs a list of objects, one per row.")
            return pd.DataFrame.from_records(value)
        if isinstance(value, dict):  # inputs as {"col": [values]}
            return pd.DataFrame({k: v if isinstance(v, list) else [v] for k, v in value.items()})
        if not isinstance(value, list):
            raise InvalidInput(f"{kind} needs a list of rows.")
        if value and all(isinstance(r, dict) for r in value):
            return pd.DataFrame.from_records(value)
        return RowList(value, None)
    except InvalidInput:
        raise
    except (ValueError, TypeError) as e:
        raise InvalidInput(f"Cannot read {kind} as a table: {e}.") from None


class RowList(list):
    """Rows as lists, with column names (``dataframe_split``) or without (the signature's)."""

    def __init__(self, rows: list[Any], columns: list[Any] | None):
        super().__init__(rows)
        self.columns = columns


def conform(data: Any, signature: dict[str, Any] | None, as_array: bool = False) -> Any:
    """Check ``data`` against the model's input signature and return what ``predict`` takes.

    All-numeric signatures take a fast path straight to one float array (a DataFrame around it
    unless ``as_array``); anything it cannot take goes the careful way, which names the problem.
    """
    import numpy as np
    import pandas as pd

    inputs = (signature or {}).get("inputs") or []
    named = [col for col in inputs if col.get("name") is not None]
    if len(data) == 0:
        raise SchemaError("The request has no rows.")
    if isinstance(data, RowList) and data.columns is None and named:
        data = _name_rows(data, named)
    if isinstance(data, RowList):
        fast = _numeric_rows(data, named)
        if fast is not None:
            return fast if as_array else pd.DataFrame(fast, columns=[c["name"] for c in named])
        data = _rows_to_frame(data, named)
    if not named:
        return _check_array(np.asarray(data), inputs)
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    _check_columns(frame, named)
    out = {}
    for col in named:
        out[col["name"]] = _check_type(frame[col["name"]], col["name"], col.get("type", "string"))
    return pd.DataFrame(out)


def _name_rows(rows: RowList, named: list[dict[str, Any]]) -> RowList:
    """Rows without column names against a signature with names: refused, as MLflow does.

    Except a flat list of values for a one-column signature, which is that column.
    """
    names = [c["name"] for c in named]
    if len(names) == 1 and not any(isinstance(v, (list, dict)) for v in rows):
        return RowList([[v] for v in rows], names)
    raise SchemaError(
        f"Model is missing inputs {_names(names)}: rows as lists carry no column names. Send "
        'dataframe_split with "columns", dataframe_records, or instances/inputs as objects '
        "(one per row) or as {column: [values]}."
    )


def _numeric_rows(rows: RowList, named: list[dict[str, Any]]) -> Any:
    """One float array in signature order, or ``None`` when the careful path must decide."""
    import numpy as np

    if not named or any(c.get("type") not in NUMERIC for c in named):
        return None
    names = [c["name"] for c in named]
    try:
        array = np.asarray(rows, dtype="float64")
    except (TypeError, ValueError):
        return None
    columns = names if rows.columns is None else [str(c) for c in rows.columns]
    if array.ndim != 2 or array.shape[1] != len(columns):
        return None
    if columns != names:  # reordered, or extra columns (ignored, as MLflow does)
        position = {c: i for i, c in enumerate(columns)}
        if len(position) != len(columns) or any(n not in position for n in names):
            return None
        array = array[:, [position[n] for n in names]]
    for index, col in enumerate(named):
        if col.get("type") in INTEGER_RANGE:
            _check_integers(array[:, index], col["name"], col["type"])
    return array


def _check_integers(values: Any, name: str, kind: str) -> None:
    """Whole numbers within ``kind``'s range, no NaN: else ``InvalidInput`` naming one value."""
    import numpy as np

    low, high = INTEGER_RANGE[kind]
    numbers = np.asarray(values, dtype="float64")
    bad = ~np.isfinite(numbers) | (numbers != np.round(numbers))
    bad |= (numbers < low) | (numbers > high)
    if bad.any():
        value = numbers[bad][0]
        shown = "NaN (a missing value)" if np.isnan(value) else repr(float(value))
        raise InvalidInput(
            f"Column {name!r} is {kind}: every value must be a whole number from {low:,} to "
            f"{high:,}; got {shown}."
        )


def _rows_to_frame(rows: RowList, named: list[dict[str, Any]]) -> Any:
    import numpy as np
    import pandas as pd

    if rows.columns is not None:
        width = len(rows.columns)
        if any(not isinstance(row, list) or len(row) != width for row in rows):
            raise InvalidInput(f"Each row of dataframe_split must be a list of {width} values.")
        try:
            return pd.DataFrame(list(rows), columns=rows.columns)
        except (ValueError, TypeError) as e:
            raise InvalidInput(f"Cannot read dataframe_split as a table: {e}.") from None
    try:
        array = np.asarray(rows, dtype=object)
    except ValueError:
        raise InvalidInput("Rows have different lengths.") from None
    if array.ndim == 1:
        array = array.reshape(1, -1) if not named or len(named) == len(array) else array
    if not named:
        return array
    if array.ndim != 2 or array.shape[1] != len(named):
        raise SchemaError(
            f"Each row must have {len(named)} values, in this order: "
            f"{', '.join(c['name'] for c in named)}."
        )
    return pd.DataFrame(array, columns=[c["name"] for c in named])


def _check_columns(frame: Any, named: list[dict[str, Any]]) -> None:
    expected = [c["name"] for c in named]
    given = [str(c) for c in frame.columns]
    missing = [c for c in expected if c not in given]
    if missing:  # extra columns are ignored, as MLflow does
        raise SchemaError(
            f"Missing column(s): {_names(missing)}. The model expects: {_names(expected)}."
        )


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: a message never echoes a whole request."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _names(names: list[Any], most: int = 10) -> str:
    shown = ", ".join(_short(n, 40) for n in names[:most])
    return shown + (f" and {len(names) - most:,} more" if len(names) > most else "")


def _check_type(series: Any, name: str, kind: str) -> Any:
    import pandas as pd

    if kind in NUMERIC:
        converted = pd.to_numeric(series, errors="coerce")
        bad = converted.isna() & series.notna()
        if bad.any():
            value = series[bad].iloc[0]
            raise InvalidInput(f"Column {name!r} must be numeric ({kind}); got {_short(value)}.")
        if kind in INTEGER_RANGE:
            _check_integers(converted, name, kind)
            return converted.astype("int64" if kind == "long" else "int32")
        converted = converted.astype("float64")
        infinite = converted.abs() == math.inf  # CSV's "inf", "1e999"
        if infinite.any():
            value = series[infinite].iloc[0]
            raise InvalidInput(
                f"Column {name!r}: {_short(value)} is out of range for a 64-bit float."
            )
        return converted
    if kind == "boolean":
        if not series.map(lambda v: isinstance(v, bool) or v is None).all():
            raise InvalidInput(f"Column {name!r} must be true/false.")
        return series.astype(bool)
    return series


def _check_array(array: Any, inputs: list[dict[str, Any]]) -> Any:
    shape = inputs[0].get("shape") if inputs else None
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if shape and len(shape) == 2 and shape[1] not in (-1, None) and array.shape[1] != shape[1]:
        raise SchemaError(f"Each row must have {shape[1]} values; got {array.shape[1]}.")
    try:
        return array.astype("float64") if inputs and inputs[0].get("type") in NUMERIC else array
    except (TypeError, ValueError):
        raise InvalidInput(
            "The model expects numbers; the request has non-numeric values."
        ) from None


def predictions_json(predictions: Any) -> list[Any]:
    """Predictions as JSON-able values (NaN becomes null)."""
    import numpy as np

    values = np.asarray(predictions).tolist()
    return _clean(values)


def _clean(value: Any) -> Any:
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
