"""The data contract: per column, the rules data must keep and the profile they came from.

A :class:`DataContract` is an ordered set of :class:`ColumnContract`. Each column has *rules*,
which :func:`~jupyter_mlops.contracts.validate.validate` and the model server check, and a
*profile* (``stats``), which only describes the data the contract was inferred from:

============== ======================================================= =======================
rule           meaning                                                 edited with
============== ======================================================= =======================
``kind``       numeric, datetime, boolean, categorical or identifier   ``col.kind = "..."``
``integer``    numeric values must be whole numbers                    ``col.integer = True``
``nullable``   missing values (None, NaN, NaT) are allowed             ``.required()``,
                                                                       ``.nullable()``
``max_missing`` at most this share of a batch may be missing           ``.nullable(max_share)``
``range``      numeric/datetime values within ``[min, max]``           ``.range(min, max)``
``categories`` values among an allowed set                             ``.categories(...)``
``unique``     no value appears twice in a batch                       ``.unique()``
``optional``   the column may be absent                                ``.optional()``
============== ======================================================= =======================

Contracts are edited in place (the editing methods return the column, so calls chain) and
checked when they are built, read or edited, so a bad rule fails with one message naming the
column and the rule, not later inside a validation.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.contracts.keys import RULE_KEYS
from jupyter_mlops.errors import InvalidInput, NotFound

KINDS = ("numeric", "datetime", "boolean", "categorical", "identifier")
FORMAT_VERSION = 1
_SCALARS = (str, int, float, bool)


@dataclass(eq=True)
class ColumnContract:
    """The rules of one column (see the module docstring for each rule).

    Attributes
    ----------
    name : str
        The column name.
    kind : str
        One of :data:`KINDS`.
    dtype : str or None
        The dtype the profiled data had (information only: the rule is ``kind``).
    integer : bool
        Numeric values must be whole numbers.
    allow_null : bool
        Missing values are allowed.
    max_null_share : float or None
        At most this share of a batch may be missing.
    min_value, max_value : float, str or None
        The range (numbers; ISO strings for datetimes). ``None`` leaves that side open.
    value_set : list or None
        The allowed values, or ``None`` for any value.
    is_unique : bool
        Values must not repeat within a batch.
    is_optional : bool
        The column may be absent from the data.
    stats : dict
        The profile: ``rows``, ``missing``, ``missing_share``, ``distinct``, ``unique`` and, by
        kind, ``min``, ``max``, ``mean``, ``std``, ``quantiles`` or ``top``.
    """

    name: str
    kind: str
    dtype: str | None = None
    integer: bool = False
    allow_null: bool = True
    max_null_share: float | None = None
    min_value: Any = None
    max_value: Any = None
    value_set: list[Any] | None = None
    is_unique: bool = False
    is_optional: bool = False
    stats: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        check_column(self)

    # -- editing (each returns the column, so calls chain) -----------------------------------
    def range(self, min: Any = None, max: Any = None) -> ColumnContract:  # noqa: A002
        """Allow only values in ``[min, max]`` (``None`` leaves a side open; both: no range)."""
        low, high = _bound(self, "min", min), _bound(self, "max", max)
        if low is not None and high is not None and _order(low) > _order(high):
            raise InvalidInput(
                f"Column {self.name!r}: range({min!r}, {max!r}) has its minimum above its maximum."
            )
        self.min_value, self.max_value = low, high
        return self

    def categories(self, *values: Any) -> ColumnContract:
        """Allow only these values: ``.categories("a", "b")`` or ``.categories(["a", "b"])``.

        ``.categories(None)`` allows any value again.
        """
        if len(values) == 1 and (values[0] is None or _is_collection(values[0])):
            values = () if values[0] is None else tuple(values[0])
            self.value_set = _value_set(self.name, list(values)) if values else None
        else:
            self.value_set = _value_set(self.name, list(values))
        return self

    def required(self) -> ColumnContract:
        """The column must be present and may hold no missing values."""
        self.allow_null, self.max_null_share, self.is_optional = False, None, False
        return self

    def nullable(self, max_share: float | None = None) -> ColumnContract:
        """Allow missing values, optionally at most ``max_share`` (0–1) of a batch."""
        self.allow_null, self.max_null_share = True, _share(self.name, max_share)
        return self

    def unique(self, flag: bool = True) -> ColumnContract:
        """Values must not repeat within a batch (``unique(False)`` lifts the rule)."""
        self.is_unique = _flag(self.name, "unique", flag)
        return self

    def optional(self, flag: bool = True) -> ColumnContract:
        """The column may be absent (``optional(False)``: it must be present)."""
        self.is_optional = _flag(self.name, "optional", flag)
        return self

    # -- reading -------------------------------------------------------------------------------
    @property
    def has_range(self) -> bool:
        """Whether a range rule applies."""
        return self.min_value is not None or self.max_value is not None

    def rules(self) -> dict[str, Any]:
        """The column's rules as saved (without the profile)."""
        rules: dict[str, Any] = {"kind": self.kind}
        if self.dtype is not None:
            rules["dtype"] = self.dtype
        if self.integer:
            rules["integer"] = True
        rules["nullable"] = self.allow_null
        if self.max_null_share is not None:
            rules["max_missing"] = self.max_null_share
        if self.has_range:
            rules["range"] = [self.min_value, self.max_value]
        if self.value_set is not None:
            rules["categories"] = list(self.value_set)
        if self.is_unique:
            rules["unique"] = True
        if self.is_optional:
            rules["optional"] = True
        return rules

    def to_dict(self, profile: bool = True) -> dict[str, Any]:
        """Rules and (unless ``profile=False``) the profile, JSON-able."""
        data = self.rules()
        if self.stats and profile:
            data["profile"] = dict(self.stats)
        return data

    @classmethod
    def from_dict(cls, name: str, data: Any) -> ColumnContract:
        """A column from its saved form; unknown keys and wrong types get one clear message."""
        if not isinstance(data, dict):
            raise InvalidInput(
                f"Column {name!r} of the contract must be a mapping of rules, not {data!r}."
            )
        unknown = sorted(set(map(str, data)) - set(RULE_KEYS))
        if unknown:
            raise InvalidInput(
                f"Column {name!r} has an unknown rule {unknown[0]!r}; the rules are "
                f"{', '.join(RULE_KEYS)}."
            )
        low, high = _pair(name, data.get("range"))
        profile = data.get("profile") or {}
        if not isinstance(profile, dict):
            raise InvalidInput(f"Column {name!r}: profile must be a mapping, not {profile!r}.")
        column = cls(
            name=name,
            kind=data.get("kind", "categorical"),
            dtype=None if data.get("dtype") is None else str(data["dtype"]),
            integer=_flag(name, "integer", data.get("integer", False)),
            allow_null=_flag(name, "nullable", data.get("nullable", True)),
            max_null_share=_share(name, data.get("max_missing")),
            value_set=None
            if data.get("categories") is None
            else _value_set(name, data["categories"]),
            is_unique=_flag(name, "unique", data.get("unique", False)),
            is_optional=_flag(name, "optional", data.get("optional", False)),
            stats=dict(profile),
        )
        return column.range(low, high) if low is not None or high is not None else column


