"""Building blocks of the run-search filter dialect: tokens, fields and comparisons.

:mod:`jupyter_mlops.tracking.search` documents the dialect and parses it with these pieces;
each comparison here is compiled once into a closure over a run document, so evaluating a
filter never parses again. Every malformed input raises :class:`~jupyter_mlops.errors.FilterError`
naming the offending token and its 0-based position.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from jupyter_mlops.errors import FilterError
from jupyter_mlops.tracking.like import like_matcher

Run = dict[str, Any]
Predicate = Callable[[Run], bool]

_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[^\W\d]\w*")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(\.[0-9]*)?|(\.[0-9]+))([eE][+-]?[0-9]+)?")  # groups: not int
_KEY = re.compile(r"[\w\-./:]+")
_OPERATORS = ("==", "!=", "<>", "<=", ">=", "=", "<", ">")
_KEYWORDS = frozenset({"AND", "OR", "NOT", "LIKE", "ILIKE", "IN", "IS", "NULL", "TRUE", "FALSE"})
_EMPTY: dict[str, Any] = {}
_COMPARE = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_PREFIXES = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "parameters": "params",
    "parameter": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
    "datasets": "datasets",
    "dataset": "datasets",
}
SECTION_OF = _PREFIXES
"""Every prefix a field may be written with -> its section."""
_SECTIONS = ("metrics", "params", "tags", "attributes", "datasets")
_ALIASES = {
    "id": "run_id",
    "run_uuid": "run_id",
    "name": "run_name",
    "duration": "duration_s",
    "user_id": "user",
    "created": "start_time",  # MLflow's aliases, as its search_utils translates them
    "run name": "run_name",
}
# MLflow's system tags the embedded store does not write: read from the attribute they mirror.
_SYSTEM_TAGS = {
    "mlflow.runName": "run_name",
    "mlflow.user": "user",
    "mlflow.parentRunId": "parent_run_id",
}
_DATASET_KEYS = ("name", "digest", "context")


# -- tokens ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    """One lexical token: ``kind`` is ident, word, kw, str, num, op, ``(``, ``)``, ``,`` or end."""

    kind: str
    text: str
    pos: int
    value: Any = None


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``end`` token at ``len(text)``."""
    tokens = []
    pos = 0
    while True:
        space = _SPACE.match(text, pos)
        pos = space.end() if space else pos
        if pos >= len(text):
            tokens.append(Token("end", "", len(text)))
            return tokens
        token = _next_token(text, pos)
        tokens.append(token)
        pos += len(token.text)


def _next_token(text: str, pos: int) -> Token:
    char = text[pos]
    if char in "(),":
        return Token(char, char, pos)
    if char in "'\"":
        value, end = _read_quoted(text, pos, "string")
        return Token("str", text[pos:end], pos, value)
    if char == "`":
        return _backticked_token(text, pos)
    for op in _OPERATORS:
        if text.startswith(op, pos):
            return Token("op", op, pos)
    number = _NUMBER.match(text, pos)
    if number:
        return _number_token(text, number)
    word = _WORD.match(text, pos)
    if word:
        return _word_token(text, word)
    raise FilterError(f"unexpected character {char!r}", text, pos, char)


def _read_quoted(text: str, start: int, what: str) -> tuple[str, int]:
    """The unescaped content of the quoted token at ``start`` and the offset just after it."""
    quote, out, i = text[start], [], start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            following = text[i + 1]
            out.append(following if following in (quote, "\\") else char + following)
            i += 2
        elif char == quote and text.startswith(quote, i + 1):
            out.append(quote)
            i += 2
        elif char == quote:
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    message = f"unterminated {what}: add the closing {quote}"
    raise FilterError(message, text, start, text[start : start + 20])


def _number_token(text: str, match: re.Match[str]) -> Token:
    end = match.end()
    glued = _KEY.match(text, end)
    if glued:
        bad = text[match.start() : glued.end()]
        raise FilterError(f"malformed number {bad!r}", text, match.start(), bad)
    return Token("num", match.group(), match.start(), parse_number(match.group()))


