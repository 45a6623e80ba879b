"""Hyperparameter sweeps on Optuna: one parent run per sweep, one child run per trial.

Plain Python (no IPython or Jupyter): ``%%mlops_sweep`` and its panel are thin adapters in
``jupyter_mlops.jupyter``. The package is ``sweeps`` so that ``jupyter_mlops.sweep`` stays the
public function. Optuna is imported only when a sweep runs (the ``[sweep]`` extra).

- :mod:`.space` — search spaces written as text (``loguniform(1e-4, 1e-1)``, ``choice(...)``)
- :mod:`.study` — Optuna storage (a journal kept with the store, or an RDB URL), sampler, pruner
- :mod:`.trial` — one trial as a child run; ``log_metric(..., step=...)`` feeds the pruner
- :mod:`.runner` — ``sweep()``: the parent run, trials here or in forked worker processes
- :mod:`.worker` — what a forked worker does around its trials
- :mod:`.views` — a sweep read back from the store for panels and the sidebar
- :mod:`.overfit` — training/validation gap per trial and the overfitting flag
- :mod:`.cell` — a notebook cell as the objective (the magic and the pipeline export)
"""
