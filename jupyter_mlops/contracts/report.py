"""``DataValidationReport``: what ``validate`` found, check by check.

(The promotion gate's report is :class:`~jupyter_mlops.registry.gate.ValidationReport`; this is
the data contract's.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Check names, in the order a column's checks are run and shown.
CHECKS = ("present", "type", "not_null", "max_missing", "range", "categories", "unique")


@dataclass(frozen=True)
class CheckResult:
    """One rule of one column, checked over a batch.

    Attributes
    ----------
    column : str
        The column.
    check : str
        One of :data:`CHECKS`.
    rule : str
        The rule in words, e.g. ``"range [18, 95]"``.
    passed : bool
        Whether the batch keeps the rule.
    failed : int
        Rows that break it (for ``max_missing``: the missing rows).
    failed_share : float
        ``failed`` over the batch's rows.
    examples : tuple of dict
        Up to five offending rows: ``{"row": position, "index": index label, "value": value}``.
    """

    column: str
    check: str
    rule: str
    passed: bool
    failed: int = 0
    failed_share: float = 0.0
    examples: tuple[dict[str, Any], ...] = ()

    @property
    def message(self) -> str:
        """One line: ``"age: range [18, 95] — 3 rows (0.3%) fail, e.g. 130 (row 7)"``."""
        if self.passed:
            return f"{self.column}: {self.rule} — ok"
        rows, fail = ("row", "fails") if self.failed == 1 else ("rows", "fail")
        share = _pct(self.failed_share)
        text = f"{self.column}: {self.rule} — {self.failed:,} {rows} ({share}) {fail}"
        if self.examples:
            first = self.examples[0]
            if self.check != "present":
                text += f", e.g. {first['value']!r} (row {first['index']!r})"
        return text


@dataclass(frozen=True)
class DataValidationReport:
    """The result of :func:`~jupyter_mlops.contracts.validate.validate`.

    Attributes
    ----------
    passed : bool
        Every check passed.
    rows : int
        Rows validated.
    rows_failed : int
        Rows that break at least one rule.
    checks : tuple of CheckResult
        Every check, in contract column order.
    extra_columns : tuple of str
        Columns of the data the contract does not name (not an error).
    contract_source : str
        Where the contract came from (a path, a model URI, or ``"DataContract"``).
    """

    passed: bool
    rows: int
    rows_failed: int
    checks: tuple[CheckResult, ...]
    extra_columns: tuple[str, ...] = ()
    contract_source: str = "DataContract"
    elapsed_s: float = field(default=0.0, compare=False)

    @property
    def rows_failed_share(self) -> float:
        """Share of rows that break at least one rule."""
        return self.rows_failed / self.rows if self.rows else 0.0

    @property
    def failures(self) -> list[CheckResult]:
        """The checks that failed."""
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the verdict, counts and every check."""
        from jupyter_mlops.contracts.io import plain

        data = asdict(self)
        data["rows_failed_share"] = self.rows_failed_share
        data["checks"] = [dict(asdict(c), message=c.message) for c in self.checks]
        return plain(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataValidationReport:
        """The inverse of :meth:`to_dict`."""
        keys = set(CheckResult.__dataclass_fields__)
        checks = tuple(
            CheckResult(
                **{k: v for k, v in c.items() if k in keys and k != "examples"},
                examples=tuple(c.get("examples", ())),
            )
            for c in data["checks"]
        )
        return cls(
            passed=bool(data["passed"]),
            rows=int(data["rows"]),
            rows_failed=int(data["rows_failed"]),
            checks=checks,
            extra_columns=tuple(data.get("extra_columns", ())),
            contract_source=str(data.get("contract_source", "DataContract")),
            elapsed_s=float(data.get("elapsed_s", 0.0)),
        )

    def to_frame(self) -> Any:
        """One row per check: column, check, rule, passed, failed, failed_share, example."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "column": c.column,
                    "check": c.check,
                    "rule": c.rule,
                    "passed": c.passed,
                    "failed": c.failed,
                    "failed_share": c.failed_share,
                    "example": c.examples[0]["value"] if c.examples else None,
                }
                for c in self.checks
            ],
            columns=["column", "check", "rule", "passed", "failed", "failed_share", "example"],
        )

    def summary(self) -> str:
        """A few lines: the verdict, then each failed check."""
        verdict = "passed" if self.passed else "FAILED"
        head = (
            f"Data validation {verdict}: {len(self.checks) - len(self.failures)}/"
            f"{len(self.checks)} checks passed; {self.rows_failed:,} of {self.rows:,} rows "
            f"({_pct(self.rows_failed_share)}) break a rule."
        )
        return "\n".join([head, *(f"  {c.message}" for c in self.failures[:20])])

    def __repr__(self) -> str:
        return f"<DataValidationReport {self.summary().splitlines()[0]}>"

    def _repr_html_(self) -> str:
        from jupyter_mlops.contracts.html import report_html

        return report_html(self)


def _pct(share: float) -> str:
    if 0 < share < 0.001:
        return "<0.1%"
    return f"{share * 100:.1f}%"
