"""Run an exported ``python`` pipeline here: cached, parameterised and tracked.

:func:`run_pipeline` runs the steps of ``pipeline.py`` in order, in this process, each in the
notebook's folder (as a kernel would). Before a step runs, its inputs are read from ``data/``;
its outputs are written there by type (:mod:`~jupyter_mlops.pipelines.serializers`). A step
whose code, parameters and input contents are unchanged since the last run is skipped
(:mod:`~jupyter_mlops.pipelines.cache`). Each pipeline run is a tracked run — parameters, the
``pipeline-metrics``, duration, steps run and skipped — with one child run per step (the
parameters it reads, its duration, its metrics, whether it was cached).
"""

from __future__ import annotations

import ast
import os
import runpy
import time
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.pipelines import cache
from jupyter_mlops.pipelines.serializers import load_value, save_value

RUNNER_FILE = "pipeline.py"
DATA_FOLDER = "data"
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Spec:
    """``pipeline.py`` as read: name, parameters and steps (dicts, in run order)."""

    folder: str
    name: str
    source: str
    workdir: str
    parameters: dict[str, Any]
    steps: list[dict[str, Any]]


@dataclass(frozen=True)
class StepRun:
    """One step of a pipeline run."""

    name: str
    cached: bool
    duration_s: float
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None


@dataclass(frozen=True)
class PipelineRun:
    """The result of :func:`run_pipeline`.

    Attributes
    ----------
    run_id : str
        The tracked run (its steps are its child runs).
    steps : tuple of StepRun
        In the order they ran; ``outputs`` maps names to the files holding the values.
    """

    name: str
    folder: str
    run_id: str
    parameters: dict[str, Any]
    steps: tuple[StepRun, ...]
    duration_s: float

    def step(self, name: str) -> StepRun:
        """The run of step ``name``."""
        return next(s for s in self.steps if s.name == name)

    def value(self, step: str, name: str) -> Any:
        """The value ``name`` that step ``step`` produced, read back from its file."""
        return load_value(self.step(step).outputs[name])

    @property
    def metrics(self) -> dict[str, float]:
        """Every step's metrics."""
        return {k: v for s in self.steps for k, v in s.metrics.items()}


def load_spec(folder: str | os.PathLike[str]) -> Spec:
    """Read ``folder/pipeline.py`` (an export of the ``python`` target)."""
    folder = os.path.abspath(os.fspath(folder))
    path = os.path.join(folder, RUNNER_FILE)
    if not os.path.isfile(path):
        raise NotFound(
            f"{folder!r} is not an exported pipeline (no {RUNNER_FILE}). Export one with "
            "`jupyter mlops export NOTEBOOK --to python -o FOLDER`."
        )
    spec = runpy.run_path(path, run_name="jupyter_mlops_pipeline_spec")
    try:
        return Spec(
            folder=folder,
            name=spec["NAME"],
            source=spec.get("SOURCE", ""),
            workdir=os.path.normpath(os.path.join(folder, spec.get("WORKDIR", ".."))),
            parameters=dict(spec.get("PARAMETERS", {})),
            steps=list(spec["STEPS"]),
        )
    except KeyError as e:
        raise InvalidInput(
            f"{path} does not define {e.args[0]}: export the notebook again."
        ) from None


