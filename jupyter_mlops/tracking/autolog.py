"""scikit-learn autologging, active only inside a tracked cell (plain Python, no IPython).

``with autolog(user_ns, cell):`` makes every scikit-learn fit in the block log to the active run;
outside such a block the patches cost one attribute read and change nothing.

How the patches work
--------------------
They are installed once per process, as soon as ``sklearn`` is imported: at once when it already
is (or when the cell mentions it, which imports ``sklearn.base``), else by a one-shot import
watcher on ``sklearn.base``, so a helper module that imports scikit-learn inside the cell is
covered too.

- ``fit``, ``fit_predict`` and ``fit_transform`` found in the ``__dict__`` of every
  ``BaseEstimator`` subclass (and the classes of their MRO, i.e. the mixins) are wrapped;
  ``available_if`` descriptors get their function wrapped.
- ``BaseEstimator.__init_subclass__`` is hooked (calling whatever ran before, so the mixins'
  own ``__init_subclass__`` chain is kept) so classes defined later — an estimator module first
  imported inside the cell, or a class written in the notebook — are wrapped at definition.
- The public ``*_score``, ``*_error`` and ``*_loss`` functions of ``sklearn.metrics`` are
  replaced by wrappers; copies already imported into the user namespace are rebound for the
  duration of the block.

Only the outermost fit logs: fits made while another is running (Pipeline steps, grid-search
candidates, ``super().fit``) and fits called by scikit-learn or joblib themselves
(``cross_val_score``) do not. What a fit logs is in :mod:`jupyter_mlops.tracking.autolog_sklearn`.
Any exception inside autologging becomes one warning; the user's fit result is always returned
unchanged.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import inspect
import sys
import warnings
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import ExitStack, contextmanager
from types import FrameType, ModuleType
from typing import Any

from jupyter_mlops.tracking.autolog_session import (  # noqa: F401 - also the public home
    _DECORATOR_MODULES,
    _LIBRARIES,
    _MARK,
    AutologSession,
    _is_library,
    _state,
    _user_stacklevel,
    active_session,
    original_metric,
    user_frame,
)

FIT_METHODS = ("fit", "fit_predict", "fit_transform")
METRIC_SUFFIXES = ("_score", "_error", "_loss")
MAX_LOGGED_FITS = 20


@contextmanager
def autolog(
    user_ns: MutableMapping[str, Any] | None = None,
    cell: str = "",
    metric_vars: tuple[str, ...] | list[str] = (),
) -> Iterator[AutologSession]:
    """Autolog scikit-learn inside the block (nestable; the innermost block wins).

    Parameters
    ----------
    user_ns : dict, optional
        The notebook's namespace: metric functions imported into it are rebound for the block,
        and ``sklearn.metrics`` calls count only when made from code that lives in it.
    cell : str
        The cell's source; mentioning ``sklearn`` installs the patches before it runs.
    metric_vars : sequence of str
        Variables the cell logs as metrics itself (``%%mlops_track -m``): a ``sklearn.metrics``
        result bound to one of them is not logged a second time under its autolog name.
    """
    session = AutologSession(user_ns)
    session.metric_vars = tuple(metric_vars)
    previous = _state.session
    session.guard("the scikit-learn patches", prepare, cell)
    _state.session = session
    session.guard("metric functions", session.rebind)
    try:
        with _torch_autolog(session, cell):
            yield session
    finally:
        _state.session = previous
        session.guard("metric functions", session.restore)
        session.guard("sklearn.metrics results", session.log_metric_calls)


def _torch_autolog(session: AutologSession, cell: str) -> ExitStack:
    """PyTorch's autolog (:mod:`jupyter_mlops.tracking.autolog_torch`) for the same block."""
    from jupyter_mlops.tracking import autolog_torch

    stack = ExitStack()
    if session.guard("PyTorch autolog", autolog_torch.wanted, cell):
        session.guard("PyTorch autolog", stack.enter_context, autolog_torch.autolog(session.guard))
    return stack


def prepare(cell: str = "") -> None:
    """Install the patches now if scikit-learn is (or is about to be) used, else watch for it."""
    if "sklearn" in sys.modules or "sklearn" in cell:
        try:
            import sklearn.base
        except ImportError:
            return
        install_fit_patches(sklearn.base)
        if "sklearn.metrics" in sys.modules or "sklearn" in cell:
            install_metric_patches()
    elif not _state.watching:
        _state.watching = True
        sys.meta_path.insert(0, _SklearnWatcher())


# -- fit patches ------------------------------------------------------------------------------
def install_fit_patches(base: ModuleType) -> None:
    """Wrap every estimator's fit methods and hook class creation (once per process)."""
    if _state.fit_patched:
        return
    _state.fit_patched = True
    estimator = base.BaseEstimator
    original = estimator.__dict__.get("__init_subclass__")

    def __init_subclass__(cls: type, **kwargs: Any) -> None:
        if original is not None:
            original.__get__(None, cls)(**kwargs)
        else:
            super(estimator, cls).__init_subclass__(**kwargs)
        try:
            wrap_class(cls)
        except Exception:  # noqa: S110 - never stop a class from being defined
            pass

    estimator.__init_subclass__ = classmethod(__init_subclass__)
    for cls in _all_subclasses(estimator):
        wrap_class(cls)
    for value in list(vars(base).values()):
        if isinstance(value, type):
            wrap_class(value)


