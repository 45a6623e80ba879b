r"""Searching runs: filter, order and tabulate run documents. Pure Python, no store access.

:func:`search` filters run documents (see :mod:`jupyter_mlops.store.base`, plus an
``"experiment"`` key holding the experiment name), orders them and cuts them to
``max_results``; :func:`runs_to_frame` turns them into the ``search_runs`` table. Filters use
MLflow's ``search_runs`` dialect, plus ``OR``, parentheses, ``IN`` and ``IS NULL``, and are
compiled once into nested closures (:mod:`jupyter_mlops.tracking.filters` holds the pieces).

Grammar (keywords are case-insensitive; ``NOT`` binds tighter than ``AND``, which binds tighter
than ``OR``)::

    filter     := or_expr
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := not_expr ("AND" not_expr)*
    not_expr   := "NOT" not_expr | "(" or_expr ")" | condition
    condition  := field ("=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") value
                | field ["NOT"] ("LIKE" | "ILIKE") string
                | field ["NOT"] "IN" "(" value ("," value)* ")"
                | field "IS" ["NOT"] "NULL"
    field      := prefix "." key
    prefix     := metrics | params | tags | attributes | datasets
                  (also metric, param, tag, attribute, attr, run, dataset)
    key        := plain key of letters, digits and _ - . / :  (``metrics.val.loss`` is "val.loss")
                | `back-ticked key` | "double-quoted key"   (only right after the prefix's dot)
    value      := 'string' | "string" | number | TRUE | FALSE

Strings escape their quote by doubling it (``'it''s'``) or with a backslash (``'it\'s'``);
``\\`` is a backslash, any other backslash stays as typed (so ``LIKE '50\%'`` matches a
literal ``%``; ``\_`` and ``\\`` escape in patterns too). Numbers are integers or decimals with
an optional sign and exponent.

Semantics:

- ``metrics.<key>`` is the metric's last value, compared with numbers (``TRUE`` is 1). ``LIKE``
  and string literals are errors.
- ``params.<key>``, ``tags.<key>`` and text attributes are strings. When both the stored value
  and the literal read as numbers, ``=`` and ordering compare numbers, so ``params.lr = 0.1``,
  ``params.lr = '0.10'`` and ``params.lr > 0.01`` all work; otherwise strings are compared.
  ``TRUE``/``FALSE`` match ``"true"``/``"false"`` in any case (only ``=``, ``!=``, ``IN``).
- ``LIKE`` uses SQL wildcards ``%`` and ``_``, case-sensitively; ``ILIKE`` ignores case.
- Attributes: ``run_id`` (``id``), ``run_name`` (``name``), ``status`` (case-insensitive),
  ``start_time`` and ``end_time`` (milliseconds since the epoch, or an ISO date string such as
  ``'2024-01-31'``), ``duration_s`` (``duration``), ``experiment``, ``experiment_id``,
  ``parent_run_id``, ``user`` (falls back to the ``mlops.user`` / ``mlflow.user`` tags).
- ``datasets.name``, ``datasets.digest`` and ``datasets.context`` hold when any dataset of the
  run matches.
- A missing value is NULL: every comparison with it is false, ``!=`` and ``NOT LIKE`` included;
  only ``IS NULL`` holds. ``NOT`` is plain negation, so ``NOT metrics.acc > 0.9`` keeps runs
  that have no ``acc``.

Ordering takes clauses such as ``"metrics.acc DESC"``, ``"params.lr"`` (ascending) or
``"metrics.`my metric` desc"``, as a list or comma-separated. Missing values sort last in both
directions, and ties are broken by ``start_time`` (newest first) and then ``run_id``.

Every malformed filter or ordering raises :class:`~jupyter_mlops.errors.FilterError` with the
offending token and its 0-based position.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from jupyter_mlops.errors import FilterError, InvalidInput
from jupyter_mlops.tracking import budget, filters
from jupyter_mlops.tracking.filters import Field, Literal, Predicate, Run, Token

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "compile_filter",
    "parse_order_by",
    "runs_to_frame",
    "search",
    "server_filter",
    "sort_runs",
]

FIXED_COLUMNS = (
    "run_id",
    "experiment",
    "run_name",
    "status",
    "start_time",
    "end_time",
    "duration_s",
)
"""The first columns of :func:`runs_to_frame`, always present in this order."""

MAX_DEPTH = 50
"""How deeply parentheses and ``NOT`` may nest (parsing and evaluation stay off the stack limit)."""
MAX_LENGTH = 10_000
"""The longest filter, in characters (room for an ``IN`` list of 250 run ids)."""
MAX_ORDER_KEYS = 20
"""The most fields a search may be ordered by (each is one more sort of every run)."""
_OPERATORS_HINT = "=, !=, <, <=, >, >=, LIKE, ILIKE, IN or IS NULL"


# -- filters -----------------------------------------------------------------------------------
def _always(run: Run) -> bool:
    return True


class _Parser:
    """Recursive descent over one filter's tokens, building the predicate's closures."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = filters.tokenize(text)
        self.index = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def keyword(self, name: str) -> Token | None:
        token = self.peek()
        return self.take() if token.kind == "kw" and token.value == name else None

    def fail(self, message: str, token: Token) -> FilterError:
        return FilterError(message, self.text, token.pos, token.text)

    def parse(self) -> Predicate:
        predicate = self.or_expr()
        token = self.peek()
        if token.kind == ")":
            raise self.fail("unmatched ')': remove it or add a '(' before", token)
        if token.kind != "end":
            message = (
                f"unexpected {token.text!r} after a complete condition; "
                "join conditions with AND or OR"
            )
            raise self.fail(message, token)
        return predicate

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.keyword("OR"):
            parts.append(self.and_expr())
        return filters.any_of(parts)

    def and_expr(self) -> Predicate:
        parts = [self.not_expr()]
        while self.keyword("AND"):
            parts.append(self.not_expr())
        return filters.all_of(parts)

    def not_expr(self) -> Predicate:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            message = f"filter nested more than {MAX_DEPTH} levels deep: remove parentheses or NOTs"
            raise self.fail(message, self.peek())
        result = filters.negation(self.not_expr()) if self.keyword("NOT") else self.primary()
        self.depth -= 1
        return result

    def primary(self) -> Predicate:
        token = self.take()
        if token.kind == "ident":
            return self.condition(filters.resolve_field(token, self.text), token)
        if token.kind == "word":
            return self.condition(filters.bare_field(token, self.text), token)
        if token.kind != "(":
            raise self.missing_condition(token)
        inner = self.or_expr()
        close = self.take()
        if close.kind == ")":
            return inner
        if close.kind == "end":
            raise self.fail("unclosed '(': add a ')'", token)
        raise self.fail(f"expected ')', AND or OR, found {close.text!r}", close)

    def condition(self, field: Field, field_token: Token) -> Predicate:
        token = self.take()
        if token.kind == "op":
            return filters.compare(field, token, self.value(token), self.text)
        if token.kind == "kw" and token.value == "IS":
            negate = self.keyword("NOT") is not None
            if not self.keyword("NULL"):
                raise self.fail("expected NULL after IS (IS NULL or IS NOT NULL)", self.peek())
            return filters.is_null(field, negate)
        negate = token.kind == "kw" and token.value == "NOT"
        if negate:
            token = self.take()
        if token.kind == "kw" and token.value in ("LIKE", "ILIKE"):
            return filters.like(field, token, self.value(token), negate, self.text)
        if token.kind == "kw" and token.value == "IN":
            return filters.is_in(field, self.value_list(), negate, self.text)
        if negate:
            raise self.fail("expected LIKE, ILIKE or IN after NOT", token)
        message = f"expected an operator ({_OPERATORS_HINT}) after {field_token.text!r}"
        raise self.fail(message, token)

    def value(self, after: Token) -> Literal:
        token = self.take()
        if token.kind == "str":
            return Literal("text", token.value, filters.parse_number(token.value), token)
        if token.kind == "num":
            return Literal("number", token.text, token.value, token)
        if token.kind == "kw" and token.value in ("TRUE", "FALSE"):
            return Literal("bool", token.value.lower(), int(token.value == "TRUE"), token)
        raise self.bad_value(token, after)

    def value_list(self) -> list[Literal]:
        opening = self.take()
        if opening.kind != "(":
            raise self.fail("IN needs a list in parentheses, e.g. IN ('a', 'b')", opening)
        if self.peek().kind == ")":
            raise self.fail("empty IN list: give at least one value", self.peek())
        values = [self.value(opening)]
        while (token := self.take()).kind == ",":
            values.append(self.value(token))
        if token.kind == ")":
            return values
        if token.kind == "end":
            raise self.fail("unclosed IN list: add a ')'", opening)
        raise self.fail(f"expected ',' or ')' in the IN list, found {token.text!r}", token)

    def bad_value(self, token: Token, after: Token) -> FilterError:
        if token.kind == "end":
            return self.fail(f"missing value after {after.text!r}", token)
        if token.kind == "kw" and token.value == "NULL":
            return self.fail("test for a missing value with IS NULL or IS NOT NULL", token)
        if token.kind in ("word", "ident"):
            message = f"unquoted value {token.text!r}: quote text, e.g. '{token.text}'"
            if token.kind == "ident":
                message += " (fields cannot be compared with fields)"
            return self.fail(message, token)
        return self.fail(f"expected a value after {after.text!r}, found {token.text!r}", token)

    def missing_condition(self, token: Token) -> FilterError:
        example = "e.g. metrics.acc > 0.9"
        if token.kind == "end":
            return self.fail(f"the filter ends where a condition should follow ({example})", token)
        if token.kind == ")":
            return self.fail(f"expected a condition before ')' ({example})", token)
        if token.kind == "str":
            message = f"expected a field such as params.model before the value {token.text}"
            return self.fail(message, token)
        return self.fail(f"expected a condition ({example}), found {token.text!r}", token)