def check_column(column: ColumnContract) -> None:
    """Raise :class:`InvalidInput` naming the rule when ``column`` is not a valid contract."""
    name = column.name
    if column.kind not in KINDS:
        raise InvalidInput(
            f"Column {name!r}: kind must be one of {', '.join(KINDS)}, not {column.kind!r}."
        )
    for rule, flag in (("integer", column.integer), ("nullable", column.allow_null)):
        _flag(name, rule, flag)
    _share(name, column.max_null_share)
    if column.has_range:
        _bound(column, "min", column.min_value)
        _bound(column, "max", column.max_value)
    if column.integer and column.kind != "numeric":
        raise InvalidInput(
            f"Column {name!r}: integer applies to numeric columns, not {column.kind}."
        )


def _flag(name: str, rule: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"Column {name!r}: {rule} must be true or false, not {value!r}.")
    return value


def _share(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidInput(
            f"Column {name!r}: max_missing must be a share between 0 and 1, not {value!r}."
        )
    return float(value)


def _pair(name: str, value: Any) -> tuple[Any, Any]:
    if value is None:
        return None, None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise InvalidInput(
            f"Column {name!r}: range must be [min, max] (null for an open side), not {value!r}."
        )
    return value[0], value[1]


def _bound(column: ColumnContract, side: str, value: Any) -> Any:
    """A range bound checked against the column's kind: a number, or a datetime as ISO text."""
    if value is None:
        return None
    if column.kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise InvalidInput(
                f"Column {column.name!r}: the range's {side} must be a number, not {value!r}."
            )
        return value
    if column.kind == "datetime":
        return _iso(column.name, side, value)
    raise InvalidInput(
        f"Column {column.name!r} is {column.kind}: a range applies to numeric and datetime "
        "columns (use .categories(...) to restrict its values)."
    )


def _iso(name: str, side: str, value: Any) -> str:
    import pandas as pd

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise InvalidInput(
            f"Column {name!r}: the range's {side} must be a date or time, not {value!r}."
        )
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise InvalidInput(
            f"Column {name!r}: the range's {side} {value!r} is not a date or time ({e})."
        ) from None
    if stamp is pd.NaT:
        raise InvalidInput(f"Column {name!r}: the range's {side} must be a date or time, not NaT.")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.isoformat()


def _order(value: Any) -> Any:
    return _dt.datetime.fromisoformat(value) if isinstance(value, str) else value


def _is_collection(value: Any) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes))