def _all_subclasses(root: type) -> list[type]:
    seen: dict[type, None] = {}
    stack = [root]
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen[cls] = None
        stack.extend(type.__subclasses__(cls))
    return list(seen)


def wrap_class(cls: type) -> None:
    """Wrap the fit methods defined by ``cls`` and the classes of its MRO."""
    for klass in cls.__mro__:
        if klass is object or klass in _state.wrapped:
            continue
        for name in FIT_METHODS:
            _wrap_attribute(klass, name)
        try:
            _state.wrapped.add(klass)
        except TypeError:
            pass


def _wrap_attribute(klass: type, name: str) -> None:
    attr = klass.__dict__.get(name)
    if attr is None:
        return
    if inspect.isfunction(attr):
        if not hasattr(attr, _MARK):
            try:
                setattr(klass, name, _fit_wrapper(attr))
            except (TypeError, AttributeError):
                pass
    elif inspect.isfunction(getattr(attr, "fn", None)) and hasattr(attr, "check"):
        if not hasattr(attr.fn, _MARK):  # sklearn's available_if descriptor
            attr.fn = _fit_wrapper(attr.fn)


def _fit_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        session = _state.session
        if session is None or _state.depth:
            return original(self, *args, **kwargs)
        caller = user_frame(sys._getframe(1))
        if caller is None or _is_library(caller):
            return original(self, *args, **kwargs)
        _state.depth += 1
        try:
            result = original(self, *args, **kwargs)
            session.guard("this fit", _log_fit, session, self, args, kwargs, caller)
        finally:
            _state.depth -= 1
        return result

    setattr(fit, _MARK, original)
    return fit


def _log_fit(
    session: AutologSession, estimator: Any, args: tuple, kwargs: dict, caller: FrameType
) -> None:
    from jupyter_mlops.tracking import autolog_sklearn

    session.fits += 1
    if session.fits > MAX_LOGGED_FITS:
        if session.fits == MAX_LOGGED_FITS + 1:
            warnings.warn(
                f"jupyter_mlops autolog logged the first {MAX_LOGGED_FITS} fits of this run; "
                "later fits are not logged (log them with a run each, e.g. one tracked cell "
                "per model).",
                RuntimeWarning,
                stacklevel=_user_stacklevel(),
            )
        return
    install_metric_patches()
    session.guard("metric functions", session.rebind)
    autolog_sklearn.log_fit(session, estimator, args, kwargs, caller)


# -- metric patches ---------------------------------------------------------------------------
def install_metric_patches() -> None:
    """Replace ``sklearn.metrics`` score/error/loss functions by logging wrappers (once)."""
    if _state.metrics_patched:
        return
    import sklearn.metrics as metrics

    _state.metrics_patched = True
    for name in getattr(metrics, "__all__", dir(metrics)):
        original = getattr(metrics, name, None)
        if not name.endswith(METRIC_SUFFIXES) or not callable(original):
            continue
        if hasattr(original, _MARK) or isinstance(original, type):
            continue
        wrapper = _metric_wrapper(name, original)
        setattr(metrics, name, wrapper)
        _state.metric_wrappers[id(original)] = (original, wrapper)


def _metric_wrapper(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def metric(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        session = _state.session
        if session is not None and session.fits and not _state.depth:
            caller = sys._getframe(1)
            if _called_by_user(session, caller):
                from jupyter_mlops.tracking import autolog_sklearn

                session.guard(
                    f"{name}()",
                    autolog_sklearn.log_metric_call,
                    name,
                    args,
                    kwargs,
                    result,
                    caller,
                )
        return result

    setattr(metric, _MARK, original)
    return metric


def _called_by_user(session: AutologSession, frame: FrameType) -> bool:
    if session.user_ns is not None:
        return frame.f_globals is session.user_ns
    return not _is_library(frame)


# -- import watcher ---------------------------------------------------------------------------
class _SklearnWatcher(importlib.abc.MetaPathFinder):
    """Install the fit patches right after ``sklearn.base`` is first executed."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "sklearn.base":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = _find_spec_elsewhere(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader)
        return spec


def _find_spec_elsewhere(fullname: str, path: Any, target: Any) -> Any:
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        spec = find(fullname, path, target)
        if spec is not None:
            return spec
    return importlib.machinery.PathFinder.find_spec(fullname, path)


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any):
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        try:
            install_fit_patches(module)
        except Exception:  # noqa: S110 - autologging must never break an import
            pass

    def __getattr__(self, name: str) -> Any:
        if name == "_loader":
            raise AttributeError(name)
        return getattr(self._loader, name)
