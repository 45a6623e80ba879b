"""What every magic shares: argument parsing and turning our errors into one-line UsageErrors."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError

from jupyter_mlops.errors import MlopsError


def parse(magic: Any, line: str, name: str) -> Any:
    """Parse ``line`` with ``magic``'s magic_arguments parser, unquoting as a shell does."""
    try:
        argv = shlex.split(line)
    except ValueError as e:
        raise UsageError(
            f"%{name}: cannot split the arguments ({e}); quote values with spaces, "
            'e.g. -d "my model".'
        ) from e
    try:
        return magic.parser.parse_args(argv)
    except UsageError as e:  # argparse's own words, plus where to look
        raise UsageError(f"%{name}: {e} (see %{name}? for usage).") from e


def usage_error(error: MlopsError) -> UsageError:
    """The error's first line as a UsageError (a filter error's caret drawing is left out)."""
    text = str(error).strip()
    return UsageError(text.splitlines()[0] if text else type(error).__name__)


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the core; our errors become one-line UsageErrors chained to the original."""
    try:
        return fn(*args, **kwargs)
    except MlopsError as e:
        raise usage_error(e) from e


def variable(shell: Any, name: str, what: str) -> Any:
    """The notebook variable ``name``, or a UsageError that says it is missing."""
    if name not in shell.user_ns:
        raise UsageError(f"No variable named {name!r} in the notebook ({what}).")
    return shell.user_ns[name]
