"""Every error jupyter_mlops raises on purpose.

Each class also inherits the builtin a caller would naturally catch (as scikit-learn's
``NotFittedError(ValueError, AttributeError)`` does), so ``except ValueError`` keeps working.
Messages say what happened and what to do about it. The Jupyter adapters map these classes to
one place each: ``UsageError`` in magics, an HTTP status in server routes, an exit code in the CLI.
"""

from __future__ import annotations

from typing import Any


class MlopsError(Exception):
    """Base class of all jupyter_mlops errors."""


class InvalidInput(MlopsError, ValueError):
    """The caller passed something malformed (a bad key, value, URI, option...)."""


class SchemaError(InvalidInput):
    """A scoring request whose columns or shape do not fit the model's input signature.

    MLflow's scoring server answers these with ``INVALID_PARAMETER_VALUE`` (a body that does not
    parse, or a value that does not convert to its column's type, is a ``BAD_REQUEST``); the
    model server does the same.
    """


class FilterError(InvalidInput):
    """A search filter or ``order_by`` clause that does not parse.

    Attributes
    ----------
    text : str
        The whole filter.
    position : int
        0-based character offset of the offending token.
    token : str
        The offending token ('' at the end of input).
    """

    def __init__(self, message: str, text: str = "", position: int = 0, token: str = ""):
        self.text = text
        self.position = position
        self.token = token
        shown = f"{message} (at position {position}"
        shown += f", near {token[:40]!r})" if token else ")"
        if text:
            line, caret = _excerpt(text, position)
            shown += f"\n  {line}\n  {' ' * caret}^"
        super().__init__(shown)


_BLANKS = str.maketrans("\n\r\t\v\f", "     ")


def _excerpt(text: str, position: int, width: int = 100) -> tuple[str, int]:
    """At most ``width`` characters of ``text`` around ``position``, and the caret's offset."""
    text = text.translate(_BLANKS)  # a newline in a filter must not push the caret off its line
    if len(text) <= width:
        return text, position
    start = max(0, min(position - width // 2, len(text) - width))
    line = text[start : start + width]
    prefix = "…" if start else ""
    suffix = "…" if start + width < len(text) else ""
    return prefix + line + suffix, position - start + len(prefix)


class SearchTimeout(InvalidInput, TimeoutError):
    """A search that ran past its time budget (the server extension's, for one request)."""


class MissingDependency(MlopsError, ImportError):
    """An optional extra is not installed (the message names the ``pip install`` that fixes it)."""


class NotFound(MlopsError, LookupError):
    """An experiment, run, model, version, alias, deployment or artifact that does not exist."""


class Conflict(MlopsError, ValueError):
    """The request contradicts what the store holds (a write-once param, a taken port...)."""


class StoreError(MlopsError, RuntimeError):
    """The store cannot be opened or written (newer schema, unreadable file, bad location)."""


class StoreDamaged(StoreError):
    """A store file that cannot be read as it was written.

    The message names the file, what is intact and the command that repairs it
    (``jupyter mlops store repair``).
    """


class DiskFull(StoreError):
    """A write refused because the disk holding the store is full; nothing partial was kept."""


class PartialWrite(StoreError):
    """Some of a batch of metric points were written, the rest (``unsent``) were not."""

    def __init__(self, message: str, unsent: list[Any]) -> None:
        super().__init__(message)
        self.unsent = unsent


class IntegrityError(StoreError):
    """An artifact whose bytes no longer match the sha256 recorded when it was logged."""


class ContractViolation(InvalidInput):
    """Data that breaks its data contract: a rejected request, or a pipeline step's output.

    Attributes
    ----------
    report : object
        What was found: a ``DataValidationReport`` (``validate``) or a ``RequestCheck``
        (a model server request).
    """

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class ReadOnlyStore(StoreError, Conflict):
    """A write to a store that can only be read (a read-only mount, no write permission).

    Also a ``Conflict``: the request is fine, the store's state refuses it (HTTP 409).
    """
