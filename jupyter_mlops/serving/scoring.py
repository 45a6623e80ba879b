"""MLflow's scoring protocol: request bodies to DataFrames, checked against a signature.

Accepted bodies (JSON) — exactly one of:

- ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}``
- ``{"dataframe_records": [{"col": value, ...}, ...]}``
- ``{"instances": [...]}`` — rows as lists (in signature order) or as objects
- ``{"inputs": ...}`` — like ``instances``, or ``{"col": [values...]}``

Every problem raises :class:`~jupyter_mlops.errors.InvalidInput` with a message naming it; the
HTTP layer turns that into a 400 JSON body.
"""

from __future__ import annotations

import json
import math
from typing import Any

from jupyter_mlops.errors import InvalidInput

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
NUMERIC = {"double", "float", "long", "integer"}


def parse_request(body: bytes) -> Any:
    """The request as a DataFrame (or a 2-D array for models without column names)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"The request body is not valid JSON: {e}.") from None
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
        raise InvalidInput("The request has no rows.")
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
    if array.ndim != 2 or array.shape[1] != len(names):
        return None
    if rows.columns is None or list(rows.columns) == names:
        return array
    if sorted(map(str, rows.columns)) != sorted(names):
        return None
    position = {str(c): i for i, c in enumerate(rows.columns)}
    return array[:, [position[n] for n in names]]


def _rows_to_frame(rows: RowList, named: list[dict[str, Any]]) -> Any:
    import numpy as np
    import pandas as pd

    if rows.columns is not None:
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
        raise InvalidInput(
            f"Each row must have {len(named)} values, in this order: "
            f"{', '.join(c['name'] for c in named)}."
        )
    return pd.DataFrame(array, columns=[c["name"] for c in named])


def _check_columns(frame: Any, named: list[dict[str, Any]]) -> None:
    expected = [c["name"] for c in named]
    given = [str(c) for c in frame.columns]
    missing = [c for c in expected if c not in given]
    extra = [c for c in given if c not in expected]
    if missing:
        raise InvalidInput(
            f"Missing column(s): {', '.join(map(repr, missing))}. The model expects: "
            f"{', '.join(map(repr, expected))}."
        )
    if extra:
        raise InvalidInput(
            f"Unexpected column(s): {', '.join(map(repr, extra))}. The model expects: "
            f"{', '.join(map(repr, expected))}."
        )


def _check_type(series: Any, name: str, kind: str) -> Any:
    import pandas as pd

    if kind in NUMERIC:
        converted = pd.to_numeric(series, errors="coerce")
        bad = converted.isna() & series.notna()
        if bad.any():
            value = series[bad].iloc[0]
            raise InvalidInput(f"Column {name!r} must be numeric ({kind}); got {value!r}.")
        return converted.astype("float64") if kind in ("double", "float") else converted
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
        raise InvalidInput(f"Each row must have {shape[1]} values; got {array.shape[1]}.")
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
