"""The overfitting guard: a training and a validation metric logged by the same trial.

``train_loss``/``val_loss``, ``training_accuracy``/``validation_accuracy``... are found by their
prefixes. The gap is the validation value minus the training value, signed so that a positive gap
means "worse on validation". A trial is flagged by the rule every panel uses
(:mod:`jupyter_mlops.viz.fit_diagnosis`): validation no better for ``patience`` evaluations since
its best and worse than it by more than ``min_delta`` of its range, while training improved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

TRAIN_PREFIXES = ("training_", "train_", "train/", "train.")
VALIDATION_PREFIXES = ("validation_", "valid_", "val_", "val/", "val.", "eval_", "eval/")
LOWER_IS_BETTER = ("loss", "error", "mse", "rmse", "mae", "mape", "perplexity", "nll")


@dataclass(frozen=True)
class MetricPair:
    """A training and a validation metric that measure the same thing."""

    train: str
    validation: str
    lower_is_better: bool


@dataclass(frozen=True)
class FitDiagnosis:
    """One trial's verdict for one pair."""

    pair: MetricPair
    gap: float | None
    overfit: bool
    detail: str = ""


def find_pair(keys: Iterable[str]) -> MetricPair | None:
    """The first training/validation pair among ``keys`` (sorted, so the choice is stable)."""
    keys = sorted(set(keys))
    trains = {_strip(k, TRAIN_PREFIXES): k for k in keys if _strip(k, TRAIN_PREFIXES) is not None}
    for key in keys:
        base = _strip(key, VALIDATION_PREFIXES)
        if base is not None and base in trains:
            lower = any(word in base.lower() for word in LOWER_IS_BETTER)
            return MetricPair(trains[base], key, lower)
    return None


def gap(pair: MetricPair, train: float | None, validation: float | None) -> float | None:
    """Validation minus training, positive when validation is worse."""
    if train is None or validation is None:
        return None
    return (validation - train) if pair.lower_is_better else (train - validation)


def diagnose(histories: dict[str, list[tuple[int, float]]]) -> FitDiagnosis | None:
    """The verdict for the pair found in ``histories`` (``key -> [(step, value), ...]``)."""
    from jupyter_mlops.viz.fit_diagnosis import diagnose_fit

    pair = find_pair(histories)
    if pair is None:
        return None
    train, val = histories[pair.train], histories[pair.validation]
    last_gap = gap(pair, train[-1][1] if train else None, val[-1][1] if val else None)
    series = {key: ([s for s, _ in h], [v for _, v in h]) for key, h in histories.items()}
    series = {pair.train: series[pair.train], pair.validation: series[pair.validation]}
    flags = [f for f in diagnose_fit(series) if f.kind == "overfitting"]
    if not flags:
        return FitDiagnosis(pair, last_gap, False)
    best_step = flags[0].step
    best_value = next(v for s, v in val if s == best_step)
    last_step, last_value = val[-1]
    before = [v for s, v in train if s <= best_step]
    after = train[-1][1]
    verb_val, verb_train = ("rose", "fell") if pair.lower_is_better else ("fell", "rose")
    detail = (
        f"{pair.validation} {verb_val} from {best_value:.4g} (step {best_step}) to "
        f"{last_value:.4g} (step {last_step}) while {pair.train} {verb_train} from "
        f"{before[-1]:.4g} to {after:.4g}"
    )
    return FitDiagnosis(pair, last_gap, True, detail)


def _strip(key: str, prefixes: tuple[str, ...]) -> str | None:
    low = key.lower()
    for prefix in prefixes:
        if low.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix) :].lower()
    return None
