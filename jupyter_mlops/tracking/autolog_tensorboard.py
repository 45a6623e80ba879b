"""``torch.utils.tensorboard.SummaryWriter`` calls also logged into the active run.

Once installed (:func:`watch`: at once when the writer module is loaded, else as soon as it is
imported), these ``SummaryWriter`` methods log into the active run whenever there is one (a
``%%mlops_track`` cell, a ``%mlops_track start`` run, ``with start_run():``), then write their
event files exactly as before:

=====================================  =========================================================
``add_scalar(tag, v, step, walltime)``  metric ``tag`` at ``step`` (with the wall time)
``add_scalars(main, {k: v}, step)``     metrics ``main/k``
``add_hparams(hparams, metrics)``       params and metrics of the run; if the run already holds
                                        other values for those params (several configurations
                                        trained in one cell), a nested run gets them instead
``add_figure(tag, figure, step)``       artifact ``tensorboard/figures/<tag>/step-<n>.png``
``add_text(tag, text, step)``           artifact ``tensorboard/text/<tag>.md``, a section a step
=====================================  =========================================================

Keys are the writer's tags. When a run is fed by several writers with different log
folders (``runs/x/train`` and ``runs/x/val`` both writing ``loss``), the first writer's tags are
kept as they are and the others' get their folder's name as a prefix (``val/loss``).

Outside a run the wrappers cost one list check. A failure in logging is one warning; the writer's
own call always runs, and its result is returned unchanged.
"""

from __future__ import annotations

import functools
import importlib.abc
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

WRITER_MODULE = "torch.utils.tensorboard.writer"
METHODS = ("add_scalar", "add_scalars", "add_hparams", "add_figure", "add_text")
FIGURE_FOLDER = "tensorboard/figures"
TEXT_FOLDER = "tensorboard/text"
_MARK = "__mlops_capture_original__"


class _State:
    def __init__(self) -> None:
        self.patched = False
        self.watching = False
        self.inside = False  # a writer call in progress (add_hparams calls add_scalar itself)
        self.main_logdir: dict[str, str] = {}  # run id → the first writer's log folder
        self.texts: dict[tuple[str, str], list[str]] = {}
        self.warned: set[str] = set()


_state = _State()


def watch() -> None:
    """Patch ``SummaryWriter`` now if its module is loaded, else when it gets imported."""
    if _state.patched:
        return
    module = sys.modules.get(WRITER_MODULE)
    if module is not None:
        patch(module)
    elif not _state.watching:
        _state.watching = True
        sys.meta_path.insert(0, _WriterWatcher())


def patch(module: Any) -> None:
    """Wrap the logging methods of ``module.SummaryWriter`` (once per process)."""
    if _state.patched:
        return
    writer = module.SummaryWriter
    for name in METHODS:
        original = getattr(writer, name)
        if not hasattr(original, _MARK):
            setattr(writer, name, _wrapper(name, original))
    _state.patched = True