def _backticked_token(text: str, pos: int) -> Token:
    """`` `metric`.acc `` (a quoted prefix, as MLflow allows) or `` `Run name` `` (an attribute)."""
    word, end = _read_quoted(text, pos, "back-ticked name")
    if not word:
        raise FilterError("empty back-ticked name", text, pos, text[pos:end])
    if text.startswith(".", end):
        return _ident_token(text, pos, end, word)
    return Token("word", text[pos:end], pos, word)


def _word_token(text: str, match: re.Match[str]) -> Token:
    word, start, end = match.group(), match.start(), match.end()
    if not text.startswith(".", end):
        if word.isascii() and word.upper() in _KEYWORDS:
            return Token("kw", word, start, word.upper())
        return Token("word", word, start, word)
    return _ident_token(text, start, end, word)


def _ident_token(text: str, start: int, end: int, word: str) -> Token:
    """``prefix.key`` where the prefix ``word`` ends at ``end`` (the ``.``)."""
    key_start = end + 1
    if text[key_start : key_start + 1] in ("`", '"'):
        key, key_end = _read_quoted(text, key_start, "quoted key")
    elif plain := _KEY.match(text, key_start):
        key, key_end = plain.group(), plain.end()
    else:
        found = text[key_start : key_start + 1].strip()
        raise FilterError(f"missing key after '{word}.'", text, key_start, found)
    if not key:
        raise FilterError(f"empty key after '{word}.'", text, key_start, text[key_start:key_end])
    return Token("ident", text[start:key_end], start, (word, key, end - start))


@functools.lru_cache(maxsize=16384)
def parse_number(text: str) -> int | float | None:
    """``text`` as a number when it is written as one (no ``nan``, ``inf`` or ``1_000``)."""
    match = _NUMBER.fullmatch(text)
    if match is None:
        return None
    if match.lastindex is None:  # no fraction, no exponent: an integer, exactly
        try:
            return int(text)
        except ValueError:  # more digits than int() accepts from text
            pass
    return float(text)


# -- fields ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """A resolved field: how to read it from a run and how to compare it.

    Attributes
    ----------
    name : str
        As written in messages, e.g. ``metrics.acc``.
    kind : str
        ``"number"``, ``"text"`` or ``"many"`` (several text values, any of which may match).
    get : callable
        Run document -> value (``None`` when missing), or a list of values for ``"many"``.
    fold : bool
        Compare case-insensitively.
    time : bool
        Milliseconds since the epoch; ISO date literals are accepted.
    path : (section, key) or None
        Where a metric, param or tag lives, so the commonest comparisons can read it inline.
    """

    name: str
    kind: str
    get: Callable[[Run], Any]
    fold: bool = False
    time: bool = False
    path: tuple[str, str] | None = None


def _section(run: Run, name: str) -> dict[str, Any]:
    sub = run.get(name)
    return sub if isinstance(sub, dict) else _EMPTY


def _as_number(value: Any) -> int | float | None:
    if isinstance(value, (int, float)):
        return value
    return parse_number(value) if isinstance(value, str) else None


def _as_text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else str(value)


def _metric_getter(key: str) -> Callable[[Run], Any]:
    def get(run: Run) -> Any:  # the hot path of most filters, hence inlined
        metrics = run.get("metrics")
        metric = metrics.get(key) if isinstance(metrics, dict) else None
        if isinstance(metric, dict):
            metric = metric.get("last")
        return metric if isinstance(metric, (int, float)) else _as_number(metric)

    return get


def _text_getter(section: str, key: str) -> Callable[[Run], Any]:
    def get(run: Run) -> Any:
        values = run.get(section)
        value = values.get(key) if isinstance(values, dict) else None
        return value if value is None or isinstance(value, str) else str(value)

    return get


def _duration(run: Run) -> float | None:
    start, end = _as_number(run.get("start_time")), _as_number(run.get("end_time"))
    return None if start is None or end is None else (end - start) / 1000.0


def _user(run: Run) -> str | None:
    tags = _section(run, "tags")
    return _as_text(run.get("user") or tags.get("mlops.user") or tags.get("mlflow.user"))


def _time_getter(name: str) -> Callable[[Run], Any]:
    return lambda run: _as_number(run.get(name))


def _attribute(name: str) -> Callable[[Run], Any]:
    return lambda run: _as_text(run.get(name))


def _artifact_uri(run: Run) -> str | None:
    """Where the run's artifacts are: the backend's location, else the run's ``runs:/`` URI."""
    uri = run.get("artifact_uri")
    if uri is None and run.get("run_id") is not None:
        return f"runs:/{run['run_id']}"
    return _as_text(uri)


