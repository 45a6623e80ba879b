"""A notebook cell as a sweep's objective: the magic's arguments, the objective, the export.

``%%mlops_sweep`` (in :mod:`jupyter_mlops.jupyter.magics_sweep`) and the pipeline export share
the argument list :data:`ARGUMENTS`, so a cell means the same in the notebook and in a pipeline
step. In the notebook the cell runs in the notebook's namespace with each ``-s`` name set to the
trial's value; exported, its body becomes a function of those names (:func:`export_source`)
that :func:`run_exported` sweeps; either way the ``-s`` names end up holding the best values.
"""

from __future__ import annotations

import argparse
import shlex
import textwrap
from collections.abc import Callable
from types import CodeType
from typing import Any

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.sweeps import study as st
from jupyter_mlops.sweeps.space import parse_space
from jupyter_mlops.sweeps.trial import Objective

ARGUMENTS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("-e", "--experiment"), {"metavar": "EXP", "help": "experiment of the runs"}),
    (
        ("-n", "--name"),
        {"metavar": "NAME", "required": True, "help": "sweep name (re-run: continue)"},
    ),
    (("--trials",), {"type": int, "metavar": "N", "help": "total trials of the study"}),
    (("--timeout",), {"type": float, "metavar": "S", "help": "start no trial after S seconds"}),
    (
        ("-m", "--metric"),
        {"metavar": "METRIC", "required": True, "help": "variable or logged metric"},
    ),
    (("--direction",), {"default": "minimize", "choices": st.DIRECTIONS, "help": "optimize how"}),
    (
        ("-s", "--space"),
        {
            "nargs": "+",
            "action": "extend",
            "metavar": "PARAM=SPACE",
            "help": "a variable the cell reads and its space, e.g. 'lr=loguniform(1e-4, 1e-1)'",
        },
    ),
    (("--sampler",), {"default": "tpe", "choices": st.SAMPLERS, "help": "Optuna sampler"}),
    (("--pruner",), {"default": "median", "choices": st.PRUNERS, "help": "Optuna pruner"}),
    (
        ("--jobs",),
        {"type": int, "default": 1, "metavar": "K", "help": "trials at once (processes)"},
    ),
    (
        ("--storage",),
        {"metavar": "URL", "help": "Optuna RDB URL shared by machines (postgresql://...)"},
    ),
    (("--seed",), {"type": int, "metavar": "SEED", "help": "sampler seed"}),
    (("--autolog",), {"action": "store_true", "help": "autolog scikit-learn fits (and models)"}),
]


def config_from_args(args: argparse.Namespace, default_experiment: str) -> st.SweepConfig:
    """The sweep a parsed argument line describes."""
    return st.SweepConfig(
        name=args.name,
        experiment=args.experiment or default_experiment,
        metric=args.metric,
        direction=args.direction,
        space=parse_space(args.space),
        trials=args.trials,
        timeout=args.timeout,
        sampler=args.sampler,
        pruner=args.pruner,
        jobs=args.jobs,
        storage=args.storage,
        seed=args.seed,
        autolog=args.autolog,
    )


def cell_objective(
    code: CodeType, namespace: dict[str, Any], metric: str, last: CodeType | None = None
) -> Objective:
    """An objective that runs the compiled cell in ``namespace`` with the trial's params set.

    ``code`` is the cell without its last expression, ``last`` that expression (as IPython
    compiles a cell to display it).

    The metric is the variable the cell leaves (removed first, so a trial never sees the
    previous trial's value) or, when it leaves none, what it logged.
    """

    def objective(params: dict[str, Any]) -> Any:
        namespace.pop(metric, None)
        namespace.update(params)
        exec(code, namespace)  # noqa: S102 - the user's own cell
        if last is not None:  # the cell's last expression (the notebook would display it)
            eval(last, namespace)  # noqa: S307
        return namespace.get(metric)

    return objective


def keep_best(namespace: dict[str, Any], params: dict[str, Any]) -> None:
    """After the sweep the ``-s`` names hold the best trial's values."""
    namespace.update(params)


# -- pipelines ----------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    """The argument parser of ``%%mlops_sweep`` without IPython (for exported steps)."""
    out = argparse.ArgumentParser(prog="%%mlops_sweep", add_help=False, exit_on_error=False)
    for flags, kwargs in ARGUMENTS:
        out.add_argument(*flags, **kwargs)
    return out


def parse_line(line: str) -> argparse.Namespace:
    """The magic's line parsed (``InvalidInput`` when it does not parse)."""
    try:
        return parser().parse_args(shlex.split(line))
    except (argparse.ArgumentError, ValueError, SystemExit) as e:
        raise InvalidInput(f"%%mlops_sweep {line}: {e}") from None


def export_source(line: str, body: str, function: str = "_mlops_sweep_trial") -> str:
    """A sweep cell as plain Python: its body as a function of the ``-s`` names, then the sweep.

    The function's free names are what the step reads from the steps above; the ``-s`` names
    (holding the best values) are what it gives to the steps below.
    """
    args = parse_line(line)
    names = [p.name for p in parse_space(args.space)]
    inner = textwrap.indent(body.rstrip("\n") or "pass", "    ")
    targets = ", ".join(names)
    picks = ", ".join(f"_mlops_best[{n!r}]" for n in names)
    if len(names) == 1:
        targets, picks = targets + ",", picks + ","
    return (
        "import jupyter_mlops.sweeps.cell\n\n\n"
        f"def {function}({', '.join(names)}):\n{inner}\n    return locals()\n\n\n"
        f"_mlops_best = jupyter_mlops.sweeps.cell.run_exported({line!r}, {function})\n"
        f"{targets} = {picks}\n"
    )


def run_exported(line: str, function: Callable[..., Any]) -> dict[str, Any]:
    """Run an exported sweep cell; returns the best params (the pipeline step's outputs)."""
    from jupyter_mlops.sweeps.runner import current_experiment, run_sweep

    config = config_from_args(parse_line(line), current_experiment())
    result = run_sweep(config, lambda params: function(**params))
    print(result.summary())
    if not result.best_params:
        raise InvalidInput(f"Sweep {config.name!r} has no complete trial: nothing to pass on.")
    return result.best_params