def _wrapper(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    from jupyter_mlops.tracking import fluent

    log = _LOGGERS[name]

    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        run = fluent.active_run()
        if run is None or _state.inside:
            return original(self, *args, **kwargs)
        _state.inside = True
        try:
            try:  # before the writer runs: add_figure closes the figure
                log(self, run.id, *args, **kwargs)
            except Exception as e:
                _warn(name, e)
            return original(self, *args, **kwargs)
        finally:
            _state.inside = False

    setattr(method, _MARK, original)
    return method


def _warn(name: str, error: Exception) -> None:
    if name in _state.warned:
        return
    _state.warned.add(name)
    warnings.warn(
        f"jupyter_mlops could not log SummaryWriter.{name} into the run: "
        f"{type(error).__name__}: {error}",
        RuntimeWarning,
        stacklevel=3,
    )


# -- what each method logs ------------------------------------------------------------------------
def _key(writer: Any, run_id: str, tag: str) -> str:
    logdir = str(writer.get_logdir())
    main = _state.main_logdir.setdefault(run_id, logdir)
    if logdir == main:
        return str(tag)
    return f"{os.path.basename(os.path.normpath(logdir))}/{tag}"


def _timestamp(walltime: float | None) -> int | None:
    return None if walltime is None else int(float(walltime) * 1000)


def _step(global_step: Any) -> int | None:
    return None if global_step is None else int(global_step)


def _add_scalar(
    writer: Any,
    run_id: str,
    tag: str,
    scalar_value: Any,
    global_step: Any = None,
    walltime: float | None = None,
    *args: Any,
    **kwargs: Any,
) -> None:
    from jupyter_mlops.tracking import fluent

    key = _key(writer, run_id, tag)
    fluent.log_metric(key, float(scalar_value), _step(global_step), _timestamp(walltime))


def _add_scalars(
    writer: Any,
    run_id: str,
    main_tag: str,
    tag_scalar_dict: dict[str, Any],
    global_step: Any = None,
    walltime: float | None = None,
) -> None:
    from jupyter_mlops.tracking import fluent

    step, timestamp = _step(global_step), _timestamp(walltime)
    for name, value in tag_scalar_dict.items():
        key = _key(writer, run_id, f"{main_tag}/{name}")
        fluent.log_metric(key, float(value), step, timestamp)


def _add_hparams(
    writer: Any,
    run_id: str,
    hparam_dict: dict[str, Any],
    metric_dict: dict[str, Any],
    hparam_domain_discrete: Any = None,
    run_name: str | None = None,
    global_step: Any = None,
) -> None:
    from jupyter_mlops.tracking import fluent

    params = {str(k): v for k, v in hparam_dict.items() if v is not None}
    metrics = {str(k): float(v) for k, v in metric_dict.items()}
    logged = fluent.get_run(run_id).params
    if any(k in logged and logged[k] != str(v) for k, v in params.items()):
        name = run_name or f"hparams-{int(time.time())}"
        with fluent.start_run(name=name, nested=True):
            fluent.log_params(params)
            fluent.log_metrics(metrics, step=_step(global_step))
        return
    fluent.log_params(params)
    fluent.log_metrics(metrics, step=_step(global_step))


def _add_figure(
    writer: Any,
    run_id: str,
    tag: str,
    figure: Any,
    global_step: Any = None,
    close: bool = True,
    walltime: float | None = None,
) -> None:
    from jupyter_mlops.tracking.artifacts import log_figure

    figures = figure if isinstance(figure, list) else [figure]
    step = _step(global_step)
    for i, fig in enumerate(figures):
        suffix = f"-{i}" if len(figures) > 1 else ""
        name = f"step-{step if step is not None else 0}{suffix}.png"
        log_figure(fig, f"{FIGURE_FOLDER}/{_path(tag)}/{name}")


def _add_text(
    writer: Any,
    run_id: str,
    tag: str,
    text_string: str,
    global_step: Any = None,
    walltime: float | None = None,
) -> None:
    from jupyter_mlops.tracking.artifacts import log_text

    sections = _state.texts.setdefault((run_id, tag), [])
    sections.append(text_section(_step(global_step) or 0, str(text_string)))
    log_text("\n".join(sections), f"{TEXT_FOLDER}/{_path(tag)}.md")


def text_section(step: int, text: str) -> str:
    """One step's text in a ``tensorboard/text/<tag>.md`` artifact."""
    return f"## step {step}\n\n{text}\n"


def _path(tag: str) -> str:
    parts = [p for p in str(tag).replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "untitled"


_LOGGERS: dict[str, Callable[..., None]] = {
    "add_scalar": _add_scalar,
    "add_scalars": _add_scalars,
    "add_hparams": _add_hparams,
    "add_figure": _add_figure,
    "add_text": _add_text,
}


# -- the import watcher ---------------------------------------------------------------------------
class _WriterWatcher(importlib.abc.MetaPathFinder):
    """Patches ``SummaryWriter`` right after its module is first imported, then leaves."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != WRITER_MODULE:
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _PatchingLoader(spec.loader)
        return spec


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any):
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        try:
            patch(module)
        except Exception as e:  # never break the user's import
            _warn("the SummaryWriter patch", e)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
