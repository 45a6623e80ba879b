"""Search spaces written as text: ``lr=loguniform(1e-4, 1e-1)``, ``depth=int(1, 10)``...

The same words in the magic (``-s 'lr=loguniform(1e-4, 1e-1)'``) and in the Python API
(``space={"lr": "loguniform(1e-4, 1e-1)", "kernel": ["rbf", "linear"]}``). Text is read with
:mod:`ast`, never evaluated. Each :class:`Param` knows how to ask an Optuna trial for a value
and how to describe itself for the parent run's tags.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jupyter_mlops.errors import InvalidInput

KINDS = ("uniform", "loguniform", "int", "logint", "choice")
EXAMPLES = "loguniform(1e-4, 1e-1), uniform(0, 1), int(1, 10), logint(16, 1024), choice('a', 'b')"
_NAME = re.compile(r"^[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Param:
    """One dimension of a search space."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """Ask an Optuna ``trial`` for this param's value."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        log = self.kind.startswith("log")
        if self.kind in ("int", "logint"):
            step = int(self.step or 1)
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=step, log=log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=log)

    def grid(self) -> list[Any]:
        """Every value of this param for the grid sampler."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind in ("int", "logint"):
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step:
            count = int(round((self.high - self.low) / self.step))
            return [self.low + i * self.step for i in range(count + 1)]
        raise InvalidInput(
            f"The grid sampler needs a finite space, but {self.name}={self.text()} is "
            f"continuous: give it a step, e.g. {self.name}=uniform(0, 1, step=0.1), or use "
            "choice(...)."
        )

    @property
    def log(self) -> bool:
        """Whether values are drawn on a log scale (charts use it too)."""
        return self.kind.startswith("log")

    def text(self) -> str:
        """The param as it is written: ``loguniform(0.0001, 0.1)``."""
        if self.kind == "choice":
            return f"choice({', '.join(repr(c) for c in self.choices)})"
        step = f", step={_num(self.step)}" if self.step else ""
        return f"{self.kind}({_num(self.low)}, {_num(self.high)}{step})"


def parse_space(space: Mapping[str, Any] | list[str] | None) -> tuple[Param, ...]:
    """Params from a dict or from the magic's ``-s`` items.

    A dict maps names to text or to a list of choices (``{"lr": "loguniform(1e-4, 1e-1)",
    "k": ["a", "b"]}``); items are ``PARAM=SPACE`` strings (``["lr=loguniform(1e-4, 1e-1)"]``).
    """
    if not space:
        raise InvalidInput(
            f"The sweep needs a search space, e.g. -s 'lr=loguniform(1e-4, 1e-1)' "
            f"(spaces: {EXAMPLES})."
        )
    items = space.items() if isinstance(space, Mapping) else (_split(s) for s in space)
    params: dict[str, Param] = {}
    for name, spec in items:
        if name in params:
            raise InvalidInput(f"The search space names {name!r} twice: keep one.")
        params[name] = parse_param(name, spec)
    return tuple(params.values())


def _split(item: str) -> tuple[str, str]:
    name, sep, spec = str(item).partition("=")
    if not sep:
        raise InvalidInput(
            f"Search space {item!r} needs the form PARAM=SPACE, e.g. 'lr=loguniform(1e-4, 1e-1)'."
        )
    return name.strip(), spec.strip()


def parse_param(name: str, spec: Any) -> Param:
    """One param from its text (or a list/tuple of choices)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(f"Search space name {name!r} must be a Python identifier, e.g. lr.")
    if isinstance(spec, (list, tuple)):
        return _choice(name, tuple(spec))
    if isinstance(spec, Param):
        return spec
    text = str(spec).strip()
    try:
        call = ast.parse(text, mode="eval").body
    except SyntaxError:
        call = None
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise InvalidInput(f"Cannot read the space of {name!r}: {text!r} (spaces: {EXAMPLES}).")
    kind = call.func.id
    if kind not in KINDS:
        raise InvalidInput(f"Unknown space {kind!r} for {name!r}: use one of {', '.join(KINDS)}.")
    args = [_literal(name, a) for a in call.args]
    options = {str(k.arg): _literal(name, k.value) for k in call.keywords}
    if kind == "choice":
        return _choice(name, tuple(args))
    return _range(name, kind, args, options)


def _literal(name: str, node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise InvalidInput(
            f"The space of {name!r} takes literal values only (numbers, strings), not "
            f"{ast.unparse(node)!r}."
        ) from None


def _choice(name: str, choices: tuple[Any, ...]) -> Param:
    if not choices:
        raise InvalidInput(f"choice() for {name!r} needs at least one value.")
    for c in choices:
        if not (c is None or isinstance(c, (bool, int, float, str))):
            raise InvalidInput(
                f"choice() values for {name!r} must be numbers, strings, booleans or None, "
                f"not {c!r}."
            )
    return Param(name, "choice", choices=choices)


def _range(name: str, kind: str, args: list[Any], options: dict[str, Any]) -> Param:
    if len(args) != 2 or set(options) - {"step"}:
        raise InvalidInput(f"{kind}() for {name!r} takes (low, high) and an optional step=.")
    low, high = args
    step = options.get("step")
    numbers = [v for v in (low, high, step) if v is not None]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
        raise InvalidInput(f"{kind}() for {name!r} takes numbers, not {low!r}, {high!r}.")
    if not all(math.isfinite(v) for v in numbers) or low >= high:
        raise InvalidInput(f"{kind}({low}, {high}) for {name!r}: low must be below high.")
    if kind.startswith("log") and low <= 0:
        raise InvalidInput(f"{kind}() for {name!r} needs a positive low bound, not {low}.")
    if kind.startswith("log") and step is not None:
        raise InvalidInput(f"{kind}() for {name!r} cannot take a step (log scale).")
    if kind in ("int", "logint") and not all(float(v).is_integer() for v in numbers):
        raise InvalidInput(f"{kind}() for {name!r} takes whole numbers, not {low!r}, {high!r}.")
    if step is not None and step <= 0:
        raise InvalidInput(f"The step of {name!r} must be positive, not {step}.")
    return Param(name, kind, float(low), float(high), float(step) if step else None)


def to_json(params: tuple[Param, ...]) -> str:
    """The space as one JSON object ``{name: text}`` (the parent run's tag)."""
    return json.dumps({p.name: p.text() for p in params}, sort_keys=True)


def from_json(text: str) -> tuple[Param, ...]:
    """Undo :func:`to_json`."""
    return parse_space(json.loads(text))


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)