def _system_tag_getter(key: str) -> Callable[[Run], Any]:
    tag, attribute = _text_getter("tags", key), _ATTRIBUTES[_SYSTEM_TAGS[key]]("").get

    def get(run: Run) -> Any:
        value = tag(run)
        return attribute(run) if value is None else value

    return get


_ATTRIBUTES: dict[str, Callable[[str], Field]] = {
    "run_id": lambda n: Field(n, "text", _attribute("run_id")),
    "run_name": lambda n: Field(n, "text", _attribute("run_name")),
    "status": lambda n: Field(n, "text", _attribute("status"), fold=True),
    "start_time": lambda n: Field(n, "number", _time_getter("start_time"), time=True),
    "end_time": lambda n: Field(n, "number", _time_getter("end_time"), time=True),
    "duration_s": lambda n: Field(n, "number", _duration),
    "experiment": lambda n: Field(n, "text", _attribute("experiment")),
    "experiment_id": lambda n: Field(n, "text", _attribute("experiment_id")),
    "parent_run_id": lambda n: Field(n, "text", _attribute("parent_run_id")),
    "user": lambda n: Field(n, "text", _user),
    "artifact_uri": lambda n: Field(n, "text", _artifact_uri),
}


def _dataset_getter(key: str) -> Callable[[Run], list[Any]]:
    def get(run: Run) -> list[Any]:
        datasets = run.get("datasets") or ()
        return [_as_text(d.get(key)) for d in datasets if isinstance(d, dict)]

    return get


def _letter_pairs(word: str) -> set[tuple[str, str]]:
    padded = f" {word.lower()} "
    return set(zip(padded, padded[1:], strict=False))


def _suggest(word: str, choices: Any) -> str:
    """``; did you mean 'x'?`` for the choice closest to ``word``, or nothing.

    Closeness is the share of letter pairs the two words have in common (Dice's coefficient),
    at least 0.6 as difflib's default. Unlike difflib's matcher it is linear in the words'
    lengths, so a long hostile identifier costs no more to refuse than to read.
    """
    pairs = _letter_pairs(word)
    best, best_score = "", 0.6
    for choice in choices:
        other = _letter_pairs(choice)
        score = 2 * len(pairs & other) / (len(pairs) + len(other))
        if score > best_score:
            best, best_score = choice, score
    return f"; did you mean {best!r}?" if best else ""


def resolve_field(token: Token, text: str) -> Field:
    """The :class:`Field` an ``ident`` token names; ``FilterError`` for unknown prefixes or keys."""
    prefix, key, prefix_len = token.value
    section = _PREFIXES.get(prefix.lower())
    key_pos = token.pos + prefix_len + 1
    raw_key = token.text[prefix_len + 1 :]
    if section is None:
        hint = _suggest(prefix.lower(), _SECTIONS) or f"; use {', '.join(_SECTIONS)}"
        written = token.text[:prefix_len]
        raise FilterError(f"unknown prefix {written!r}{hint}", text, token.pos, written)
    name = f"{section}.{key}" if _KEY.fullmatch(key) else f"{section}.`{key}`"
    if section == "metrics":
        return Field(name, "number", _metric_getter(key), path=(section, key))
    if section == "tags" and key in _SYSTEM_TAGS:
        return Field(name, "text", _system_tag_getter(key))
    if section in ("params", "tags"):
        return Field(name, "text", _text_getter(section, key), path=(section, key))
    if section == "datasets":
        if key not in _DATASET_KEYS:
            hint = _suggest(key, _DATASET_KEYS) or f"; use one of {', '.join(_DATASET_KEYS)}"
            raise FilterError(f"unknown dataset field {key!r}{hint}", text, key_pos, raw_key)
        return Field(name, "many", _dataset_getter(key))
    attribute = _attribute_name(key)
    if attribute is None:
        hint = _suggest(key, [*_ATTRIBUTES, *_ALIASES]) or f" (known: {', '.join(_ATTRIBUTES)})"
        raise FilterError(f"unknown attribute {key!r}{hint}", text, key_pos, raw_key)
    return _ATTRIBUTES[attribute](f"attributes.{attribute}")