def compile_filter(text: str | None) -> Predicate:
    """Compile a filter into a predicate over run documents.

    Parameters
    ----------
    text : str or None
        A filter in the dialect of this module's docstring; ``None`` or blank matches every run.

    Returns
    -------
    callable
        ``predicate(run) -> bool`` for a run document with an added ``"experiment"`` name.

    Raises
    ------
    FilterError
        The filter is malformed; the error names the offending token and its position.

    Examples
    --------
    >>> keep = compile_filter("metrics.acc > 0.9 and params.model = 'rf'")
    >>> keep({"metrics": {"acc": {"last": 0.93}}, "params": {"model": "rf"}})
    True
    """
    if text is None:
        return _always
    if not isinstance(text, str):
        raise FilterError(f"a filter must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        message = (
            f"the filter is {len(text):,} characters long, more than the {MAX_LENGTH:,} allowed: "
            "split the search or use fewer conditions"
        )
        raise FilterError(message, text, MAX_LENGTH, text[MAX_LENGTH : MAX_LENGTH + 20])
    return _compile(text) if text.strip() else _always


@functools.lru_cache(maxsize=256)
def _compile(text: str) -> Predicate:
    return _Parser(text).parse()


def server_filter(text: str | None) -> str | None:
    """The part of a filter a server can apply in MLflow's own dialect, or ``None``.

    A remote store uses it to fetch fewer runs; the caller still applies the whole filter, so
    this only has to keep every run the filter keeps. Hence only the conditions of a plain
    ``AND`` chain (no ``OR``, ``NOT``, parentheses) that mean the same to MLflow are kept:
    ``metrics.<k> <op> <number>`` and ``params|tags.<k> =|!=|LIKE|ILIKE '<text>'`` where the
    text does not read as a number (we compare those as numbers, MLflow as text).
    """
    if not text or not text.strip():
        return None
    try:
        compile_filter(text)  # only well-formed filters
        tokens = filters.tokenize(text)
    except FilterError:
        return None
    if any(t.kind in ("(", ")") or (t.kind == "kw" and t.value in ("OR", "NOT")) for t in tokens):
        return None
    kept: list[str] = []
    condition: list[Token] = []
    for token in tokens:
        if token.kind == "end" or (token.kind == "kw" and token.value == "AND"):
            converted = _server_condition(condition)
            if converted:
                kept.append(converted)
            condition = []
        else:
            condition.append(token)
    return " and ".join(kept) or None


