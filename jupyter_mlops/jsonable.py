"""Values made JSON-able: the one helper every part uses before writing JSON.

``plain(value)`` turns numpy and pandas scalars into Python ones, missing values (``None``,
``pandas.NA``, ``NaN``) into ``None``, and walks dicts (keys become strings), lists and tuples.
Infinities become ``None`` too (JSON has none), unless ``keep_infinity`` (a contract's open range
end, which Python's ``json`` writes as ``Infinity`` and reads back); timestamps become ISO text
with ``dates=True``.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def plain(value: Any, keep_infinity: bool = False, dates: bool = False) -> Any:
    """``value`` as plain JSON-able Python values (see the module docstring)."""
    if isinstance(value, dict):
        return {str(k): plain(v, keep_infinity, dates) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, keep_infinity, dates) for v in value]
    if value is None or value is _pandas_na():
        return None
    if dates and hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)) and _is_numpy(value):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return value if keep_infinity and not math.isnan(value) else None
    return value


def _pandas_na() -> Any:
    pandas = sys.modules.get("pandas")
    return getattr(pandas, "NA", None) if pandas is not None else None


def _is_numpy(value: Any) -> bool:
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.generic)


def loads_object(body: bytes) -> dict[str, Any]:
    """A request body read as one JSON object; ``InvalidInput`` saying what is wrong with it.

    An empty body is the empty object. The body must be UTF-8; JSON nested too deeply for the
    parser is refused rather than raised as a ``RecursionError``.
    """
    from jupyter_mlops.errors import InvalidInput

    if not body:
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidInput(
            f"The request body is not UTF-8 (byte {e.start} is 0x{body[e.start]:02x}): "
            "send JSON encoded as UTF-8."
        ) from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidInput("The request body is JSON nested too deeply.") from None
    except ValueError as e:
        raise InvalidInput(f"The request body is not valid JSON: {e}.") from None
    if not isinstance(value, dict):
        raise InvalidInput("The request body must be a JSON object.")
    return value
