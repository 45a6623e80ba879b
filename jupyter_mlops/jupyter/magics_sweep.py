"""``%%mlops_sweep``: a hyperparameter sweep whose objective is the cell (a thin adapter).

Parses the line (the arguments are :data:`jupyter_mlops.sweeps.cell.ARGUMENTS`, shared with the
pipeline export), compiles the cell, shows the live panel and calls
:func:`jupyter_mlops.sweeps.runner.run_sweep`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_mlops.jupyter import tracked_run as tr
from jupyter_mlops.jupyter.magic_util import call, parse
from jupyter_mlops.sweeps.cell import ARGUMENTS


def _sweep_arguments(fn: Callable[..., Any]) -> Callable[..., Any]:
    for flags, kwargs in reversed(ARGUMENTS):
        fn = argument(*flags, **kwargs)(fn)
    return magic_arguments()(fn)


@magics_class
class SweepMagics(Magics):
    """The ``%%mlops_sweep`` cell magic."""

    @_sweep_arguments
    @cell_magic
    def mlops_sweep(self, line: str, cell: str) -> None:
        """Sweep hyperparameters: the cell is the objective, each trial a child run.

        Each ``-s PARAM=SPACE`` names a variable the cell reads and where its values come from:
        ``loguniform(1e-4, 1e-1)``, ``uniform(0, 1)``, ``int(1, 10)``, ``logint(8, 512)``,
        ``choice('rbf', 'linear')`` (``step=`` on uniform/int). The metric (``-m``) is the
        variable the cell leaves, or what it logs with ``log_metric``; points logged with
        ``step=`` feed the pruner, which stops poor trials early. A failing trial is recorded
        (state failed, its traceback kept) and the sweep goes on.

        The sweep is one parent run named NAME with a child run per trial (params, metrics,
        duration, state complete/pruned/failed). A live panel shows the best so far, the
        optimization history, parallel coordinates, parameter importances and the trials
        (select some and compare them); the sidebar shows the same. Ctrl-C stops the sweep and
        keeps the finished trials. Re-running the cell continues the study up to ``--trials``
        (its state is kept with the store). ``--jobs K`` runs K trials at once in worker
        processes; ``--storage postgresql://...`` shares the study with other machines. After
        the sweep the ``-s`` variables hold the best values; ``mlops.best_trial(NAME)`` is the
        best run (``%mlops_register`` takes its model). Needs ``pip install
        'jupyter-mlops[sweep]'`` (Optuna).

        Examples
        --------
        In [1]: %load_ext jupyter_mlops

        In [2]: %%mlops_sweep -e churn -n lr-sweep --trials 40 -m val_loss -s 'lr=loguniform(1e-4, 1e-1)' -s 'depth=int(2, 8)'
           ...: model = GradientBoostingClassifier(learning_rate=lr, max_depth=depth)
           ...: model.fit(X_train, y_train)
           ...: val_loss = log_loss(y_val, model.predict_proba(X_val))
        ✓ sweep lr-sweep · churn · finished · 40 complete · best val_loss=0.3121 (trial 27: lr=0.0311 depth=3)

        In [3]: %%mlops_sweep -n sgd --trials 60 -m val_loss --pruner median --jobs 2 -s 'alpha=loguniform(1e-6, 1e-2)'
           ...: clf = SGDClassifier(alpha=alpha)
           ...: for epoch in range(20):
           ...:     clf.partial_fit(X_train, y_train, classes=[0, 1])
           ...:     mlops.log_metric("val_loss", log_loss(y_val, clf.predict_proba(X_val)), step=epoch)
        """  # noqa: E501 - examples are whole lines
        from jupyter_mlops.sweeps.cell import cell_objective, config_from_args, keep_best
        from jupyter_mlops.sweeps.runner import current_experiment, run_sweep

        args = parse(self.mlops_sweep, line, "mlops_sweep")
        config = call(config_from_args, args, current_experiment())
        call(_need_optuna)
        assert self.shell is not None
        compiled = _compile(self.shell, cell)
        objective = cell_objective(compiled.body, self.shell.user_ns, config.metric, compiled.last)
        panel = _panel(config)
        try:
            result = call(run_sweep, config, objective, panel.refresh if panel else None)
        except KeyboardInterrupt:
            _interrupted(self.shell, config, panel)
            raise
        if panel is not None:
            panel.finish()
        keep_best(self.shell.user_ns, result.best_params)
        tr.say(("✓ " if result.counts.get("complete") else "✗ ") + result.summary())
        if result.counts.get("failed"):
            _explain_failures(config)


def _need_optuna() -> None:
    from jupyter_mlops.sweeps.study import optuna_module

    optuna_module()


def _compile(shell: Any, cell: str) -> tr.CompiledCell:
    tr.restore_traceback_handler(shell)
    try:
        return tr.compile_cell(shell, cell)
    except SyntaxError as error:  # nothing runs: no sweep for code that cannot start
        tr.show_failure_cleanly(shell, error, "")
        raise


def _panel(config: Any) -> Any:
    from IPython.display import display

    from jupyter_mlops.jupyter.panels_sweep import SweepPanel

    panel = SweepPanel(config.name, config.experiment, live=True)
    display(panel)
    return panel


def _interrupted(shell: Any, config: Any, panel: Any) -> None:
    """Keep the panel and one line; the KeyboardInterrupt then stops the cell quietly."""
    if panel is not None:
        panel.finish()
    kept = panel.view.counts() if panel is not None and panel.view is not None else {}
    done = sum(n for k, n in kept.items() if k in ("complete", "pruned", "failed"))
    message = (
        f"■ sweep {config.name} interrupted · {done} finished trials kept · re-run the cell "
        "to continue"
    )

    def handler(shell_: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None):
        shell_.set_custom_exc((), None)
        print(message)

    if not shell.custom_exceptions:
        shell.set_custom_exc((KeyboardInterrupt,), handler)
    else:
        print(message)


def _explain_failures(config: Any) -> None:
    from jupyter_mlops.sweeps.views import load_sweep

    view = load_sweep(config.name, config.experiment, importances=False)
    failed = [t for t in view.trials if t.state == "failed" and t.error]
    if failed:
        last = failed[-1]
        many = f"{len(failed)} trials failed, the last" if len(failed) > 1 else "trial"
        print(
            f"⚠ {many} {last.number} failed: {last.error} (traceback: the run's traceback.txt)",
            file=sys.stderr,
        )


def register(ipython: Any) -> None:
    """Register ``%%mlops_sweep`` (called by ``%load_ext jupyter_mlops``)."""
    ipython.register_magics(SweepMagics)


__all__ = ["SweepMagics", "UsageError", "register"]
