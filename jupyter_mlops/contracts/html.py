"""Static HTML of contracts and validation reports (nbconvert, GitHub, VS Code); all escaped."""

from __future__ import annotations

import html
from typing import Any

_STYLE = (
    "<style>.jp-mlops-contract{border-collapse:collapse;font-family:var(--jp-ui-font-family,"
    "sans-serif);font-size:var(--jp-ui-font-size1,13px);color:var(--jp-ui-font-color1,#222)}"
    ".jp-mlops-contract td,.jp-mlops-contract th{padding:2px 8px;text-align:left;"
    "border-bottom:1px solid var(--jp-border-color2,#ddd)}"
    ".jp-mlops-contract th{background:var(--jp-layout-color2,#eee);font-weight:600}"
    ".jp-mlops-contract-title{font-family:var(--jp-ui-font-family,sans-serif);"
    "color:var(--jp-ui-font-color1,#222)}"
    ".jp-mlops-contract .fail{color:var(--jp-error-color1,#c62828);font-weight:600}"
    ".jp-mlops-contract .ok{color:var(--jp-success-color1,#2e7d32)}</style>"
)


def esc(value: Any) -> str:
    """``value`` as escaped HTML text."""
    return html.escape(str(value), quote=True)


def _table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return (
        f"<table class='jp-mlops-contract'><thead><tr>{cells}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def contract_html(contract: Any) -> str:
    """The contract as a table: one row per column, its rules and a line of profile."""
    rows = []
    for column in contract:
        shown = _rule_words(column)
        if column.value_set is not None:
            values = ", ".join(map(str, column.value_set[:8]))
            more = f" … ({len(column.value_set)})" if len(column.value_set) > 8 else ""
            shown.append(f"categories: {values}{more}")
        missing = column.stats.get("missing_share")
        rows.append(
            [
                esc(column.name),
                esc(column.kind),
                esc(column.dtype or ""),
                esc("; ".join(shown)),
                "" if missing is None else esc(f"{missing:.1%}"),
            ]
        )
    title = f"<p class='jp-mlops-contract-title'><b>Data contract</b> — {len(contract)} columns"
    title += f", profiled from {contract.rows:,} rows</p>" if contract.rows is not None else "</p>"
    return _STYLE + title + _table(["column", "kind", "dtype", "rules", "missing"], rows)


def _rule_words(column: Any) -> list[str]:
    """The column's rules in words: ``required``, ``whole numbers``, ``range [18, 79]``..."""
    words = ["whole numbers"] if column.integer else []
    if not column.allow_null:
        words.append("required")
    elif column.max_null_share is not None:
        words.append(f"at most {column.max_null_share:.1%} missing")
    if column.has_range:
        low = "-∞" if column.min_value is None else column.min_value
        high = "∞" if column.max_value is None else column.max_value
        words.append(f"range [{low}, {high}]")
    if column.is_unique:
        words.append("unique")
    if column.is_optional:
        words.append("optional")
    return words


def report_html(report: Any) -> str:
    """The verdict line and one row per check (failed ones first), with examples."""
    ordered = sorted(report.checks, key=lambda c: c.passed)
    rows = [
        [
            esc(c.column),
            esc(c.rule),
            "<span class='ok'>passed</span>" if c.passed else "<span class='fail'>failed</span>",
            esc(f"{c.failed:,}"),
            esc(f"{c.failed_share:.2%}"),
            esc(", ".join(f"{e['value']!r} (row {e['index']!r})" for e in c.examples[:3])),
        ]
        for c in ordered
    ]
    verdict = (
        "<span class='ok'>passed</span>" if report.passed else "<span class='fail'>failed</span>"
    )
    head = (
        f"<p><b>Data validation</b> {verdict} — {esc(report.summary().splitlines()[0])}"
        f"<br><small>contract: {esc(report.contract_source)}</small></p>"
    )
    table = _table(["column", "rule", "result", "failing rows", "share", "examples"], rows)
    return _STYLE + head + table
