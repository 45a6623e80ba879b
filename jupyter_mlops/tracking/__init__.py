"""Experiment tracking: runs, params, metrics, artifacts, datasets, models, search.

Importing the package wires SummaryWriter capture into every run start (a start hook of the
tracking session), so the fluent API never imports the capture module (which logs through it).
"""

from jupyter_mlops.tracking import autolog_tensorboard as _autolog_tensorboard
from jupyter_mlops.tracking.session import session as _session

if _autolog_tensorboard.watch not in _session().start_hooks:
    _session().start_hooks.append(_autolog_tensorboard.watch)
