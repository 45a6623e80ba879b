"""The overfitting guard: a training and a validation metric logged by the same trial.

``train_loss``/``val_loss``, ``training_accuracy``/``validation_accuracy``... are found by their
prefixes. The gap is the validation value minus the training value, signed so that a positive gap
means "worse on validation". A trial is flagged when, over the steps it logged, its validation
metric got worse after its best step while its training metric kept improving.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

TRAIN_PREFIXES = ("training_", "train_", "train/", "train.")
VALIDATION_PREFIXES = ("validation_", "valid_", "val_", "val/", "val.", "eval_", "eval/")
LOWER_IS_BETTER = ("loss", "error", "mse", "rmse", "mae", "mape", "perplexity", "nll")
TOLERANCE = 0.01
"""How much worse validation must get, as a share of its range, to count as worsening."""


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
    pair = find_pair(histories)
    if pair is None:
        return None
    train, val = histories[pair.train], histories[pair.validation]
    last_gap = gap(pair, train[-1][1] if train else None, val[-1][1] if val else None)
    sign = 1.0 if pair.lower_is_better else -1.0  # "smaller is better" after multiplying
    if len(val) < 3 or len(train) < 2:
        return FitDiagnosis(pair, last_gap, False)
    best = min(range(len(val)), key=lambda i: sign * val[i][1])
    best_step, best_value = val[best]
    last_step, last_value = val[-1]
    spread = max(v for _, v in val) - min(v for _, v in val)
    worse = sign * (last_value - best_value) > TOLERANCE * spread and last_step > best_step
    before = [v for s, v in train if s <= best_step]
    after = train[-1][1]
    improving = bool(before) and sign * (after - before[-1]) < 0
    if not (worse and improving):
        return FitDiagnosis(pair, last_gap, False)
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