def _attribute_name(key: str) -> str | None:
    attribute = _ALIASES.get(key.lower(), key.lower())
    return attribute if attribute in _ATTRIBUTES else None


def bare_field(token: Token, text: str) -> Field:
    """A field written without a prefix: an attribute, as MLflow reads ``run_name = 'x'``.

    Anything else is a ``FilterError`` with the likely fix (``metrics.acc`` for ``acc``).
    """
    word = token.value
    attribute = _attribute_name(word)
    if attribute is not None:
        return _ATTRIBUTES[attribute](f"attributes.{attribute}")
    if word.lower() in _PREFIXES:
        message = f"{token.text!r} needs a key: write {word}.<key>"
        raise FilterError(message, text, token.pos, token.text)
    hint = f"did you mean metrics.{word} or params.{word}?"
    raise FilterError(f"unknown field {token.text!r}: {hint}", text, token.pos, token.text)


# -- literals and comparisons ------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    """A value in a filter: ``kind`` is ``"text"``, ``"number"`` or ``"bool"``."""

    kind: str
    text: str
    number: int | float | None
    token: Token


def any_of(parts: list[Predicate]) -> Predicate:
    """``parts[0] OR parts[1] OR ...``."""
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda run: first(run) or second(run)
    return lambda run: any(part(run) for part in parts)


def negation(inner: Predicate) -> Predicate:
    """``NOT inner``: plain negation, so a NULL comparison under NOT holds."""
    return lambda run: not inner(run)


def all_of(parts: list[Predicate]) -> Predicate:
    """``parts[0] AND parts[1] AND ...``."""
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda run: first(run) and second(run)
    return lambda run: all(part(run) for part in parts)


def _wrap(field: Field, test: Callable[[Any], bool]) -> Predicate:
    """A predicate that is false on NULL and otherwise applies ``test`` to the field's value."""
    get = field.get
    if field.kind == "many":
        return lambda run: any(v is not None and test(v) for v in get(run))

    def predicate(run: Run) -> bool:
        value = get(run)
        return value is not None and test(value)

    return predicate


def _is_null(field: Field, want_null: bool) -> Predicate:
    get = field.get
    if field.kind == "many":
        return lambda run: all(v is None for v in get(run)) == want_null
    return lambda run: (get(run) is None) == want_null


def _text_test(field: Field, op: str, literal: Literal) -> Callable[[Any], bool]:
    compare, number = _COMPARE[op], literal.number
    target = literal.text.lower() if field.fold or literal.kind == "bool" else literal.text
    if literal.kind == "bool":
        return lambda v: compare(v.lower(), target)
    if number is None:
        if field.fold:
            return lambda v: compare(v.lower(), target)
        return lambda v: compare(v, target)

    def test(value: str) -> bool:
        stored = parse_number(value)
        if stored is not None:
            return compare(stored, number)
        return compare(value.lower() if field.fold else value, target)

    return test


