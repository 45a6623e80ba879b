"""Overfitting and underfitting read from a run's training and validation curves.

The compare panel (``%mlops_compare``) and the run page (``%mlops_run``) both call
:func:`diagnose_runs`; nothing here knows about Jupyter.

The rule
--------
**Pairs.** A training curve and a validation curve are paired when their keys are equal once a
*role word* is taken out: ``train``/``training`` for training, ``val``/``valid``/``validation``/
``eval``/``test``/``dev`` for validation (``train_loss``/``val_loss``, ``Loss/train``/
``Loss/val``, ``train/acc``/``eval/acc``). A key without a role word is the training curve of a
validation key that has one (Keras's ``loss``/``val_loss``). Whether lower is better comes from
the name, as everywhere in the panels (loss, error, mse... are minimised; the rest maximised).
The two curves are compared at the steps where both have a point; fewer than ``patience + 1``
shared steps give no verdict. ``system/*`` metrics are never paired.

**Overfitting**: validation has not improved for at least ``patience`` evaluations since its
best one, is now worse than that best by more than ``min_delta`` of its range, and training is
better now than it was at that step. The flag names the step of the best validation value:
where early stopping would have stopped.

**Underfitting**: both curves are flat (over the last ``patience + 1`` shared points each
moves by at most ``flat_tolerance`` of its level) and both are still high: each has closed less
than ``min_gain`` of the distance from its first value to a perfect score (0 for a loss, 1 for
a score such as accuracy whose values all lie in [0, 1]; scores outside [0, 1] give no verdict).

Defaults: ``patience=3``, ``min_delta=0.05``, ``flat_tolerance=0.02``, ``min_gain=0.5``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jupyter_mlops.viz.compare import guess_direction

TRAIN_WORDS = frozenset({"train", "training"})
VAL_WORDS = frozenset({"val", "valid", "validation", "eval", "evaluation", "test", "dev"})
PATIENCE = 3
MIN_DELTA = 0.05
FLAT_TOLERANCE = 0.02
MIN_GAIN = 0.5

History = tuple[Any, Any]  # (steps, values): sequences or numpy arrays


@dataclass(frozen=True)
class FitFlag:
    """One verdict on a pair of curves of a run."""

    kind: str  # "overfitting" or "underfitting"
    train_metric: str
    val_metric: str
    step: int
    message: str


def metric_pairs(keys: Sequence[str]) -> list[tuple[str, str]]:
    """``(training key, validation key)`` pairs among ``keys`` (see the module's rule)."""
    train: dict[tuple[str, ...], str] = {}
    plain: dict[tuple[str, ...], str] = {}
    val: dict[tuple[str, ...], str] = {}
    for key in keys:
        if key.startswith("system/"):
            continue
        words = _words(key)
        base = tuple(w for w in words if w not in TRAIN_WORDS | VAL_WORDS)
        if not base:
            continue
        if any(w in VAL_WORDS for w in words):
            val.setdefault(base, key)
        elif any(w in TRAIN_WORDS for w in words):
            train.setdefault(base, key)
        else:
            plain.setdefault(base, key)
    pairs = []
    for base, val_key in sorted(val.items()):
        train_key = train.get(base) or plain.get(base)
        if train_key is not None:
            pairs.append((train_key, val_key))
    return pairs


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def diagnose_fit(
    histories: Mapping[str, History],
    patience: int = PATIENCE,
    min_delta: float = MIN_DELTA,
    flat_tolerance: float = FLAT_TOLERANCE,
    min_gain: float = MIN_GAIN,
) -> list[FitFlag]:
    """Flags for one run, from ``{metric: (steps, values)}``."""
    flags = []
    for train_key, val_key in metric_pairs(list(histories)):
        steps, train, val = _aligned(histories[train_key], histories[val_key])
        if len(steps) < patience + 1:
            continue
        sign = 1.0 if guess_direction(val_key) == "min" else -1.0
        flag = _overfitting(train_key, val_key, steps, train, val, sign, patience, min_delta)
        if flag is None:
            flag = _underfitting(
                train_key, val_key, steps, train, val, sign, patience, flat_tolerance, min_gain
            )
        if flag is not None:
            flags.append(flag)
    return flags


def _aligned(train: History, val: History) -> tuple[list[int], list[float], list[float]]:
    by_step = {int(s): float(v) for s, v in zip(*train, strict=True)}
    shared = [
        (int(s), by_step[int(s)], float(v)) for s, v in zip(*val, strict=True) if int(s) in by_step
    ]
    shared = [p for p in shared if p[1] == p[1] and p[2] == p[2]]  # NaN gives no evidence
    return [p[0] for p in shared], [p[1] for p in shared], [p[2] for p in shared]


def _overfitting(
    train_key: str,
    val_key: str,
    steps: list[int],
    train: list[float],
    val: list[float],
    sign: float,
    patience: int,
    min_delta: float,
) -> FitFlag | None:
    v = [sign * x for x in val]  # lower is better from here on
    t = [sign * x for x in train]
    best = v.index(min(v))
    since = len(v) - 1 - best
    val_range = max(v) - min(v)
    if since < patience or val_range <= 0:
        return None
    worse = v[-1] - v[best] > min_delta * val_range
    improving = t[-1] < t[best]
    if not (worse and improving):
        return None
    message = (
        f"overfitting: {val_key} is worse than its best (step {steps[best]}) for "
        f"{since} evaluations while {train_key} keeps improving; stop near step {steps[best]}"
    )
    return FitFlag("overfitting", train_key, val_key, steps[best], message)


def _underfitting(
    train_key: str,
    val_key: str,
    steps: list[int],
    train: list[float],
    val: list[float],
    sign: float,
    patience: int,
    flat_tolerance: float,
    min_gain: float,
) -> FitFlag | None:
    window = patience + 1
    if not (_flat(train[-window:], flat_tolerance) and _flat(val[-window:], flat_tolerance)):
        return None
    gains = [_gain(curve, sign) for curve in (train, val)]
    if any(g is None or g >= min_gain for g in gains):
        return None
    message = (
        f"underfitting: {train_key} and {val_key} are flat and still high "
        f"({train_key} closed {gains[0]:.0%} of the gap to a perfect score)"
    )
    return FitFlag("underfitting", train_key, val_key, steps[-1], message)


def _flat(values: list[float], tolerance: float) -> bool:
    level = max(abs(sum(values) / len(values)), 1e-12)
    return (max(values) - min(values)) <= tolerance * level


def _gain(curve: list[float], sign: float) -> float | None:
    """The share of the gap between the first value and a perfect score closed by the last."""
    if sign > 0:  # a loss: perfect is 0
        first, last, ideal = curve[0], curve[-1], 0.0
        if first < 0 or last < 0:
            return None
    else:  # a score: perfect is 1, if it lives in [0, 1]
        if any(x < 0 or x > 1 for x in curve):
            return None
        first, last, ideal = curve[0], curve[-1], 1.0
    gap = abs(first - ideal)
    return 1.0 if gap == 0 else (abs(first - ideal) - abs(last - ideal)) / gap


def diagnose_runs(runs: Sequence[dict[str, Any]], **options: Any) -> dict[str, list[FitFlag]]:
    """``{run_id: flags}`` for run documents (as ``find_runs`` returns), reading their curves."""
    from jupyter_mlops.viz.compare import load_histories

    wanted: set[str] = set()
    for run in runs:
        for pair in metric_pairs(list(run.get("metrics") or {})):
            wanted.update(pair)
    if not wanted:
        return {run["run_id"]: [] for run in runs}
    histories = load_histories(runs, sorted(wanted))
    return {run["run_id"]: diagnose_fit(histories[run["run_id"]], **options) for run in runs}


def fit_section(run: dict[str, Any]) -> dict[str, str] | None:
    """The run page's "Fit" section: a line per flag, or that none was raised.

    ``None`` (no section) when the run has no pair of training and validation curves.
    """
    pairs = metric_pairs(list(run.get("metrics") or {}))
    if not pairs:
        return None
    flags = diagnose_runs([run])[run["run_id"]]
    if not flags:
        curves = ", ".join(f"{t} / {v}" for t, v in pairs)
        return {"verdict": f"no overfitting or underfitting flag ({curves})"}
    return {flag.kind: flag.message.split(": ", 1)[1] for flag in flags}