def _value_set(name: str, values: Any) -> list[Any]:
    if not isinstance(values, (list, tuple, set, frozenset)):
        raise InvalidInput(f"Column {name!r}: categories must be a list of values, not {values!r}.")
    out: list[Any] = []
    for value in values:
        plain = value.item() if hasattr(value, "item") else value
        if not isinstance(plain, _SCALARS):
            raise InvalidInput(
                f"Column {name!r}: categories must be strings, numbers or booleans, not {value!r}."
            )
        if plain not in out:
            out.append(plain)
    return out


class DataContract:
    """The columns a dataset must have and the rules each keeps.

    ``contract["age"]`` is the :class:`ColumnContract` of ``age``; its editing methods change the
    contract in place. ``contract.save(path)`` writes YAML (``.yaml``/``.yml``) or JSON;
    :func:`load_contract` reads either; ``old.diff(new)`` lists what changed.

    Parameters
    ----------
    columns : iterable of ColumnContract
        In data order.
    rows : int, optional
        Rows of the profiled data.
    source : dict, optional
        Where the contract came from (``{"dataset": name, "digest": ...}``).
    """

    def __init__(
        self,
        columns: Iterable[ColumnContract],
        rows: int | None = None,
        source: dict[str, Any] | None = None,
    ) -> None:
        self._columns: dict[str, ColumnContract] = {}
        for column in columns:
            if column.name in self._columns:
                raise InvalidInput(f"The contract names column {column.name!r} twice.")
            self._columns[column.name] = column
        self.rows = rows
        self.source = dict(source or {})

    def __getitem__(self, name: Any) -> ColumnContract:
        try:
            return self._columns[str(name)]
        except KeyError:
            shown = ", ".join(list(self._columns)[:20]) or "none"
            raise NotFound(
                f"The contract has no column {str(name)!r} (columns: {shown})."
            ) from None

    def __contains__(self, name: Any) -> bool:
        return str(name) in self._columns

    def __iter__(self) -> Iterator[ColumnContract]:
        return iter(self._columns.values())

    def __len__(self) -> int:
        return len(self._columns)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DataContract) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable

    @property
    def columns(self) -> list[str]:
        """Column names in order."""
        return list(self._columns)

    def drop(self, *names: Any) -> DataContract:
        """Remove columns from the contract (each must exist)."""
        for name in names:
            del self._columns[self[name].name]
        return self

    def to_dict(self, profile: bool = True) -> dict[str, Any]:
        """The saved form: ``{"jupyter_mlops_contract": 1, "rows": ..., "columns": {...}}``.

        ``profile=False`` leaves out each column's profile (the rules only).
        """
        data: dict[str, Any] = {"jupyter_mlops_contract": FORMAT_VERSION}
        if self.rows is not None:
            data["rows"] = self.rows
        if self.source:
            data["source"] = dict(self.source)
        data["columns"] = {c.name: c.to_dict(profile) for c in self}
        return data

    @classmethod
    def from_dict(cls, data: Any) -> DataContract:
        """A contract from its saved form, every rule checked."""
        if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
            raise InvalidInput(
                "A data contract is a mapping with a 'columns' mapping (column name → rules); "
                "make one with mlops.profile(df)."
            )
        version = data.get("jupyter_mlops_contract", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise InvalidInput(
                f"This contract has format {version!r}; this jupyter_mlops reads format "
                f"{FORMAT_VERSION}. Upgrade jupyter-mlops."
            )
        unknown = sorted(set(data) - {"jupyter_mlops_contract", "rows", "source", "columns"})
        if unknown:
            raise InvalidInput(
                f"Unknown contract key {unknown[0]!r}; a contract has jupyter_mlops_contract, "
                "rows, source and columns (rules go under each column)."
            )
        columns = [ColumnContract.from_dict(str(k), v) for k, v in data["columns"].items()]
        return cls(columns, rows=data.get("rows"), source=data.get("source"))

    def to_yaml(self, profile: bool = True) -> str:
        """The contract as YAML text (``profile=False``: the rules only)."""
        from jupyter_mlops.contracts.io import dump_yaml

        return dump_yaml(self.to_dict(profile))

    def to_json(self, profile: bool = True) -> str:
        """The contract as JSON text (``profile=False``: the rules only)."""
        from jupyter_mlops.contracts.io import dump_json

        return dump_json(self.to_dict(profile))

    def save(self, path: str) -> str:
        """Write YAML (``.yaml``/``.yml``) or JSON (any other suffix); returns the path."""
        from jupyter_mlops.contracts.io import save_contract

        return save_contract(self, path)

    def diff(self, other: DataContract) -> Any:
        """What changed from this contract to ``other`` (a :class:`ContractDiff`)."""
        from jupyter_mlops.contracts.diff import diff_contracts

        return diff_contracts(self, other)

    def __repr__(self) -> str:
        more = "..." if len(self) > 8 else ""
        return f"<DataContract {len(self)} columns: {', '.join(self.columns[:8])}{more}>"

    def _repr_html_(self) -> str:
        from jupyter_mlops.contracts.html import contract_html

        return contract_html(self)
