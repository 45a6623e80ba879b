"""The validation gate: an alias moves only when the candidate passes every check.

A check is ``METRIC OP VALUE`` where OP is one of ``>= <= > < ==`` and VALUE is a number or
``current`` with an optional tolerance (``accuracy >= current - 0.01``: not worse than the
version holding the alias now by more than 0.01). Beside checks, ``thresholds=`` takes
``{metric: MetricThreshold(...)}`` exactly as :func:`jupyter_mlops.evaluate` does, the baseline
being the current holder. With data, metrics are computed on it for the candidate and the current
holder by the evaluation module (:mod:`jupyter_mlops.evaluation.metrics` defines each one: ``f1``
is the positive class's F1 for a binary target and the macro F1 otherwise, the same ``f1`` that
autolog logs as ``training_f1_score``); without data, each version's latest stored evaluation
report (``jupyter_mlops.evaluate`` on a ``models:/`` URI), over the metrics recorded with its run,
is used. The report is stored with the candidate version whether it passes or not.

With data, the gate also checks the data against each version's data contract and offers the
result as metrics: ``contract_violation_share`` (share of rows breaking a rule) and
``contract_failed_checks`` (rules broken), e.g. ``contract_violation_share <= 0.01``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from jupyter_mlops.errors import Conflict, InvalidInput
from jupyter_mlops.evaluation.metrics import canonical
from jupyter_mlops.evaluation.thresholds import MetricThreshold, check_thresholds
from jupyter_mlops.registry import registry

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
CHECK_RE = re.compile(
    rf"^\s*(?P<metric>[A-Za-z_][\w.-]*)\s*(?P<op>>=|<=|==|>|<)\s*"
    rf"(?:(?P<current>current)\s*(?:(?P<sign>[+-])\s*(?P<tol>{_NUMBER}))?|(?P<value>{_NUMBER}))\s*$",
    re.IGNORECASE,
)
OPS = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12),
}


@dataclass(frozen=True)
class Check:
    """One parsed check."""

    text: str
    metric: str
    op: str
    value: float | None = None
    tolerance: float = 0.0

    @property
    def relative(self) -> bool:
        """Compares against the current alias holder."""
        return self.value is None


@dataclass(frozen=True)
class ValidationReport:
    """What the gate found; stored with the candidate version."""

    name: str
    version: int
    alias: str
    passed: bool
    forced: bool
    reason: str
    time: int
    candidate_metrics: dict[str, float]
    current_version: int | None
    current_metrics: dict[str, float]
    checks: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)

    def summary(self) -> str:
        """One line per check, e.g. ``✗ accuracy >= 0.9: 0.871``."""
        lines = []
        for c in self.checks:
            mark = "✓" if c["passed"] else "✗"
            lines.append(f"{mark} {c['check']}: {c['detail']}")
        return "\n".join(lines) or "no checks"


class GateFailed(Conflict):
    """The candidate failed a check, so the alias did not move (``.report`` says why)."""

    def __init__(self, report: ValidationReport):
        self.report = report
        failed = "; ".join(
            f"{c['check']} ({c['detail']})" for c in report.checks if not c["passed"]
        )
        super().__init__(
            f"Promotion of {report.name} v{report.version} to {report.alias!r} refused: {failed}. "
            "The alias did not move; fix the model, or override with force=True (--force) and a "
            "reason."
        )


def parse_check(text: str) -> Check:
    """``'accuracy>=0.9'`` or ``'rmse <= current + 0.5'`` → :class:`Check`."""
    match = CHECK_RE.match(str(text))
    if not match:
        raise InvalidInput(
            f"Cannot read the check {text!r}: write METRIC OP VALUE, e.g. 'accuracy>=0.9' or "
            "'accuracy >= current - 0.01' (OP is one of >= <= > < ==)."
        )
    metric = canonical(match["metric"])
    if match["current"]:
        tol = float(match["tol"] or 0.0) * (-1 if match["sign"] == "-" else 1)
        return Check(str(text).strip(), metric, match["op"], None, tol)
    return Check(str(text).strip(), metric, match["op"], float(match["value"]))


def promote(
    name: str,
    version: int | str,
    alias: str,
    checks: list[str] | str | None = None,
    data: Any = None,
    force: bool = False,
    reason: str | None = None,
    thresholds: Mapping[str, MetricThreshold] | None = None,
) -> ValidationReport:
    """Evaluate ``version`` (and the alias's current holder), then move ``alias`` if all pass.

    Parameters
    ----------
    checks : list of str
        E.g. ``["accuracy>=0.9", "f1 >= current - 0.01"]``.
    data : tuple (X, y), optional
        Evaluation data; the metrics are the evaluation module's (``jupyter_mlops.evaluate``)
        for the candidate and the current holder. Without data, each version's latest stored
        evaluation report, then the metrics recorded with its run, are compared.
    force : bool
        Move the alias even if checks fail; ``reason`` is recorded in the alias history.
    thresholds : dict, optional
        ``{metric: MetricThreshold(...)}`` as in :func:`jupyter_mlops.evaluate`, the baseline
        being the alias's current holder (a change bound passes when no version holds it).
    """
    registry.check_alias(alias)
    parsed = [parse_check(c) for c in ([checks] if isinstance(checks, str) else checks or [])]
    if force and not (reason and reason.strip()):
        raise InvalidInput("A forced promotion needs a reason (it is kept in the alias history).")
    candidate = registry.get_model_version(name, version)
    holder = registry.alias_holder(name, alias)
    current = registry.get_model_version(name, holder) if holder else None
    cand_metrics, cur_metrics, data_info = _metrics(candidate, current, data)
    results = [_evaluate(c, cand_metrics, cur_metrics, current) for c in parsed]
    results += _threshold_results(thresholds, cand_metrics, cur_metrics, current)
    passed = all(r["passed"] for r in results)
    report = ValidationReport(
        name=name,
        version=candidate.version,
        alias=alias,
        passed=passed,
        forced=force and not passed,
        reason=reason or "",
        time=int(time.time() * 1000),
        candidate_metrics=cand_metrics,
        current_version=current.version if current else None,
        current_metrics=cur_metrics,
        checks=results,
        data=data_info,
    )
    _store_report(report)
    if not passed and not force:
        raise GateFailed(report)
    why = reason or (f"passed: {', '.join(c.text for c in parsed)}" if parsed else "")
    registry.set_alias(name, alias, candidate.version, reason=why, forced=report.forced)
    return report


def _threshold_results(
    thresholds: Mapping[str, MetricThreshold] | None, cand: dict, cur: dict, current: Any
) -> list[dict[str, Any]]:
    if thresholds is not None and not isinstance(thresholds, Mapping):
        raise InvalidInput("thresholds= maps metric names to MetricThreshold(...) objects.")
    label = f"current v{current.version}" if current else "current"
    return check_thresholds(
        thresholds, cand, cur if current else None, label, missing_baseline_passes=True
    )


def _store_report(report: ValidationReport) -> None:
    registry.record_validation(report.name, report.version, report.to_dict())


def _metrics(candidate: Any, current: Any, data: Any) -> tuple[dict, dict, dict | None]:
    if data is None:
        return recorded_metrics(candidate), (recorded_metrics(current) if current else {}), None
    from jupyter_mlops.contracts.checks import gate_metrics

    X, y = _split(data)
    info = {"rows": int(len(y))}
    cand = {**metrics_of(registry_model(candidate), X, y), **gate_metrics(_contract(candidate), X)}
    cur = {}
    if current:
        cur = {**metrics_of(registry_model(current), X, y), **gate_metrics(_contract(current), X)}
    return cand, cur, info


def recorded_metrics(version: Any) -> dict[str, float]:
    """A version's metrics without data: its run's, overlaid by its latest stored evaluation."""
    from jupyter_mlops.evaluation.record import stored_evaluations

    out = {k: float(x) for k, x in version.lineage.get("metrics", {}).items() if x is not None}
    stored = stored_evaluations(version.name, version.version)
    if stored:
        out.update({k: float(v) for k, v in stored[-1].get("metrics", {}).items()})
    return out


def _contract(version: Any) -> Any:
    """The version's data contract, or ``None`` when it recorded none."""
    from jupyter_mlops.contracts.record import read_artifact_contract

    return read_artifact_contract(version.run_id, version.contract) if version.contract else None


def registry_model(version: Any) -> Any:
    """Load a registered version (hash-verified)."""
    from jupyter_mlops.tracking.models import load_model

    return load_model(version.uri)


def _split(data: Any) -> tuple[Any, Any]:
    if isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = data
        if len(X) != len(y):
            raise InvalidInput(f"The evaluation data has {len(X)} rows of X but {len(y)} labels.")
        if len(y) == 0:
            raise InvalidInput("The evaluation data is empty.")
        return X, y
    raise InvalidInput("Evaluation data must be a pair (X, y), e.g. data=(X_test, y_test).")


def metrics_of(model: Any, X: Any, y: Any) -> dict[str, float]:
    """The metric table's metrics of ``model`` on ``(X, y)`` (task inferred).

    The same numbers as :func:`jupyter_mlops.evaluate` and autolog's ``training_*`` metrics:
    :func:`~jupyter_mlops.evaluation.measure.measure` computes them all.
    """
    from jupyter_mlops.evaluation.measure import measure

    return measure(model, X, y).metrics


def _evaluate(
    check: Check, cand: dict[str, float], cur: dict[str, float], current: Any
) -> dict[str, Any]:
    if check.metric not in cand:
        known = ", ".join(sorted(cand)) or "none"
        raise InvalidInput(
            f"The check {check.text!r} names metric {check.metric!r}; available: {known}."
        )
    value = cand[check.metric]
    if check.relative:
        if current is None or check.metric not in cur:
            return {
                "check": check.text,
                "passed": True,
                "value": value,
                "threshold": None,
                "detail": f"{value:.4g}; no current holder to compare with",
            }
        threshold = cur[check.metric] + check.tolerance
        detail = f"{value:.4g} vs current v{current.version} {cur[check.metric]:.4g}"
        if check.tolerance:
            detail += (
                f" {'+' if check.tolerance > 0 else '-'} {abs(check.tolerance):g} = {threshold:.4g}"
            )
    else:
        threshold = float(check.value)  # type: ignore[arg-type]
        detail = f"{value:.4g} vs {threshold:g}"
    passed = bool(value == value and OPS[check.op](value, threshold))
    return {
        "check": check.text,
        "passed": passed,
        "value": value,
        "threshold": threshold,
        "detail": detail,
    }
