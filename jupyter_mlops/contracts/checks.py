"""Contract checks other parts call: a pipeline step's output, and the promotion gate's data."""

from __future__ import annotations

from typing import Any

from jupyter_mlops.errors import ContractViolation


def check_output(value: Any, contract: Any, name: str, step: str | None = None) -> Any:
    """Validate a pipeline step's output ``name``; raise :class:`ContractViolation` if it fails.

    Called by the code that the ``contract:<name>=<file or model URI>`` cell tag adds to a step,
    so the check runs in every target (``python``, Airflow, Kubeflow). The exception carries
    the :class:`~jupyter_mlops.contracts.report.DataValidationReport` as ``.report``.
    """
    from jupyter_mlops.contracts.validate import validate

    report = validate(value, contract)
    if not report.passed:
        where = f"Step {step!r}: output" if step else "Output"
        raise ContractViolation(
            f"{where} {name!r} breaks its data contract ({report.contract_source}). "
            + report.summary(),
            report,
        )
    return value


def gate_metrics(contract: Any, X: Any) -> dict[str, float]:
    """Data metrics for the promotion gate: how much of ``X`` breaks the version's contract.

    ``contract_violation_share`` (rows breaking any rule / rows) and ``contract_failed_checks``
    (failed rules); ``{}`` when ``contract`` is ``None`` (the version recorded none). Checks
    use them like any metric: ``contract_violation_share <= 0.01``,
    ``contract_failed_checks == 0``.
    """
    from jupyter_mlops.contracts.validate import validate

    if contract is None:
        return {}
    report = validate(X, contract)
    return {
        "contract_violation_share": report.rows_failed_share,
        "contract_failed_checks": float(len(report.failures)),
    }