def _server_condition(tokens: list[Token]) -> str | None:
    if len(tokens) != 3 or tokens[0].kind != "ident":
        return None
    (prefix, key, _), op, value = tokens[0].value, tokens[1], tokens[2]
    section = filters.SECTION_OF.get(prefix.lower())
    if "`" in key or section not in ("metrics", "params", "tags"):
        return None
    field = f"{section}.`{key}`"
    if section == "metrics":
        if op.kind != "op" or value.kind != "num" or op.text == "<>":
            return None
        return f"{field} {'=' if op.text == '==' else op.text} {value.text}"
    text_ops = {"=": "=", "==": "=", "!=": "!=", "LIKE": "LIKE", "ILIKE": "ILIKE"}
    name = op.value if op.kind == "kw" else op.text
    if name not in text_ops or value.kind != "str" or filters.parse_number(value.value) is not None:
        return None
    if any(c in value.value for c in "'\\"):
        return None
    return f"{field} {text_ops[name]} '{value.value}'"


# -- ordering ----------------------------------------------------------------------------------
OrderKey = tuple[Field, bool]


def parse_order_by(order_by: Sequence[str] | str | None) -> list[OrderKey]:
    """``(field, descending)`` pairs for ``order_by`` clauses such as ``"metrics.acc DESC"``.

    Parameters
    ----------
    order_by : str, list of str or None
        Clauses ``<field> [ASC|DESC]``; a string may hold several, separated by commas.

    Raises
    ------
    FilterError
        A clause is malformed, names an unknown field, or orders by ``datasets.*``.
    """
    if order_by is None or (isinstance(order_by, str) and not order_by.strip()):
        return []
    clauses = [order_by] if isinstance(order_by, str) else order_by
    if not isinstance(clauses, (list, tuple)):
        kind = type(order_by).__name__
        raise FilterError(f"order_by must be a string or a list of strings, not {kind}")
    keys: list[OrderKey] = []
    for clause in clauses:
        if not isinstance(clause, str):
            raise FilterError(f"an order_by clause must be a string, not {type(clause).__name__}")
        if len(clause) > MAX_LENGTH:
            message = f"an order_by clause has at most {MAX_LENGTH:,} characters"
            raise FilterError(message, clause, MAX_LENGTH, clause[MAX_LENGTH : MAX_LENGTH + 20])
        keys.extend(_order_clause(clause))
        if len(keys) > MAX_ORDER_KEYS:
            raise FilterError(f"order by at most {MAX_ORDER_KEYS} fields, not {len(keys)} or more")
    return keys