def _iso_ms(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return round(moment.timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        return None


def _number_of(field: Field, literal: Literal, text: str) -> int | float:
    if literal.number is not None and literal.kind != "text":
        return literal.number
    token = literal.token
    if field.time:
        ms = _iso_ms(literal.text)
        if ms is None:
            message = (
                f"{field.name} takes milliseconds since the epoch (e.g. 1700000000000) "
                f"or an ISO date such as '2024-01-31', not {token.text}"
            )
            raise FilterError(message, text, token.pos, token.text)
        return ms
    message = f"{field.name} is a number, but {token.text} is a string: remove the quotes"
    raise FilterError(message, text, token.pos, token.text)


def compare(field: Field, op: Token, literal: Literal, text: str) -> Predicate:
    """``field <op> literal``."""
    if field.kind == "number":
        target, fn = _number_of(field, literal, text), _COMPARE[op.text]
        if field.path is not None:
            return _metric_compare(field.path[1], fn, target)
        get = field.get

        def predicate(run: Run) -> bool:
            value = get(run)
            return value is not None and fn(value, target)

        return predicate
    if literal.kind == "bool" and _COMPARE[op.text] not in (operator.eq, operator.ne):
        message = f"TRUE and FALSE only work with =, != and IN, not {op.text}"
        raise FilterError(message, text, op.pos, op.text)
    plain_text = literal.kind == "text" and literal.number is None and not field.fold
    if field.path is not None and plain_text and op.text in ("=", "=="):
        return _text_equals(*field.path, literal.text)
    return _wrap(field, _text_test(field, op.text, literal))


# The two comparisons most filters are made of, read inline: a call per run less than
# ``_wrap(field, test)``, which matters on the search's hot path.
def _metric_compare(key: str, fn: Callable[[Any, Any], bool], target: float) -> Predicate:
    """``metrics.<key> <op> target``, false when the run has no such metric."""

    def predicate(run: Run) -> bool:
        metrics = run.get("metrics")
        metric = metrics.get(key) if metrics.__class__ is dict else None
        if metric.__class__ is dict:
            metric = metric.get("last")
        if metric.__class__ is not float and metric.__class__ is not int:
            metric = _as_number(metric)
            if metric is None:
                return False
        return fn(metric, target)

    return predicate


def _text_equals(section: str, key: str, target: str) -> Predicate:
    """``params|tags.<key> = 'target'`` for a target that does not read as a number."""

    def predicate(run: Run) -> bool:
        values = run.get(section)
        value = values.get(key) if values.__class__ is dict else None
        if value.__class__ is str:
            return value == target  # type: ignore[no-any-return]
        return value is not None and str(value) == target

    return predicate


def like(field: Field, op: Token, literal: Literal, negate: bool, text: str) -> Predicate:
    """``field [NOT] LIKE|ILIKE 'pattern'``."""
    if field.kind == "number":
        message = f"{op.text} matches text, but {field.name} is a number: use =, <, > ... or IN"
        raise FilterError(message, text, op.pos, op.text)
    if literal.kind != "text":
        token = literal.token
        raise FilterError(
            f"{op.text} needs a quoted pattern such as '%rf%'", text, token.pos, token.text
        )
    matches = like_matcher(literal.text, ignore_case=field.fold or op.value == "ILIKE")
    if negate:
        return _wrap(field, lambda v: not matches(v))
    return _wrap(field, matches)


def is_in(field: Field, literals: list[Literal], negate: bool, text: str) -> Predicate:
    """``field [NOT] IN (values...)``: equal to any of the values."""
    if field.kind == "number":
        targets = frozenset(_number_of(field, lit, text) for lit in literals)
        test: Callable[[Any], bool] = targets.__contains__
    elif all(lit.kind == "text" and lit.number is None for lit in literals):
        texts = frozenset(lit.text.lower() if field.fold else lit.text for lit in literals)
        test = (lambda v: v.lower() in texts) if field.fold else texts.__contains__
    else:
        tests = [_text_test(field, "=", lit) for lit in literals]
        test = _any_test(tests)
    if negate:
        return _wrap(field, lambda v: not test(v))
    return _wrap(field, test)


def _any_test(tests: list[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    return lambda value: any(test(value) for test in tests)


def is_null(field: Field, negate: bool) -> Predicate:
    """``field IS [NOT] NULL``."""
    return _is_null(field, want_null=not negate)