def parse_parameters(pairs: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` from the command line as a dict (values still text)."""
    params = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(
                f"Parameter {pair!r} must look like KEY=VALUE (e.g. -p test_size=0.3)."
            )
        params[key.strip()] = value
    return params


def resolve_parameters(
    defaults: dict[str, Any], overrides: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The defaults with ``overrides`` applied; text values take the default's type."""
    params = dict(defaults)
    for key, value in (overrides or {}).items():
        if key not in defaults:
            known = ", ".join(defaults) or "none"
            raise InvalidInput(f"Unknown parameter {key!r}; this pipeline's parameters: {known}.")
        params[key] = coerce(key, value, defaults[key]) if isinstance(value, str) else value
    return params


def coerce(key: str, text: str, default: Any) -> Any:
    """``text`` as the type of ``default`` (bool, int, float, str, or any Python literal)."""
    try:
        if isinstance(default, bool):
            if text.strip().lower() not in _TRUE | _FALSE:
                raise ValueError(text)
            return text.strip().lower() in _TRUE
        if isinstance(default, int | float | str):
            return type(default)(text)
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if default is None:
            return text
        raise InvalidInput(
            f"Parameter {key!r} takes a {type(default).__name__} (default {default!r}), "
            f"not {text!r}."
        ) from None


def run_pipeline(
    folder: str | os.PathLike[str],
    params: Mapping[str, Any] | None = None,
    *,
    force: bool = False,
    experiment: str | None = None,
) -> PipelineRun:
    """Run the exported pipeline in ``folder``; skip steps that are unchanged since last time.

    Parameters
    ----------
    folder : str
        A folder written by ``export_notebook(..., target="python")``.
    params : dict, optional
        Parameter overrides; text values (``"0.3"``) are converted to the default's type.
    force : bool
        Run every step, even unchanged ones.
    experiment : str, optional
        Experiment of the tracked run (default: ``JUPYTER_MLOPS_EXPERIMENT``, then the
        pipeline's name).

    Returns
    -------
    PipelineRun
        The tracked run's id and, per step, whether it ran, its outputs and metrics.
    """
    from jupyter_mlops.tracking import fluent

    spec = load_spec(folder)
    values = resolve_parameters(spec.parameters, params)
    experiment = experiment or os.environ.get("JUPYTER_MLOPS_EXPERIMENT") or spec.name
    started = time.perf_counter()
    nested = fluent.active_run() is not None
    tags = {"mlops.pipeline": spec.name, "mlops.pipeline.source": spec.source}
    with fluent.start_run(spec.name, experiment, tags=tags, nested=nested) as parent:
        fluent.log_params(values)
        steps = _Execution(spec, values, force, experiment).run_all()
        duration = time.perf_counter() - started
        ran = sum(not s.cached for s in steps)
        summary = {"duration_s": duration, "steps_run": ran, "steps_cached": len(steps) - ran}
        fluent.log_metrics({**{k: v for s in steps for k, v in s.metrics.items()}, **summary})
    return PipelineRun(spec.name, spec.folder, parent.id, values, tuple(steps), duration)


class _Execution:
    """One run of a pipeline's steps, with the cache manifest it reads and updates."""

    def __init__(self, spec: Spec, params: dict[str, Any], force: bool, experiment: str):
        self.spec = spec
        self.params = params
        self.force = force
        self.experiment = experiment
        self.entries = cache.load(spec.folder)

    def run_all(self) -> list[StepRun]:
        return [self.run_step(step) for step in self.spec.steps]

    def run_step(self, step: dict[str, Any]) -> StepRun:
        from jupyter_mlops.tracking import fluent

        name = step["name"]
        with open(os.path.join(self.spec.folder, step["module"]), "rb") as fh:
            module = fh.read()
        used = {k: self.params[k] for k, src in step["inputs"].items() if src is None}
        hashes = {k: self._input(k, src).sha256 for k, src in step["inputs"].items() if src}
        key = cache.step_key(module, used, hashes)
        entry = self.entries.get(name)
        cached = not self.force and cache.is_fresh(entry, key, self.spec.folder)
        tags = {"mlops.pipeline.step": name, "mlops.pipeline.cached": str(cached).lower()}
        with fluent.start_run(name, self.experiment, tags=tags, nested=True) as child:
            fluent.log_params(used)
            started = time.perf_counter()
            if not cached:
                entry = self._execute(step, module, used, key)
            duration = time.perf_counter() - started
            assert entry is not None
            fluent.log_metrics({**entry.metrics, "duration_s": duration})
        files = {k: os.path.join(self.spec.folder, o.file) for k, o in entry.outputs.items()}
        return StepRun(name, cached, duration, files, dict(entry.metrics), child.id)

    def _input(self, name: str, source: str) -> cache.Output:
        entry = self.entries.get(source)
        if entry is None or name not in entry.outputs:
            raise InvalidInput(
                f"Step {source!r} has no saved value {name!r}: run the whole pipeline (the folder "
                "may come from another export)."
            )
        return entry.outputs[name]

    def _execute(
        self, step: dict[str, Any], module: bytes, used: dict[str, Any], key: str
    ) -> cache.Entry:
        inputs = dict(used)
        for name, source in step["inputs"].items():
            if source:
                inputs[name] = load_value(
                    os.path.join(self.spec.folder, self._input(name, source).file)
                )
        outputs = self._call(step, module, inputs)
        folder = os.path.join(self.spec.folder, DATA_FOLDER, step["name"])
        saved = {name: self._save(outputs[name], folder, name) for name in step["outputs"]}
        metrics = {
            m: float(outputs[m]) for m in step.get("metrics", []) if _is_number(outputs.get(m))
        }
        entry = cache.Entry(key, saved, metrics)
        self.entries[step["name"]] = entry
        cache.save(self.spec.folder, self.entries)
        return entry

    def _call(self, step: dict[str, Any], module: bytes, inputs: dict[str, Any]) -> dict[str, Any]:
        path = os.path.join(self.spec.folder, step["module"])
        namespace = types.ModuleType(f"jupyter_mlops_step_{self.spec.name}_{step['name']}")
        namespace.__file__ = path
        cwd = os.getcwd()
        workdir = self.spec.workdir if os.path.isdir(self.spec.workdir) else cwd
        try:
            os.chdir(workdir)  # where the notebook's kernel would have run
            exec(compile(module, path, "exec"), namespace.__dict__)
            return namespace.run(inputs)
        except Exception as e:
            if hasattr(e, "add_note"):
                e.add_note(f"(in step {step['name']!r} of pipeline {self.spec.name!r}: {path})")
            raise
        finally:
            os.chdir(cwd)

    def _save(self, value: Any, folder: str, name: str) -> cache.Output:
        path = save_value(value, folder, name)
        relative = os.path.relpath(path, self.spec.folder)
        return cache.Output(relative, os.path.getsize(path), cache.file_sha256(path))


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, str)


def main(argv: list[str]) -> int:
    """``python pipeline.py [-p KEY=VALUE ...] [--force]`` (``argv[0]`` is the file)."""
    import argparse

    from jupyter_mlops.errors import MlopsError

    parser = argparse.ArgumentParser(prog=os.path.basename(argv[0]))
    parser.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", default=[])
    parser.add_argument("--force", action="store_true", help="run every step, even unchanged ones")
    args = parser.parse_args(argv[1:])
    try:
        result = run_pipeline(
            os.path.dirname(os.path.abspath(argv[0])),
            parse_parameters(args.param),
            force=args.force,
        )
    except MlopsError as e:
        print(f"{parser.prog}: {e}")
        return 2
    print_run(result)
    return 0


def print_run(result: Any) -> None:
    """One line per step, then one summary line."""
    width = max((len(s.name) for s in result.steps), default=4)
    for step in result.steps:
        mark, what = ("↷", "cached") if step.cached else ("✓", f"{step.duration_s:.2f}s")
        print(f"{mark} {step.name:<{width}}  {what}")
    ran = sum(not s.cached for s in result.steps)
    metrics = " ".join(f"{k}={v:.4g}" for k, v in result.metrics.items())
    print(
        f"✓ pipeline {result.name} · run {result.run_id[:8]} · {ran} ran, "
        f"{len(result.steps) - ran} cached{' · ' + metrics if metrics else ''} · "
        f"{result.duration_s:.2f}s"
    )