def _order_clause(text: str) -> list[OrderKey]:
    tokens, i, keys = filters.tokenize(text), 0, []
    while True:
        token = tokens[i]
        field = _order_field(token, text)
        i += 1
        descending = False
        if tokens[i].kind == "word" and tokens[i].text.upper() in ("ASC", "DESC"):
            descending = tokens[i].text.upper() == "DESC"
            i += 1
        keys.append((field, descending))
        if tokens[i].kind == "end":
            return keys
        if tokens[i].kind != ",":
            message = f"expected ASC, DESC or ',' after {token.text!r}"
            raise FilterError(message, text, tokens[i].pos, tokens[i].text)
        i += 1


def _order_field(token: Token, text: str) -> Field:
    if token.kind == "word":
        field = filters.bare_field(token, text)
    elif token.kind == "ident":
        field = filters.resolve_field(token, text)
    else:
        message = "expected a field to order by, e.g. 'metrics.acc DESC'"
        raise FilterError(message, text, token.pos, token.text)
    if field.kind == "many":
        message = f"cannot order by {field.name}: a run may have several datasets"
        raise FilterError(message, text, token.pos, token.text)
    return field


_TIEBREAKERS = parse_order_by(["attributes.start_time DESC", "attributes.run_id ASC"])


def _sort_key(field: Field, descending: bool) -> Any:
    """A key that sorts numbers before text, then NaN, then NULL, once ``reverse`` is applied.

    That is MLflow's order in both directions: ``ASC`` and ``DESC`` both end with the runs whose
    value is NaN, followed by those without one.
    """
    get, fold, numeric = field.get, field.fold, field.kind == "number"
    null = (0 if descending else 3, 0, 0, "")
    nan = (0 if descending else 2, 1, 0, "")

    def key(run: Run) -> tuple[int, int, Any, str]:
        value = get(run)
        if value is None:
            return null
        if isinstance(value, float) and math.isnan(value):
            return nan
        number = value if numeric else filters.parse_number(value)
        if number is not None:
            return (1, 0, number, "")
        return (1, 1, 0, value.lower() if fold else value)

    return key


def sort_runs(runs: Iterable[Run], order_by: Sequence[str] | str | None = None) -> list[Run]:
    """Runs ordered by ``order_by``, then newest first, then by ``run_id``.

    Parameters
    ----------
    runs : iterable of dict
        Run documents.
    order_by : str, list of str or None
        Clauses such as ``"metrics.acc DESC"`` or ``"params.lr"``; see :func:`parse_order_by`.

    Returns
    -------
    list of dict
        A new list; runs without a value for a key come after those with one, in both directions.
    """
    keys = parse_order_by(order_by) + _TIEBREAKERS
    ordered = list(runs)
    for field, descending in reversed(keys):  # stable sorts, least significant key first
        ordered.sort(key=_sort_key(field, descending), reverse=descending)
    return ordered


