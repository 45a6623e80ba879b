"""``MetricThreshold``, as MLflow's: an absolute bound and/or a required change against a baseline.

For a metric where greater is better, the candidate's value ``v`` passes when

- ``v >= threshold`` (``threshold`` set),
- ``v >= baseline + min_absolute_change`` (``min_absolute_change`` set),
- ``v >= baseline * (1 + min_relative_change)`` (``min_relative_change`` set; with a baseline
  of exactly 0, ``v >= baseline + 1e-10``),

and every part that is set must hold; where smaller is better the inequalities turn round
(``<=``, ``baseline - min_absolute_change``, ``baseline * (1 - min_relative_change)``). A value
equal to its bound up to float rounding (1e-12) meets it, as the decimal arithmetic would. As in
MLflow, a change bound needs a baseline; the promotion gate, whose baseline is the alias's
current holder, lets a change bound pass when no version holds the alias yet (and says so).

Text form (``%mlops_evaluate --threshold``): ``f1>=0.9``, ``rmse<=3.5``,
``f1 >= baseline + 0.01``, ``f1 >= baseline - 0.02`` (a tolerance), ``f1 >= baseline + 5%``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.evaluation.metrics import canonical

ZERO_BASELINE_STEP = 1e-10
TIE = 1e-12  # 0.8 + 0.05 is 0.8500000000000001: a value of 0.85 meets it
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_TEXT = re.compile(
    rf"^\s*(?P<metric>[A-Za-z_][\w.-]*)\s*(?P<op>>=|<=)\s*(?:(?P<value>{_NUMBER})|baseline\s*"
    rf"(?:(?P<sign>[+-])\s*(?P<change>{_NUMBER})\s*(?P<pct>%)?)?)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class MetricThreshold:
    """Bounds one metric must meet (module docstring for the rule).

    Parameters
    ----------
    threshold : float, optional
        The value the metric must reach.
    min_absolute_change : float, optional
        How much better than the baseline's value it must be.
    min_relative_change : float, optional
        How much better than the baseline, as a share of the baseline's value (0.05 = 5 %).
    greater_is_better : bool
        Direction of the metric.
    """

    threshold: float | None = None
    min_absolute_change: float | None = None
    min_relative_change: float | None = None
    greater_is_better: bool = True

    def __post_init__(self) -> None:
        for key in ("threshold", "min_absolute_change", "min_relative_change"):
            value = getattr(self, key)
            if value is not None and not _is_number(value):
                raise InvalidInput(f"MetricThreshold({key}={value!r}): give a number or None.")
        if not isinstance(self.greater_is_better, bool):
            raise InvalidInput("MetricThreshold(greater_is_better=...) must be True or False.")
        if self.threshold is None and not self.needs_baseline:
            raise InvalidInput(
                "A MetricThreshold needs threshold=, min_absolute_change= or min_relative_change=."
            )

    @property
    def needs_baseline(self) -> bool:
        """Has a bound relative to a baseline."""
        return self.min_absolute_change is not None or self.min_relative_change is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_threshold(text: str) -> tuple[str, MetricThreshold]:
    """``'f1>=0.9'`` -> ``("f1", MetricThreshold(threshold=0.9))`` (grammar in the docstring)."""
    match = _TEXT.match(str(text))
    if not match:
        raise InvalidInput(
            f"Cannot read the threshold {text!r}: write METRIC>=VALUE, METRIC<=VALUE or "
            "METRIC >= baseline + CHANGE (CHANGE may end in %), e.g. 'f1>=0.9'."
        )
    greater = match["op"] == ">="
    metric = canonical(match["metric"])
    if match["value"] is not None:
        return metric, MetricThreshold(threshold=float(match["value"]), greater_is_better=greater)
    change = float(match["change"] or 0.0) * (-1 if match["sign"] == "-" else 1)
    if match["pct"]:
        return metric, MetricThreshold(min_relative_change=change / 100, greater_is_better=greater)
    return metric, MetricThreshold(min_absolute_change=change, greater_is_better=greater)


def check_thresholds(
    thresholds: Mapping[str, MetricThreshold] | None,
    candidate: Mapping[str, float],
    baseline: Mapping[str, float] | None,
    baseline_label: str = "baseline",
    missing_baseline_passes: bool = False,
) -> list[dict[str, Any]]:
    """One result per threshold: ``check, metric, passed, value, threshold, baseline, detail``.

    Raises
    ------
    InvalidInput
        A threshold that is not a :class:`MetricThreshold`, names a metric that was not
        computed, or needs a baseline when none was given (unless ``missing_baseline_passes``).
    """
    results = []
    for name, bound in (thresholds or {}).items():
        if not isinstance(bound, MetricThreshold):
            raise InvalidInput(
                f"thresholds[{name!r}] must be a MetricThreshold, e.g. "
                f"MetricThreshold(threshold=0.9), not {type(bound).__name__}."
            )
        metric = canonical(name)
        if metric not in candidate:
            known = ", ".join(sorted(candidate)) or "none"
            raise InvalidInput(f"The threshold on {name!r} names no computed metric ({known}).")
        base = None if baseline is None else baseline.get(metric)
        if bound.needs_baseline and base is None and not missing_baseline_passes:
            raise InvalidInput(
                f"The threshold on {name!r} compares with a baseline: pass baseline= (a model or "
                "a models:/ URI)."
            )
        results.append(_check(metric, bound, candidate[metric], base, baseline_label))
    return results


def _check(
    metric: str, bound: MetricThreshold, value: float, base: float | None, label: str
) -> dict[str, Any]:
    sign = 1.0 if bound.greater_is_better else -1.0

    def better(a: float, b: float) -> bool:  # a tie up to float rounding meets the bound
        return sign * (a - b) >= 0 or math.isclose(a, b, rel_tol=TIE, abs_tol=TIE)

    passed, limits = value == value, []
    if bound.threshold is not None:
        passed = passed and better(value, bound.threshold)
        limits.append(f"{bound.threshold:.4g}")
    limit = None
    if bound.needs_baseline and base is not None:
        limit = _change_limit(bound, base)
        passed = passed and better(value, limit)
        limits.append(f"{limit:.4g} ({label} {base:.4g})")
    missing = f"; no {label} to compare with" if bound.needs_baseline and base is None else ""
    return {
        "check": describe(metric, bound, label),
        "metric": metric,
        "passed": bool(passed),
        "value": value,
        "threshold": bound.threshold if limit is None else limit,
        "baseline": base,
        "detail": f"{value:.4g}" + (" vs " + " and ".join(limits) if limits else "") + missing,
    }


def describe(metric: str, bound: MetricThreshold, label: str = "baseline") -> str:
    """The bound in words: ``f1 >= 0.9 and f1 >= baseline + 0.01``."""
    op, sign = (">=", "+") if bound.greater_is_better else ("<=", "-")
    parts = [] if bound.threshold is None else [f"{metric} {op} {bound.threshold:g}"]
    if bound.min_absolute_change is not None:
        parts.append(f"{metric} {op} {label} {sign} {bound.min_absolute_change:g}")
    if bound.min_relative_change is not None:
        parts.append(f"{metric} {op} {label} × (1 {sign} {bound.min_relative_change:g})")
    return " and ".join(parts)


def _change_limit(bound: MetricThreshold, base: float) -> float:
    sign = 1.0 if bound.greater_is_better else -1.0
    limits = []
    if bound.min_absolute_change is not None:
        limits.append(base + sign * bound.min_absolute_change)
    if bound.min_relative_change is not None:
        if base == 0:
            limits.append(base + sign * ZERO_BASELINE_STEP)
        else:
            limits.append(base * (1 + sign * bound.min_relative_change))
    return max(limits) if bound.greater_is_better else min(limits)


def thresholds_from_json(value: Any) -> dict[str, MetricThreshold] | None:
    """Thresholds from JSON: ``["f1>=0.9", ...]`` or ``{"f1": {"threshold": 0.9, ...}}``."""
    if value is None or value == [] or value == {}:
        return None
    if isinstance(value, str):
        value = [part for part in (p.strip() for p in value.split(",")) if part]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return dict(parse_threshold(text) for text in value)
    if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
        allowed = set(MetricThreshold.__dataclass_fields__)
        for name, spec in value.items():
            unknown = set(spec) - allowed
            if unknown:
                raise InvalidInput(
                    f"thresholds[{name!r}] has unknown keys {sorted(unknown)}; use "
                    f"{sorted(allowed)}."
                )
        return {str(name): MetricThreshold(**spec) for name, spec in value.items()}
    raise InvalidInput(
        "'thresholds' is a list such as [\"f1>=0.9\"] or an object such as "
        '{"f1": {"threshold": 0.9}}.'
    )
