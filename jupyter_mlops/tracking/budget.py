"""Time budgets for searches: how a server keeps any one filter from holding it for long.

:func:`time_budget` sets a deadline for the searches of the current context (a thread, or a
task); :func:`jupyter_mlops.tracking.search.search` then evaluates its filter with
:func:`filter_within`, which looks at the clock between chunks of runs and raises
:class:`~jupyter_mlops.errors.SearchTimeout` past the deadline. Outside a budget nothing
changes: a notebook's own search is never cut short.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jupyter_mlops.errors import SearchTimeout

__all__ = ["active", "filter_within", "time_budget"]

CHUNK = 64
"""Runs evaluated between two looks at the clock."""

# Budgeted searches evaluate their chunks one at a time: searches in several threads then take
# turns instead of all fighting the server's event loop for the GIL, which each hand-over would
# otherwise give to any of them (a p99 of 200 ms for Jupyter's /api/status under 8 searches).
_TURN = threading.Lock()
_DEADLINE: contextvars.ContextVar[tuple[float, float] | None] = contextvars.ContextVar(
    "jupyter_mlops_search_deadline", default=None
)


@contextlib.contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Make every search in this context stop after ``seconds`` with ``SearchTimeout``.

    The server extension sets one around each request, so no filter can keep a worker thread
    busy for long. The check is cooperative: between two chunks of runs, the search looks at the
    clock. Budgeted searches in several threads take turns chunk by chunk, so only one of them
    at a time competes with the server's event loop for the interpreter.

    Examples
    --------
    >>> from jupyter_mlops.tracking.search import search
    >>> with time_budget(5.0):
    ...     search([{"params": {"model": "rf"}}], "params.model LIKE 'r%'") != []
    True
    """
    token = _DEADLINE.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def active() -> bool:
    """Whether the current context has a budget."""
    return _DEADLINE.get() is not None


def filter_within(runs: Iterable[Any], predicate: Callable[[Any], bool]) -> list[Any]:
    """``[run for run in runs if predicate(run)]``, stopped at the context's deadline."""
    budget = _DEADLINE.get()
    if budget is None:
        return [run for run in runs if predicate(run)]
    deadline, seconds = budget
    kept: list[Any] = []
    checked = 0
    iterator = iter(runs)
    while chunk := list(itertools.islice(iterator, CHUNK)):
        with _TURN:
            kept.extend(run for run in chunk if predicate(run))
        checked += len(chunk)
        if time.monotonic() > deadline:
            raise SearchTimeout(
                f"The search was stopped after {seconds:g} s, with {checked:,} runs checked: "
                "narrow the filter (fewer or shorter LIKE patterns) or pick an experiment."
            )
    return kept