# -- search ------------------------------------------------------------------------------------
def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def search(
    runs: Iterable[Run],
    filter: str | None = None,
    order_by: Sequence[str] | str | None = None,
    max_results: int | None = None,
) -> list[Run]:
    """The runs matching ``filter``, ordered by ``order_by``, at most ``max_results`` of them.

    Parameters
    ----------
    runs : iterable of dict
        Run documents, each with an ``"experiment"`` name added.
    filter : str or None
        A filter in this module's dialect; ``None`` keeps every run.
    order_by : str, list of str or None
        See :func:`sort_runs`.
    max_results : int or None
        Keep at most this many runs (``None``: all).

    Raises
    ------
    FilterError
        ``filter`` or ``order_by`` is malformed.
    InvalidInput
        ``max_results`` is not a non-negative integer.
    """
    if max_results is not None and not _is_count(max_results):
        message = f"max_results must be a non-negative integer or None, not {max_results!r}"
        raise InvalidInput(message)
    predicate = compile_filter(filter)
    if predicate is _always or not budget.active():
        kept = [run for run in runs if predicate(run)]
    else:
        kept = budget.filter_within(runs, predicate)
    ordered = sort_runs(kept, order_by)
    return ordered if max_results is None else ordered[:max_results]


# -- the runs table ----------------------------------------------------------------------------
def runs_to_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """The ``search_runs`` table: one row per run, in the given order.

    Parameters
    ----------
    runs : iterable of dict
        Run documents, each with an ``"experiment"`` name added.

    Returns
    -------
    pandas.DataFrame
        Columns ``run_id, experiment, run_name, status`` (text), ``start_time, end_time``
        (UTC datetimes), ``duration_s`` (float, NaN until the run ends), then the sorted
        ``params.<k>`` (text), ``metrics.<k>`` (last value, float) and ``tags.<k>`` (text).
        An empty input gives an empty frame with the first seven columns.
    """
    import pandas as pd

    runs = list(runs)
    text = _text_dtype()
    columns: dict[str, Any] = {
        name: pd.array([run.get(name) for run in runs], dtype=text) for name in FIXED_COLUMNS[:4]
    }
    start = _floats([run.get("start_time") for run in runs])
    end = _floats([run.get("end_time") for run in runs])
    columns["start_time"] = _datetimes(start)
    columns["end_time"] = _datetimes(end)
    columns["duration_s"] = (end - start) / 1000.0
    for section in ("params", "metrics", "tags"):
        for key, values in _section_columns(runs, section).items():
            is_metric = section == "metrics"
            columns[f"{section}.{key}"] = (
                _floats(values) if is_metric else pd.array(values, dtype=text)
            )
    return pd.DataFrame(columns, index=pd.RangeIndex(len(runs)))


def _section_columns(runs: list[Run], section: str) -> dict[str, list[Any]]:
    """``{key: [value per run]}`` for one section, keys sorted, metrics as their last value."""
    sections = [v if isinstance(v := run.get(section), dict) else {} for run in runs]
    columns = {}
    for key in sorted(set().union(*sections), key=str):
        if section == "metrics":
            columns[str(key)] = [
                m.get("last") if isinstance(m := values.get(key), dict) else m
                for values in sections
            ]
        else:
            columns[str(key)] = [values.get(key) for values in sections]
    return columns


@functools.lru_cache(maxsize=1)
def _text_dtype() -> Any:
    """The dtype pandas gives text by default: ``str`` from pandas 3 on, ``object`` before."""
    import pandas as pd

    return pd.Series(["text"]).dtype


def _floats(values: list[Any]) -> np.ndarray:
    import numpy as np

    try:
        return np.array(values, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return np.array([_float_or_nan(value) for value in values], dtype=float)


def _float_or_nan(value: Any) -> float:
    number = filters.parse_number(value) if isinstance(value, str) else value
    try:
        return float(number) if number is not None else float("nan")
    except (TypeError, ValueError, OverflowError):
        return float("nan")


def _datetimes(ms: np.ndarray) -> pd.DatetimeIndex:
    """UTC datetimes from epoch milliseconds; values beyond pandas' range become NaT."""
    import numpy as np
    import pandas as pd

    # Straight to datetime64[ms] (pd.to_datetime with a unit is ~6x slower on small arrays);
    # NaN and values beyond 1677-2262 become NaT.
    valid = np.isfinite(ms) & (np.abs(ms) < 9.2e12)
    ticks = np.full(ms.shape, np.iinfo(np.int64).min, dtype=np.int64)  # the NaT bit pattern
    ticks[valid] = ms[valid].astype(np.int64)
    return pd.DatetimeIndex(ticks.view("datetime64[ms]")).tz_localize("UTC")
