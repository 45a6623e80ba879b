"""The autolog session and the state shared by autolog and its scikit-learn part.

:mod:`~jupyter_mlops.tracking.autolog` installs the patches and runs sessions;
:mod:`~jupyter_mlops.tracking.autolog_sklearn` logs what a fit or a metric call gave. Both
import what they share from here, so neither imports the other at load time.
"""

from __future__ import annotations

import sys
import warnings
import weakref
from collections.abc import Callable, MutableMapping
from types import FrameType
from typing import Any

_MARK = "__mlops_autolog_original__"
_LIBRARIES = ("sklearn.", "joblib.", "jupyter_mlops.")
_DECORATOR_MODULES = ("sklearn.utils._set_output", "functools", "contextlib")


class AutologSession:
    """What one tracked cell (or ``%mlops_track start`` run) has autologged so far."""

    def __init__(self, user_ns: MutableMapping[str, Any] | None = None):
        self.user_ns = user_ns
        self.fits = 0
        self.models: list[str] = []
        self.labels: set[str] = set()
        self.warned: set[str] = set()
        self._rebound: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {}
        self.metric_calls: list[tuple[str, float, Any]] = []

    metric_vars: tuple[str, ...] = ()

    def defer_metric(self, key: str, value: float, result: Any) -> None:
        """Keep a ``sklearn.metrics`` result to log when the block ends."""
        self.metric_calls.append((key, value, result))

    def log_metric_calls(self) -> None:
        """Log the kept results, except those the user logs under a name of their own."""
        from jupyter_mlops.tracking import fluent

        calls, self.metric_calls = self.metric_calls, []
        if not calls or fluent.active_run() is None:
            return
        namespace = self.user_ns or {}
        own = [namespace.get(name) for name in self.metric_vars if name in namespace]
        for key, value, result in calls:
            if not any(result is mine for mine in own):  # `acc = accuracy_score(...)`, -m acc
                fluent.log_metric(key, value)

    def guard(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn``; an exception becomes one warning per ``what`` and ``None``."""
        try:
            return fn(*args)
        except Exception as e:
            if what not in self.warned:
                self.warned.add(what)
                warnings.warn(
                    f"jupyter_mlops autolog could not log {what}: {type(e).__name__}: {e}",
                    RuntimeWarning,
                    stacklevel=_user_stacklevel(),
                )
            return None

    def rebind(self) -> None:
        """Point metric functions already imported by the user at their logging wrappers."""
        if self.user_ns is None or not _state.metric_wrappers:
            return
        for key, value in list(self.user_ns.items()):
            pair = _state.metric_wrappers.get(id(value))
            if pair is not None and pair[0] is value:
                self.user_ns[key] = pair[1]
                self._rebound[key] = pair

    def restore(self) -> None:
        """Undo :meth:`rebind` for names the user did not reassign meanwhile."""
        if self.user_ns is None:
            return
        for key, (original, wrapper) in self._rebound.items():
            if self.user_ns.get(key) is wrapper:
                self.user_ns[key] = original
        self._rebound.clear()


class _State:
    def __init__(self) -> None:
        self.session: AutologSession | None = None
        self.depth = 0
        self.fit_patched = False
        self.metrics_patched = False
        self.watching = False
        self.wrapped: weakref.WeakSet[type] = weakref.WeakSet()
        self.metric_wrappers: dict[int, tuple[Callable[..., Any], Callable[..., Any]]] = {}


_state = _State()


def active_session() -> AutologSession | None:
    """The innermost active session, or ``None`` outside tracked code."""
    return _state.session


def user_frame(frame: FrameType | None) -> FrameType | None:
    """The first frame above decorators that scikit-learn wraps methods with."""
    while frame is not None and frame.f_globals.get("__name__", "") in _DECORATOR_MODULES:
        frame = frame.f_back
    return frame


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the user's line (the fit or metric call)."""
    frame: FrameType | None = sys._getframe(2)
    level = 2
    while frame is not None and (_is_library(frame) or user_frame(frame) is not frame):
        frame, level = frame.f_back, level + 1
    return level


def _is_library(frame: FrameType) -> bool:
    name = frame.f_globals.get("__name__", "") or ""
    return name.startswith(_LIBRARIES) or name in ("sklearn", "joblib")


def original_metric(name: str) -> Callable[..., Any]:
    """The unwrapped ``sklearn.metrics`` function ``name`` (autolog's own calls use these)."""
    import sklearn.metrics as metrics

    function = getattr(metrics, name)
    return getattr(function, _MARK, function)
